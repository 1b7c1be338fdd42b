"""`RedisLimiterStore`: one token bucket shared by many processes through Redis.

Needs the `redis` extra (`pip install 'resultflow[redis]'`); redis-py is imported when
a store is made, so importing this module never fails.

Design:

- The bucket of a limiter named `name` is one hash, `<prefix><name>`, with fields
  `tokens` and `at` (when they were counted). Refilling and taking is ONE Lua script
  (registered with `register_script`, so it runs as EVALSHA): read the hash, add
  `rate * elapsed` tokens up to the capacity, take one if there is one, write back.
  Redis runs a script atomically, so processes can never both take the last token.
- Time is Redis's own clock (the `TIME` command inside the script), not the
  processes' clocks: machines with skewed clocks still share one exact bucket, and
  a bucket never admits more than `burst + rate * elapsed` calls in total. The
  limiter's `clock` is then used only to sleep between polls; drive a Redis-backed
  limiter with the real clock (a `TestClock` would make waiters poll in a tight loop).
- A missing key is a full bucket; the key expires once an idle bucket would be full
  again (`burst / rate` s, plus a second), so idle limiters leave nothing behind.
- With the wait strategy, only the first waiter of each process polls Redis, sleeping
  the `retry_after` the script returns; the others queue behind it in arrival order.
  Across processes there is no shared queue: after a refill, the first poll wins.
- `reset()` is recorded locally and applied inside the next script call of this store
  (the script refills before it takes), so it needs no I/O of its own.
- A Redis error becomes `LimiterStoreError` naming the limiter and the server.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

from resultflow.reliability._limiters.store import BucketSpec, LimiterStoreError
from resultflow.reliability._redis_script import connect_script

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisLimiterStore"]


class RedisLimiterStore:
    """Keeps token buckets in Redis so that same-named limiters in many processes share one.

    `url_or_client` is a `redis://` URL (the store then owns the client; close it with
    `await store.aclose()` or `async with store:`) or a `redis.asyncio.Redis` client you
    manage. `prefix` starts every key.
    """

    def __init__(self, url_or_client: str | Redis, prefix: str = "resultflow:limiter:") -> None:
        self._redis = connect_script(url_or_client, _SCRIPT, owner="RedisLimiterStore")
        self._prefix = prefix
        # key -> (tokens, the caller's `now` when the script reported them)
        self._seen: dict[str, tuple[float, float]] = {}
        self._refill_pending: set[str] = set()

    @property
    def prefix(self) -> str:
        """The prefix of every key this store writes."""
        return self._prefix

    def key_for(self, key: str) -> str:
        """The Redis key holding the bucket of the limiter named `key`."""
        return f"{self._prefix}{key}"

    async def take(self, key: str, spec: BucketSpec, now: float) -> float:
        """Atomically take one token: 0.0 when taken, else seconds until one is available."""
        retry_after, _ = await self._run(key, spec, now, cost=1)
        return retry_after

    async def tokens(self, key: str, spec: BucketSpec, now: float) -> float:
        """Read the shared bucket's tokens (one round trip), taking none."""
        _, tokens = await self._run(key, spec, now, cost=0)
        return tokens

    def refill(self, key: str, spec: BucketSpec, now: float) -> None:
        """Fill the shared bucket; applied atomically by this store's next script call."""
        self._refill_pending.add(key)

    def peek(self, key: str, spec: BucketSpec, now: float) -> float:
        """Estimate the tokens from the last reply, refilled at the rate since (no I/O)."""
        seen = self._seen.get(key)
        if key in self._refill_pending or seen is None:
            return spec.capacity
        tokens, seen_at = seen
        return min(spec.capacity, tokens + max(0.0, now - seen_at) * spec.refill_rate)

    async def aclose(self) -> None:
        """Close the Redis client if this store created it from a URL."""
        await self._redis.aclose()

    async def __aenter__(self) -> RedisLimiterStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RedisLimiterStore({self._redis.where!r}, prefix={self._prefix!r})"

    # -- internals ------------------------------------------------------------------
    async def _run(
        self, key: str, spec: BucketSpec, now: float, *, cost: int
    ) -> tuple[float, float]:
        # The refill is claimed before the round trip, so that of several calls in flight
        # only one carries it (a second refill would return the first call's token).
        refill = key in self._refill_pending
        self._refill_pending.discard(key)
        ttl_ms = math.ceil(spec.capacity / spec.refill_rate * 1000) + 1000
        args = [
            repr(float(spec.capacity)),
            repr(float(spec.refill_rate)),
            str(cost),
            "1" if refill else "0",
            str(ttl_ms),
        ]
        try:
            raw = await self._redis.script(keys=[self.key_for(key)], args=args)
        except BaseException as exc:
            if refill:  # not known to be applied: the next call carries it again
                self._refill_pending.add(key)
            if isinstance(exc, self._redis.errors):
                raise LimiterStoreError(
                    f"limiter {key!r}: Redis store at {self._redis.where} failed: {exc}"
                ) from exc
            raise
        retry_after, tokens = _parse(raw)
        self._seen[key] = (tokens, now)
        return retry_after, tokens


def _parse(raw: object) -> tuple[float, float]:
    """Decode the script's reply `{retry_after, tokens}` (numbers as strings)."""
    if not isinstance(raw, list):
        raise LimiterStoreError(f"unexpected reply from the limiter script: {raw!r}")
    items = cast("list[object]", raw)
    if len(items) != 2 or not all(isinstance(item, bytes | str) for item in items):
        raise LimiterStoreError(f"unexpected reply from the limiter script: {raw!r}")
    retry_after, tokens = (float(cast("bytes | str", item)) for item in items)
    return retry_after, tokens


# Refill-and-take on Redis time. Numbers go back as strings: a Lua number in a reply
# would be truncated to an integer.
_SCRIPT = """
local key = KEYS[1]
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local refill = ARGV[4] == '1'
local ttl_ms = tonumber(ARGV[5])

local function fmt(x) return string.format('%.17g', x) end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000

local tokens = capacity
if not refill then
  local state = redis.call('HMGET', key, 'tokens', 'at')
  if state[1] then
    tokens = tonumber(state[1])
    local elapsed = now - tonumber(state[2])
    if elapsed > 0 then
      tokens = math.min(capacity, tokens + elapsed * rate)
    end
  end
end

local retry_after = 0
if cost > 0 then
  if tokens + 1e-9 >= cost then
    tokens = math.max(0, tokens - cost)
  else
    retry_after = (cost - tokens) / rate
  end
end

if cost > 0 or refill then
  redis.call('HSET', key, 'tokens', fmt(tokens), 'at', fmt(now))
  redis.call('PEXPIRE', key, ttl_ms)
end
return {fmt(retry_after), fmt(tokens)}
"""
