"""A Redis connection that runs one registered Lua script: shared by the Redis stores.

The breaker and limiter stores each keep their state in Redis and change it atomically
in a Lua script. This module holds what they share: importing redis-py lazily (with an
ImportError naming the extra), owning or borrowing the client, the server's address with
any password masked for error messages, and the exceptions that mean "Redis failed".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["LuaScript", "ScriptConnection", "connect_script", "mask_password"]


class LuaScript(Protocol):
    """A registered script: `await script(keys, args)` runs it with EVALSHA."""

    async def __call__(self, keys: list[str], args: list[str]) -> object: ...


@dataclass(frozen=True)
class ScriptConnection:
    """A client, the script registered on it, and how to describe and close it."""

    client: Redis
    script: LuaScript
    owns_client: bool
    where: str
    errors: tuple[type[Exception], ...]

    async def aclose(self) -> None:
        """Close the client if it was created here from a URL."""
        if self.owns_client:
            await self.client.aclose()


def connect_script(url_or_client: str | Redis, source: str, *, owner: str) -> ScriptConnection:
    """Connect (a `redis://` URL) or borrow (a `redis.asyncio.Redis`) and register `source`.

    `owner` names the class in the ImportError raised when redis-py is not installed.
    """
    try:
        import redis.asyncio.utils as redis_utils
        import redis.exceptions as redis_errors
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{owner} needs the `redis` extra: pip install 'resultflow[redis]'"
        ) from exc
    if isinstance(url_or_client, str):
        client: Redis = redis_utils.from_url(url_or_client)
        owns, where = True, mask_password(url_or_client)
    else:
        client, owns, where = url_or_client, False, repr(url_or_client)
    script = cast("LuaScript", client.register_script(source))
    return ScriptConnection(client, script, owns, where, (redis_errors.RedisError, OSError))


def mask_password(url: str) -> str:
    """The URL with any password replaced by `***`, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
