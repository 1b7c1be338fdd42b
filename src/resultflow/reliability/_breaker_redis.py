"""`RedisBreakerStore`: one circuit breaker shared by many processes through Redis.

Needs the `redis` extra (`pip install 'resultflow[redis]'`); redis-py is imported when
a store is made, so importing this module never fails.

Design:

- Every operation (admit, record, release, load, reset) is ONE Lua script run
  (registered with `register_script`, so it goes as EVALSHA), so state transitions,
  failure recording and half-open trial slots are atomic across processes: two
  processes can never both take the last trial slot.
- Keys, for a breaker `name` (the `{name}` hash tag keeps them in one cluster slot):
  `<prefix>{name}:state` (hash: state, opened_at, success_count, half_open_successes,
  generation), `<prefix>{name}:failures` (sorted set of failure times, at most
  `failure_threshold` kept) and `<prefix>{name}:trials` (sorted set of trial tokens
  scored by the end of their lease). Keys expire after
  `2 * max(window, reset_timeout) + 60` s without writes (at most ten years), which
  returns an idle breaker to CLOSED. The default prefix `resultflow-breaker:` shares
  no keys with `RedisKV` (`resultflow:`) or `RedisLimiterStore` (`resultflow-limiter:`).
- Time is the breaker's `clock.now()` (wall-clock seconds) sent with each call, not
  Redis TIME: the same state machine then runs identically against `TestClock` in
  tests. Processes sharing a breaker need roughly synchronized clocks (NTP); a skew
  of d seconds shifts the window and the reopen time by about d.
- A Redis error becomes `BreakerStoreError` naming the breaker and the server.
- Garbage in the keys (an unknown state, a time that is not a finite number or lies
  further ahead than the breaker's own timeouts, a count that is not a whole number,
  a key of the wrong type) is never acted on: the script deletes the keys (the breaker
  is then a new, CLOSED one) and the call raises `BreakerStoreError`. A refused
  call's `retry_after` is capped by the state key's remaining lifetime, after which
  the breaker is CLOSED anyway. The connection, error and garbage handling are
  `RedisScriptStore`'s, shared with the limiter store.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from resultflow.reliability._breaker_store import (
    Admission,
    BreakerConfig,
    BreakerRecord,
    BreakerStoreError,
    CircuitState,
    Ticket,
    Transition,
    Update,
)
from resultflow.reliability._redis_script import (
    LUA_HELPERS,
    RedisScriptStore,
    ttl_milliseconds,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisBreakerStore"]


class RedisBreakerStore(RedisScriptStore):
    """Keeps breaker state in Redis so that same-named breakers in many processes act as one.

    Args:
        url_or_client: A `redis://` URL (the store then owns the client; close it with
            `await store.aclose()` or `async with store:`) or a `redis.asyncio.Redis`
            client you manage.
        prefix: The start of every key; the default shares no key with `RedisKV` or
            `RedisLimiterStore` defaults.

    Raises:
        ValueError: `prefix` is empty.
        ImportError: redis-py is not installed (names the `redis` extra).
    """

    kind = "breaker"
    error = BreakerStoreError

    def __init__(self, url_or_client: str | Redis, prefix: str = "resultflow-breaker:") -> None:
        super().__init__(url_or_client, prefix, _SCRIPT)
        self._seen: dict[str, BreakerRecord] = {}

    def keys_for(self, name: str) -> list[str]:
        """The Redis keys holding the breaker `name` (state, failures, trials)."""
        base = f"{self._prefix}{{{name}}}"
        return [f"{base}:state", f"{base}:failures", f"{base}:trials"]

    async def admit(self, name: str, config: BreakerConfig, now: float, token: str) -> Admission:
        """Atomically admit a call (taking a trial slot when half-open) or refuse it."""
        reply = await self._run("admit", name, config, now, token=token)
        ticket = None
        if reply.admitted:
            ticket = Ticket(trial=reply.trial, generation=reply.record.generation, token=token)
        return Admission(ticket, reply.retry_after, reply.record, reply.transitions)

    async def record(
        self, name: str, config: BreakerConfig, now: float, ticket: Ticket, *, failed: bool
    ) -> Update:
        """Atomically record an outcome and apply the transition it causes."""
        reply = await self._run("record", name, config, now, ticket=ticket, failed=failed)
        return Update(reply.record, reply.transitions)

    async def release(self, name: str, config: BreakerConfig, now: float, ticket: Ticket) -> Update:
        """Free a cancelled trial's slot."""
        reply = await self._run("release", name, config, now, ticket=ticket)
        return Update(reply.record, reply.transitions)

    async def load(self, name: str, config: BreakerConfig, now: float) -> BreakerRecord:
        """Read the shared record."""
        return (await self._run("load", name, config, now)).record

    async def reset(self, name: str, config: BreakerConfig, now: float) -> Update:
        """Close the shared circuit for every process."""
        reply = await self._run("reset", name, config, now)
        return Update(reply.record, reply.transitions)

    async def delete(self, name: str) -> None:
        """Remove every key of the breaker `name` (for clean-up; `reset` keeps the keys)."""
        await self._delete(name, self.keys_for(name))
        self._seen.pop(name, None)

    def peek(self, name: str) -> BreakerRecord | None:
        """The last record this store read or wrote for `name` (no I/O)."""
        return self._seen.get(name)

    # -- internals ------------------------------------------------------------------
    async def _run(
        self,
        op: str,
        name: str,
        config: BreakerConfig,
        now: float,
        *,
        token: str = "",
        ticket: Ticket | None = None,
        failed: bool = False,
    ) -> _Reply:
        ttl_ms = ttl_milliseconds(2 * max(config.window, config.reset_timeout) + 60)
        args = [
            op,
            repr(float(now)),
            str(config.failure_threshold),
            repr(float(config.reset_timeout)),
            str(config.half_open_max),
            str(config.success_threshold),
            repr(float(config.window)),
            str(ttl_ms),
            "1" if ticket is not None and ticket.trial else "0",
            str(ticket.generation if ticket is not None else -1),
            ticket.token if ticket is not None else token,
            "1" if failed else "0",
        ]
        items = await self._eval(name, op, self.keys_for(name), args)
        try:
            reply = _parse(items)
        except (ValueError, IndexError, OverflowError) as exc:
            raise self._fail(name, f"sent an unreadable reply during {op}: {exc}") from exc
        self._seen[name] = reply.record
        return reply


class _Reply:
    __slots__ = ("admitted", "record", "retry_after", "transitions", "trial")

    def __init__(
        self,
        *,
        admitted: bool,
        trial: bool,
        retry_after: float,
        record: BreakerRecord,
        transitions: tuple[Transition, ...],
    ) -> None:
        self.admitted = admitted
        self.trial = trial
        self.retry_after = retry_after
        self.record = record
        self.transitions = transitions


def _parse(items: list[str]) -> _Reply:
    """Decode the script's flat reply (see the `return` at the end of `_SCRIPT`)."""
    if len(items) < 10:
        raise ValueError(f"{len(items)} items where at least 10 were expected")
    transitions = tuple(_transition(pair) for pair in items[9].split(",") if pair)
    record = BreakerRecord(
        state=CircuitState(items[3]),
        opened_at=_finite(items[4]),
        failure_times=tuple(_finite(t) for t in items[10:]),
        success_count=int(items[5]),
        half_open_successes=int(items[6]),
        trials_active=int(items[7]),
        generation=int(items[8]),
    )
    return _Reply(
        admitted=items[0] == "1",
        trial=items[1] == "1",
        retry_after=_finite(items[2]),
        record=record,
        transitions=transitions,
    )


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number")
    return number


def _transition(pair: str) -> Transition:
    old, new = pair.split(">")
    return CircuitState(old), CircuitState(new)


# The state machine of `resultflow.breaker_store`, in Lua. Numbers go back as strings
# (a Lua number in a reply would be truncated to an integer).
_SCRIPT = (
    """
local state_key, failures_key, trials_key = KEYS[1], KEYS[2], KEYS[3]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local reset_timeout = tonumber(ARGV[4])
local half_open_max = tonumber(ARGV[5])
local success_threshold = tonumber(ARGV[6])
local window = tonumber(ARGV[7])
local ttl_ms = tonumber(ARGV[8])
local ticket_trial = ARGV[9] == '1'
local ticket_generation = tonumber(ARGV[10])
local token = ARGV[11]
local failed = ARGV[12] == '1'
__HELPERS__
-- Garbage (hand-edited, or written by something else) is deleted, never acted on.
if not (of_type(state_key, 'hash') and of_type(failures_key, 'zset')
    and of_type(trials_key, 'zset')) then
  return corrupt('a key of the wrong type', state_key, failures_key, trials_key)
end
local f = redis.call('HMGET', state_key, 'state', 'opened_at', 'success_count',
  'half_open_successes', 'generation')
local state = f[1] or 'closed'
local opened_at = tonumber(f[2]) or 0
local success_count = tonumber(f[3]) or 0
local half_open_successes = tonumber(f[4]) or 0
local generation = tonumber(f[5]) or 0
local transitions = {}
local admitted, trial, retry_after = 0, 0, 0
local dirty = false

-- Times may run ahead of `now` by a clock skew, but not by more than the timeouts.
if state ~= 'closed' and state ~= 'open' and state ~= 'half_open' then
  return corrupt('unknown state', state_key, failures_key, trials_key)
end
if (f[2] and not finite(tonumber(f[2]))) or opened_at > now + reset_timeout then
  return corrupt('opened_at is not a time', state_key, failures_key, trials_key)
end
if not (count(success_count) and count(half_open_successes) and count(generation))
    or (f[3] and not tonumber(f[3])) or (f[4] and not tonumber(f[4]))
    or (f[5] and not tonumber(f[5])) then
  return corrupt('a count is not a whole number', state_key, failures_key, trials_key)
end
if #redis.call('ZRANGEBYSCORE', failures_key, '(' .. fmt(now + window), '+inf', 'LIMIT', 0, 1) > 0
    or #redis.call('ZRANGEBYSCORE', trials_key, '(' .. fmt(now + 2 * reset_timeout), '+inf',
      'LIMIT', 0, 1) > 0 then
  return corrupt('a failure or trial time lies in the future', state_key, failures_key,
    trials_key)
end

local function move(new_state)
  table.insert(transitions, state .. '>' .. new_state)
  state = new_state
  dirty = true
end

local function add_failure()
  redis.call('ZREMRANGEBYSCORE', failures_key, '-inf', fmt(now - window))
  redis.call('ZADD', failures_key, fmt(now), token)
  redis.call('ZREMRANGEBYRANK', failures_key, 0, -(threshold + 1))
  dirty = true
end

local function open()
  move('open')
  opened_at = now
  half_open_successes = 0
  redis.call('DEL', trials_key)
end

local function close()
  move('closed')
  opened_at = 0
  success_count = 0
  half_open_successes = 0
  generation = generation + 1
  redis.call('DEL', failures_key, trials_key)
end

if op == 'admit' then
  if state == 'open' and now >= opened_at + reset_timeout then
    move('half_open')
    half_open_successes = 0
    generation = generation + 1
    redis.call('DEL', trials_key)
  end
  if state == 'closed' then
    admitted = 1
  elseif state == 'open' then
    retry_after = opened_at + reset_timeout - now
    -- Once the state key expires the breaker is CLOSED: never ask for a longer wait.
    local left = redis.call('PTTL', state_key)
    if left >= 0 and retry_after > left / 1000 then
      retry_after = left / 1000
    end
  else
    redis.call('ZREMRANGEBYSCORE', trials_key, '-inf', fmt(now))
    if redis.call('ZCARD', trials_key) < half_open_max then
      redis.call('ZADD', trials_key, fmt(now + reset_timeout), token)
      admitted, trial, dirty = 1, 1, true
    end
  end
elseif op == 'record' then
  if ticket_trial then
    redis.call('ZREM', trials_key, token)
  end
  local current = ticket_trial and state == 'half_open' and ticket_generation == generation
  if failed then
    add_failure()
    if current then
      open()
    elseif state == 'closed' and ticket_generation == generation
        and redis.call('ZCARD', failures_key) >= threshold then
      open()
    end
  else
    success_count = success_count + 1
    dirty = true
    if current then
      half_open_successes = half_open_successes + 1
      if half_open_successes >= success_threshold then
        close()
      end
    end
  end
elseif op == 'release' then
  if ticket_trial then
    redis.call('ZREM', trials_key, token)
  end
elseif op == 'reset' then
  local old = state
  close()
  if old == 'closed' then
    transitions = {}
  end
end

if dirty then
  redis.call('HSET', state_key, 'state', state, 'opened_at', fmt(opened_at),
    'success_count', tostring(success_count),
    'half_open_successes', tostring(half_open_successes),
    'generation', tostring(generation))
  redis.call('PEXPIRE', state_key, ttl_ms)
  redis.call('PEXPIRE', failures_key, ttl_ms)
  redis.call('PEXPIRE', trials_key, ttl_ms)
end

local out = {tostring(admitted), tostring(trial), fmt(retry_after), state, fmt(opened_at),
  tostring(success_count), tostring(half_open_successes),
  tostring(redis.call('ZCARD', trials_key)), tostring(generation),
  table.concat(transitions, ',')}
local times = redis.call('ZRANGE', failures_key, 0, -1, 'WITHSCORES')
for i = 2, #times, 2 do
  table.insert(out, times[i])
end
return out
"""
).replace("__HELPERS__", LUA_HELPERS)
