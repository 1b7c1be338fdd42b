"""Timeouts: `Timeout` options and the primitive that cancels an operation on expiry.

A timed-out operation is cancelled for real (asyncio cancellation of the task running
it), not abandoned; the caller gets `Err(StepTimeout(name, seconds))`. Time is read
through the run's `Clock`, so `TestClock` makes timeouts instant in tests.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Timeout"]


@dataclass(frozen=True, slots=True)
class Timeout:
    """A step timeout of `seconds`.

    With `per_attempt=True` (the default) each retry attempt gets the full budget; with
    `per_attempt=False` the budget bounds the whole step, waits between attempts included.
    """

    seconds: float
    per_attempt: bool = True

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"a timeout must be positive, got {self.seconds!r}")

    @classmethod
    def coerce(cls, value: float | Timeout) -> Timeout:
        """Accept seconds or a `Timeout`."""
        return value if isinstance(value, Timeout) else cls(float(value))
