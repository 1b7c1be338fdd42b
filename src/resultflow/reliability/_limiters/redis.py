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
  again (`burst / rate` s, plus a second; at most ten years), so idle limiters leave
  nothing behind. The default prefix `resultflow-limiter:` shares no keys with
  `RedisKV` (`resultflow:`) or `RedisBreakerStore` (`resultflow-breaker:`).
- With the wait strategy, only the first waiter of each process polls Redis, sleeping
  the `retry_after` the script returns; the others queue behind it in arrival order.
  Across processes there is no shared queue: after a refill, the first poll wins.
- `reset()` is recorded locally and applied inside the next script call of this store
  (the script refills before it takes), so it needs no I/O of its own.
- A Redis error becomes `LimiterStoreError` naming the limiter and the server.
- Garbage in a bucket (a key of the wrong type, `tokens` that is not a finite number
  of at least 0, a time `at` that is not finite or lies more than a minute ahead of
  Redis's clock) is never acted on: the script deletes the key (a new, full bucket)
  and the call raises `LimiterStoreError`. A wait it asks for is capped by the key's
  remaining lifetime, after which the bucket is full anyway. The connection, error and
  garbage handling are `RedisScriptStore`'s, shared with the breaker store.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from resultflow.reliability._limiters.store import BucketSpec, LimiterStoreError
from resultflow.reliability._redis_script import LUA_HELPERS, RedisScriptStore, ttl_milliseconds

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisLimiterStore"]


class RedisLimiterStore(RedisScriptStore):
    """Keeps token buckets in Redis so that same-named limiters in many processes share one.

    Args:
        url_or_client: A `redis://` URL (the store then owns the client; close it with
            `await store.aclose()` or `async with store:`) or a `redis.asyncio.Redis`
            client you manage.
        prefix: The start of every key; the default shares no key with `RedisKV` or
            `RedisBreakerStore` defaults.

    Raises:
        ValueError: `prefix` is empty.
        ImportError: redis-py is not installed (names the `redis` extra).
    """

    kind = "limiter"
    error = LimiterStoreError

    def __init__(self, url_or_client: str | Redis, prefix: str = "resultflow-limiter:") -> None:
        super().__init__(url_or_client, prefix, _SCRIPT)
        # key -> (tokens, the caller's `now` when the script reported them)
        self._seen: dict[str, tuple[float, float]] = {}
        self._refill_pending: set[str] = set()

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

    # -- internals ------------------------------------------------------------------
    async def _run(
        self, key: str, spec: BucketSpec, now: float, *, cost: int
    ) -> tuple[float, float]:
        # The refill is claimed before the round trip, so that of several calls in flight
        # only one carries it (a second refill would return the first call's token).
        refill = key in self._refill_pending
        self._refill_pending.discard(key)
        ttl_ms = ttl_milliseconds(spec.capacity / spec.refill_rate + 1)
        args = [
            repr(float(spec.capacity)),
            repr(float(spec.refill_rate)),
            str(cost),
            "1" if refill else "0",
            str(ttl_ms),
        ]
        try:
            items = await self._eval(key, "take" if cost else "read", [self.key_for(key)], args)
        except BaseException:
            if refill:  # not known to be applied: the next call carries it again
                self._refill_pending.add(key)
            raise
        try:
            retry_after, tokens = _parse(items)
        except ValueError as exc:
            raise self._fail(key, f"sent an unreadable reply: {exc}") from exc
        self._seen[key] = (tokens, now)
        return retry_after, tokens


def _parse(items: list[str]) -> tuple[float, float]:
    """Decode the script's reply `{retry_after, tokens}` (numbers as strings)."""
    if len(items) != 2:
        raise ValueError(f"{len(items)} items where 2 were expected")
    retry_after, tokens = float(items[0]), float(items[1])
    if not (0 <= retry_after < math.inf and 0 <= tokens < math.inf):
        raise ValueError(f"retry_after {retry_after!r} and tokens {tokens!r} out of range")
    return retry_after, tokens


# Refill-and-take on Redis time. Numbers go back as strings: a Lua number in a reply
# would be truncated to an integer.
_SCRIPT = (
    """
local key = KEYS[1]
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local refill = ARGV[4] == '1'
local ttl_ms = tonumber(ARGV[5])

__HELPERS__
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000

-- Garbage (hand-edited, or written by something else) is deleted, never acted on.
if not of_type(key, 'hash') then
  return corrupt('a key of the wrong type', key)
end
local tokens = capacity
local state = redis.call('HMGET', key, 'tokens', 'at')
if state[1] or state[2] then
  local stored, at = tonumber(state[1]), tonumber(state[2])
  if not (finite(stored) and stored >= 0 and finite(at) and at <= now + 60) then
    return corrupt('tokens or time out of range', key)
  end
  if not refill then
    tokens = math.min(capacity, stored)
    local elapsed = now - at
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

-- A refusal writes nothing: the stored count and time still say the same.
if (cost > 0 and retry_after == 0) or refill then
  redis.call('HSET', key, 'tokens', fmt(tokens), 'at', fmt(now))
  redis.call('PEXPIRE', key, ttl_ms)
end
-- Once the key expires the bucket is full: never ask for a longer wait.
local left = redis.call('PTTL', key)
if left >= 0 and retry_after > left / 1000 then
  retry_after = left / 1000
end
return {fmt(retry_after), fmt(tokens)}
"""
).replace("__HELPERS__", LUA_HELPERS)
