"""`RedisKV`: a `KVStore` on Redis (redis-py asyncio).

Needs the `redis` extra (`pip install resultflow[redis]`). Every key is stored as
`prefix + key`, so several stores (and tests) share one database without colliding.
TTLs are Redis's own (`SET ... PX`), so expiry needs no clock here; `scan` uses
`SCAN MATCH` with the prefix's glob characters escaped, so a prefix such as `"a*"`
matches only keys that really start with `a*`. `compare_and_set` is a small Lua script
(`GET`, compare, `SET ... PX`), which Redis runs atomically.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar, cast

try:
    from redis import exceptions as redis_errors
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.client import NEVER_DECODE
except ImportError as exc:  # pragma: no cover - exercised by a test that hides redis
    raise ImportError("RedisKV needs redis-py: pip install resultflow[redis]") from exc

from resultflow.persistence._kv import (
    CorruptEntryError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    check_key,
    check_ttl,
    check_value,
)

__all__ = ["RedisKV", "glob_escape"]

_BACKEND = "redis"
_SCAN_COUNT = 500
_Out = TypeVar("_Out")

# KEYS[1]: the key. ARGV: "1" when the key must be missing, else "0"; the expected value;
# the new value; the TTL in milliseconds ("" for none). Returns 1 when it set the key.
_COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[4] == '' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
return 1
"""

_Script = Callable[..., Awaitable[object]]


class RedisKV:
    """A `KVStore` on Redis, every key stored under `prefix` (default "resultflow:").

    Args:
        url_or_client: A URL such as "redis://localhost:6379/0" (the client made from
            it is closed by `close()`) or a `redis.asyncio.Redis` client (shared, never
            closed here; `decode_responses` may be on or off).
        prefix: The start of every stored key. The Redis breaker and limiter stores
            default to `resultflow-breaker:` and `resultflow-limiter:`, which do not
            start with the default, so KV keys and guard keys never meet.
        connect_timeout: For a URL: seconds to connect and to wait for a free
            connection of the pool.
        max_connections: For a URL: the most connections of the client's pool.

    Raises:
        TypeError: `url_or_client` is neither a URL nor a `redis.asyncio.Redis`.
    """

    backend = _BACKEND

    def __init__(
        self,
        url_or_client: str | Redis,
        prefix: str = "resultflow:",
        *,
        connect_timeout: float = 5.0,
        max_connections: int = 20,
    ) -> None:
        self.prefix = check_key(prefix)
        given = cast("object", url_or_client)
        if isinstance(given, str):
            # A blocking pool: a burst of calls waits for a free connection (up to
            # `connect_timeout`) instead of failing with "Too many connections".
            pool = BlockingConnectionPool.from_url(  # pyright: ignore[reportUnknownMemberType]
                given,
                max_connections=max_connections,
                timeout=connect_timeout,
                socket_connect_timeout=connect_timeout,
                decode_responses=False,
            )
            self._client: Redis = Redis.from_pool(pool)
            self._owns_client = True
        elif isinstance(given, Redis):
            self._client = given
            self._owns_client = False
        else:
            raise TypeError(
                f"RedisKV needs a URL or a redis.asyncio.Redis, not {type(given).__name__}"
            )
        self._closed = False
        self._compare_and_set = cast(
            "_Script",
            self._client.register_script(_COMPARE_AND_SET),
        )

    @property
    def client(self) -> Redis:
        """The redis-py client in use."""
        return self._client

    async def get(self, key: str) -> str | None:
        """The value under `key`, or None when missing or expired."""
        name = self._name(key)
        raw = await _call(self._raw("GET", name))
        if raw is None:
            return None
        try:
            return _text(raw)
        except UnicodeDecodeError as exc:
            raise CorruptEntryError(_BACKEND, key, f"value is not UTF-8: {exc}") from exc

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store `value` under `key`, expiring after `ttl` seconds (Redis `PX`) when given."""
        name = self._name(key)
        check_value(value)
        milliseconds = _milliseconds(check_ttl(ttl))
        await _call(self._client.set(name, value.encode("utf-8"), px=milliseconds))

    async def delete(self, key: str) -> None:
        """Forget `key`."""
        name = self._name(key)
        await _call(self._client.delete(name))

    async def exists(self, key: str) -> bool:
        """True when `key` holds a live value."""
        name = self._name(key)
        count = await _call(self._client.exists(name))
        return count > 0

    async def compare_and_set(
        self, key: str, expected: str | None, value: str, ttl: float | None = None
    ) -> bool:
        """Set `key` to `value` if it holds exactly `expected` (None: missing or expired).

        A Lua script, so Redis runs the comparison and the write as one step.
        """
        name = self._name(key)
        if expected is not None:
            check_value(expected)
        check_value(value)
        milliseconds = _milliseconds(check_ttl(ttl))
        args = [
            b"1" if expected is None else b"0",
            b"" if expected is None else expected.encode("utf-8"),
            value.encode("utf-8"),
            b"" if milliseconds is None else str(milliseconds).encode("ascii"),
        ]
        done = await _call(self._compare_and_set(keys=[name], args=args))
        return done == 1

    async def scan(self, prefix: str = "") -> AsyncIterator[str]:
        """Iterate over the live keys starting with `prefix` (each key once)."""
        self._name(prefix)  # checks the prefix, and that the store is open
        pattern = glob_escape(self.prefix + prefix) + "*"
        seen: set[str] = set()  # SCAN may return a key more than once
        cursor: int = 0
        while True:
            page = self._raw("SCAN", cursor, "MATCH", pattern.encode("utf-8"), "COUNT", _SCAN_COUNT)
            reply = await _call(page)
            cursor, names = _scan_reply(reply)
            for raw in names:
                try:
                    key = _text(raw)[len(self.prefix) :]
                except UnicodeDecodeError:
                    continue  # not UTF-8: written by something else, not a key of ours
                if key not in seen:
                    seen.add(key)
                    yield key
            if cursor == 0:
                return

    async def close(self) -> None:
        """Close the client this store made from a URL; a caller's client stays open."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"RedisKV(prefix={self.prefix!r})"

    def _raw(self, *command: object) -> Awaitable[object]:
        """Send `command` and read the reply as bytes, even on a `decode_responses` client.

        A caller's client may decode replies; a value or key that is not UTF-8 would
        then fail inside redis-py instead of being reported (`get`) or skipped (`scan`).
        """
        execute = cast(
            "Callable[..., Awaitable[object]]",
            self._client.execute_command,  # pyright: ignore[reportUnknownMemberType]
        )
        return execute(*command, **{NEVER_DECODE: True})

    def _name(self, key: str) -> bytes:
        if self._closed:
            raise StoreClosedError(_BACKEND)
        return (self.prefix + check_key(key)).encode("utf-8")


async def _call(operation: Awaitable[_Out]) -> _Out:
    """Await a redis-py call, turning its exceptions into `StoreError`s."""
    try:
        return await operation
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
        raise StoreUnavailableError(_BACKEND, f"{type(exc).__name__}: {exc}") from exc
    except redis_errors.RedisError as exc:
        raise StoreError(_BACKEND, f"{type(exc).__name__}: {exc}") from exc


def _milliseconds(lifetime: float | None) -> int | None:
    """A TTL in whole milliseconds for `PX` (at least 1), or None for no expiry."""
    return None if lifetime is None else max(1, math.ceil(lifetime * 1000))


def glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters (`*`, `?`, `[`, `]`, backslash) in `text`."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def _scan_reply(reply: object) -> tuple[int, list[object]]:
    """The next cursor and the key names of a SCAN reply."""
    if isinstance(reply, list | tuple):
        parts = cast("list[object] | tuple[object, ...]", reply)
        if len(parts) == 2 and isinstance(parts[1], list):
            cursor = parts[0]  # redis-py's SCAN callback already made it an int
            number = cursor if isinstance(cursor, int) else int(_text(cursor))
            return number, cast("list[object]", parts[1])
    raise StoreError(_BACKEND, f"unexpected SCAN reply {reply!r:.80}")


def _text(raw: object) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8")
    if isinstance(raw, str):
        return raw
    raise StoreError(_BACKEND, f"unexpected reply type {type(raw).__name__}")
