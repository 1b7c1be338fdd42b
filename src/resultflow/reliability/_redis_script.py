"""`RedisScriptStore`: the shell the Redis breaker and limiter stores share.

Each of those stores keeps its state in Redis and changes it atomically in one Lua
script. Everything around the script is the same for both, so it is written once here:
importing redis-py lazily (an ImportError naming the extra), owning or borrowing the
client, a key prefix of its own, the server's address with any password masked, the
conversion of every Redis failure and every malformed reply into the store's own typed
error, the answer of a script that found garbage in its keys, and a cap on key
lifetimes.

Conventions of the scripts run here:

- every number goes in and out as a string (a Lua number in a reply would be
  truncated to an integer);
- a script that finds its keys unreadable (a wrong type, a field that is not a finite
  number, an unknown state — hand-edited or written by something else) deletes them,
  which is the state of a new breaker or bucket, and returns `{"corrupt", why}`; the
  store then raises its typed error, so the garbage is reported once and never kept.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar, Protocol, Self, cast
from urllib.parse import urlsplit, urlunsplit

from resultflow.errors import BreakerStoreError, LimiterStoreError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "CORRUPT",
    "LUA_HELPERS",
    "MAX_TTL_MS",
    "LuaScript",
    "RedisScriptStore",
    "mask_password",
    "ttl_milliseconds",
]

# The first item of a script's reply when it found (and deleted) garbage.
CORRUPT = "corrupt"

# Key lifetimes are capped at ten years: Redis refuses an expiry past its 64-bit
# millisecond clock, and a configuration with a huge window would otherwise make every
# call fail. An idle key lives at most that long, which no breaker or bucket notices.
MAX_TTL_MS = 10 * 365 * 24 * 3600 * 1000

# Lua shared by the scripts: number checks, and the garbage answer.
LUA_HELPERS = """
local function fmt(x) return string.format('%.17g', x) end
local function finite(x)
  return type(x) == 'number' and x == x and x ~= math.huge and x ~= -math.huge
end
local function count(x)
  return finite(x) and x >= 0 and x == math.floor(x)
end
local function of_type(key, wanted)
  local found = redis.call('TYPE', key)['ok']
  return found == 'none' or found == wanted
end
local function corrupt(why, ...)
  redis.call('DEL', ...)
  return {'corrupt', why}
end
"""


class LuaScript(Protocol):
    """A registered script: `await script(keys, args)` runs it with EVALSHA."""

    async def __call__(self, keys: list[str], args: list[str]) -> object: ...


class RedisScriptStore:
    """A Redis client (owned or borrowed), one registered Lua script and a key prefix.

    Subclasses set `kind` ("breaker", "limiter") and `error` (their typed store
    error), pass their script's `source` and run it with `_eval`.
    """

    kind: ClassVar[str]
    error: ClassVar[type[BreakerStoreError] | type[LimiterStoreError]]

    def __init__(self, url_or_client: str | Redis, prefix: str, source: str) -> None:
        owner = type(self).__name__
        if not isinstance(cast("object", prefix), str) or not prefix:
            raise ValueError(f"{owner} needs a non-empty str prefix, got {prefix!r}")
        try:
            import redis.asyncio as redis_asyncio
            import redis.asyncio.utils as redis_utils
            import redis.exceptions as redis_errors
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                f"{owner} needs the `redis` extra: pip install 'resultflow[redis]'"
            ) from exc
        given = cast("object", url_or_client)
        if isinstance(given, str):
            self._client: Redis = redis_utils.from_url(given)
            self._owns_client, self._where = True, mask_password(given)
        elif isinstance(given, redis_asyncio.Redis):
            self._client, self._owns_client, self._where = given, False, repr(given)
        else:
            raise TypeError(f"{owner} needs a redis:// URL or a redis.asyncio.Redis client")
        self._prefix = prefix
        self._script = cast("LuaScript", self._client.register_script(source))
        self._failures: tuple[type[Exception], ...] = (redis_errors.RedisError, OSError)

    @property
    def prefix(self) -> str:
        """The prefix of every key this store writes."""
        return self._prefix

    @property
    def client(self) -> Redis:
        """The redis-py client in use."""
        return self._client

    async def aclose(self) -> None:
        """Close the Redis client if this store created it from a URL."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r}, prefix={self._prefix!r})"

    def _fail(self, name: str, detail: str) -> BreakerStoreError | LimiterStoreError:
        """The typed error of this store about the breaker or limiter `name`."""
        message = f"{self.kind} {name!r}: Redis store at {self._where} {detail}"
        return self.error(message, backend="redis")

    async def _eval(self, name: str, op: str, keys: list[str], args: list[str]) -> list[str]:
        """Run the script; its reply as strings, or the store's typed error.

        Raises the typed error when Redis fails, when the reply is not a list, and when
        the script reports garbage (which it has deleted).
        """
        try:
            raw = await self._script(keys=keys, args=args)
        except self._failures as exc:
            raise self._fail(name, f"failed during {op}: {exc}") from exc
        if not isinstance(raw, list):
            raise self._fail(name, f"sent an unexpected reply during {op}: {raw!r:.200}")
        items = [_text(item) for item in cast("list[object]", raw)]
        if items[:1] == [CORRUPT]:
            why = items[1] if len(items) > 1 else "unreadable"
            raise self._fail(
                name,
                f"held unreadable {self.kind} state ({why}); it was deleted, so the "
                f"{self.kind} starts afresh",
            )
        return items

    async def _delete(self, name: str, keys: list[str]) -> None:
        try:
            await self._client.delete(*keys)
        except self._failures as exc:
            raise self._fail(name, f"failed during delete: {exc}") from exc


def ttl_milliseconds(seconds: float) -> int:
    """`seconds` as a key lifetime in whole milliseconds: at least 1, at most `MAX_TTL_MS`."""
    if not seconds < MAX_TTL_MS / 1000:  # also NaN and infinity
        return MAX_TTL_MS
    return max(1, math.ceil(seconds * 1000))


def mask_password(url: str) -> str:
    """The URL with any password replaced by `***`, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _text(item: object) -> str:
    if isinstance(item, bytes):
        return item.decode("utf-8", "replace")
    return str(item)
