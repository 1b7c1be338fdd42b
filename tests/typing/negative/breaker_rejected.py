"""Circuit breaker usage that mypy and pyright must reject (each marked line)."""

from __future__ import annotations

from resultflow.reliability._breaker import CircuitBreaker, breaker_presets
from resultflow.errors import TaggedError
from resultflow.result import Err, Ok


class NotFound(TaggedError):
    id: str


async def fetch_user() -> Ok[str] | Err[NotFound]:
    return Ok("ada")


async def count() -> int:
    return 1


def wrong_callback(count: int) -> None:
    print(count)


async def misuse() -> None:
    breaker = CircuitBreaker("users")
    narrow: Ok[str] | Err[NotFound] = await breaker.call_result(fetch_user)  # expect-error
    await breaker.call_result(count)  # expect-error
    breaker_presets.critical("payments", failure_threshold=10)  # expect-error
    CircuitBreaker("users", on_state_change=wrong_callback)  # expect-error
    print(narrow)
