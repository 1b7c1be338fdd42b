"""Run claims (leases): at most one process runs or resumes a given HITL run at a time.

A claim names its holder (`owner`) and expires `ttl` seconds after it was taken or last
renewed, so a process that crashed while running a run blocks it for at most `ttl`.
`RunClaims` is the protocol; `MemoryRunClaims` keeps claims in process (one lock),
`KVRunClaims` in any `KVStore`, where `compare_and_set` makes taking, renewing and
releasing a claim atomic across processes. `MemoryStateStore` and `KVStateStore`
implement `RunClaims` with them, so the orchestrator's state store is also where runs
are claimed.

Whose clock decides expiry: `MemoryRunClaims` uses its `clock`. `KVRunClaims` uses the
database server's clock when its store can tell it (`ServerClock`: `PostgresKV` does),
so hosts whose clocks disagree still agree on when a claim expires: the claim's expiry
is written in server time inside the claim and compared with server time. On other
stores expiry is the store's own TTL: Redis expires keys on the server's clock; for
`SQLiteKV`, `FileKV` and `MemoryKV` the processes share a host and its clock. What is
left to clock agreement: the lease renews every `ttl / 3` by the holder's own (monotonic)
clock, which only needs to run at about the right speed; and with a `ServerClock` the
store row itself is also given a TTL, one hour longer than the claim, so that crashed
claims do not pile up: a host whose clock is more than an hour off could see that row
as expired.

`Lease` is a held claim: entered, it takes the claim (or raises `RunBusyError`) and
renews it in the background every `ttl / 3`; `confirm()` renews at once and raises
`ClaimLostError` when the claim expired and was taken over meanwhile; leaving it stops
the renewal and releases the claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
from types import TracebackType
from typing import Protocol, cast, runtime_checkable

from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.errors import ResultflowError
from resultflow.persistence._kv import KVStore, StoreError, check_key

__all__ = [
    "DEFAULT_CLAIM_TTL",
    "ClaimLostError",
    "KVRunClaims",
    "Lease",
    "MemoryRunClaims",
    "RunBusyError",
    "RunClaims",
    "ServerClock",
]

DEFAULT_CLAIM_TTL = 30.0
"""Seconds a claim lives without renewal (the orchestrator renews every third of it)."""

# What a released claim holds in a KV store until it expires: a KV store has no
# compare-and-delete, so releasing writes this marker with compare_and_set instead.
_RELEASED = ""
# With a server clock the row outlives the claim by this much (garbage collection only).
_ROW_GRACE = 3600.0


@runtime_checkable
class ServerClock(Protocol):
    """A store that can read its server's clock (`PostgresKV` does).

    `KVRunClaims` then keeps claim expiry in server time, so client clocks that
    disagree do not decide who holds a run.
    """

    async def server_time(self) -> float:
        """The server's current time, in epoch seconds."""
        ...


@runtime_checkable
class RunClaims(Protocol):
    """Claims on runs, one holder per run id at a time, each expiring unless renewed."""

    async def claim(self, run_id: str, owner: str, ttl: float) -> bool:
        """Claim `run_id` for `owner` for `ttl` seconds; False when someone holds it."""
        ...

    async def renew(self, run_id: str, owner: str, ttl: float) -> bool:
        """Extend `owner`'s claim on `run_id` to `ttl` seconds from now; False if not held."""
        ...

    async def release(self, run_id: str, owner: str) -> None:
        """Drop `owner`'s claim on `run_id` (nothing happens when `owner` does not hold it)."""
        ...

    async def holder(self, run_id: str) -> str | None:
        """The owner holding an unexpired claim on `run_id`, or None."""
        ...


class RunBusyError(ResultflowError, RuntimeError):
    """Another owner (`holder`, when known) holds the claim on run `run_id` right now.

    Raised by `execute` and `resume`; `grant` / `reject` / `cancel` skip such runs (their
    holder checks for new decisions when it lets the run go).
    """

    def __init__(self, run_id: str, holder: str | None, detail: str | None = None) -> None:
        by = f" by {holder!r}" if holder else ""
        super().__init__(detail or f"run {run_id!r} is being run or resumed{by}; try later")
        self.run_id = run_id
        self.holder = holder


class ClaimLostError(RunBusyError):
    """This process's claim on run `run_id` expired and another owner took the run over.

    The run's progress since the last save is left to the new holder: nothing is saved.
    """

    def __init__(self, run_id: str, holder: str | None) -> None:
        super().__init__(
            run_id,
            holder,
            f"the claim on run {run_id!r} expired and was taken over by {holder!r}; "
            "renew more often (a larger claim_ttl) or keep the event loop responsive",
        )


def _check_claim(run_id: str, owner: str, ttl: float | None = None) -> None:
    check_key(run_id)
    check_key(owner)
    if not owner:
        raise ValueError("a claim owner must be a non-empty str")
    if ttl is not None and (isinstance(ttl, bool) or not ttl > 0 or ttl == float("inf")):
        raise ValueError(f"a claim ttl must be a positive, finite number of seconds, got {ttl!r}")


class MemoryRunClaims:
    """In-process `RunClaims` (a dict under a lock), expiring on `clock` (monotonic)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SYSTEM_CLOCK
        self._claims: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    async def claim(self, run_id: str, owner: str, ttl: float) -> bool:
        """Claim `run_id` for `owner` unless an unexpired claim exists."""
        _check_claim(run_id, owner, ttl)
        with self._lock:
            if self._live(run_id) is not None:
                return False
            self._claims[run_id] = (owner, self.clock.monotonic() + ttl)
            return True

    async def renew(self, run_id: str, owner: str, ttl: float) -> bool:
        """Extend `owner`'s unexpired claim on `run_id`."""
        _check_claim(run_id, owner, ttl)
        with self._lock:
            if self._live(run_id) != owner:
                return False
            self._claims[run_id] = (owner, self.clock.monotonic() + ttl)
            return True

    async def release(self, run_id: str, owner: str) -> None:
        """Drop `owner`'s claim on `run_id`."""
        _check_claim(run_id, owner)
        with self._lock:
            if self._live(run_id) == owner:
                del self._claims[run_id]

    async def holder(self, run_id: str) -> str | None:
        """The owner of the unexpired claim on `run_id`, or None."""
        with self._lock:
            return self._live(check_key(run_id))

    def _live(self, run_id: str) -> str | None:
        found = self._claims.get(run_id)
        if found is None:
            return None
        owner, expires_at = found
        if self.clock.monotonic() >= expires_at:
            del self._claims[run_id]
            return None
        return owner

    def __repr__(self) -> str:
        return f"MemoryRunClaims({len(self._claims)} claims)"


class KVRunClaims:
    """`RunClaims` in a `KVStore`: who holds `prefix + run_id`, and until when.

    Every change is one `compare_and_set`, so processes sharing the store agree on the
    holder. On a store that is a `ServerClock` (PostgreSQL), the claim holds its owner
    and its expiry in the server's time, read from the server for every decision; on
    other stores the claim is the owner's name with the store's TTL (Redis: the
    server's clock; SQLite, files, memory: the one host's clock).
    """

    def __init__(self, kv: KVStore, prefix: str = "hitl-claim:") -> None:
        self.kv = kv
        self.prefix = check_key(prefix)

    async def claim(self, run_id: str, owner: str, ttl: float) -> bool:
        """Claim `run_id` for `owner` when no claim is stored, expired or released."""
        _check_claim(run_id, owner, ttl)
        key = self.prefix + run_id
        kv = self.kv
        if not isinstance(kv, ServerClock):
            if await kv.compare_and_set(key, None, owner, ttl=ttl):
                return True
            return await kv.compare_and_set(key, _RELEASED, owner, ttl=ttl)
        now = await kv.server_time()
        claim = _encode_claim(owner, now + ttl)
        if await kv.compare_and_set(key, None, claim, ttl=ttl + _ROW_GRACE):
            return True
        current = await kv.get(key)
        if current is None:  # gone since: one more try at an empty slot
            return await kv.compare_and_set(key, None, claim, ttl=ttl + _ROW_GRACE)
        holder, until = _decode_claim(current)
        if holder is not None and until > now:
            return False
        return await kv.compare_and_set(key, current, claim, ttl=ttl + _ROW_GRACE)

    async def renew(self, run_id: str, owner: str, ttl: float) -> bool:
        """Extend `owner`'s unexpired claim on `run_id`."""
        _check_claim(run_id, owner, ttl)
        key = self.prefix + run_id
        kv = self.kv
        if not isinstance(kv, ServerClock):
            return await kv.compare_and_set(key, owner, owner, ttl=ttl)
        now = await kv.server_time()
        current = await kv.get(key)
        if current is None:
            return False
        holder, until = _decode_claim(current)
        if holder != owner or until <= now:
            return False
        claim = _encode_claim(owner, now + ttl)
        if await kv.compare_and_set(key, current, claim, ttl=ttl + _ROW_GRACE):
            return True
        # Changed since read: by another renewal of the same owner (the background
        # renewal racing `Lease.confirm`), which is as good, or by a takeover.
        latest = await kv.get(key)
        if latest is None:
            return False
        holder, until = _decode_claim(latest)
        return holder == owner and until > await kv.server_time()

    async def release(self, run_id: str, owner: str) -> None:
        """Mark `owner`'s claim on `run_id` released (the marker expires within a minute)."""
        _check_claim(run_id, owner)
        key = self.prefix + run_id
        kv = self.kv
        if not isinstance(kv, ServerClock):
            await kv.compare_and_set(key, owner, _RELEASED, ttl=60.0)
            return
        current = await kv.get(key)
        if current is not None and _decode_claim(current)[0] == owner:
            # A released marker is free to anyone, whatever their clock says of its TTL.
            await kv.compare_and_set(key, current, _RELEASED, ttl=60.0)

    async def holder(self, run_id: str) -> str | None:
        """The owner of the unexpired claim on `run_id`, or None."""
        kv = self.kv
        value = await kv.get(self.prefix + check_key(run_id))
        if not value or not isinstance(kv, ServerClock):
            return value or None
        holder, until = _decode_claim(value)
        if holder is None or until == math.inf:
            return holder
        return holder if until > await kv.server_time() else None

    def __repr__(self) -> str:
        return f"KVRunClaims({self.kv!r}, prefix={self.prefix!r})"


def _encode_claim(owner: str, until: float) -> str:
    return json.dumps({"owner": owner, "until": until}, separators=(",", ":"))


def _decode_claim(value: str) -> tuple[str | None, float]:
    """(holder, expiry in server time) of a stored claim; (None, 0) when it holds none.

    A plain owner name (written by a store without a server clock, or by an older
    version) is a live claim whose expiry is the row's own TTL: `get` no longer
    returns it once that passed.
    """
    if value == _RELEASED:
        return None, 0.0
    if value.startswith("{"):
        try:
            raw: object = json.loads(value)
        except ValueError:
            return None, 0.0  # unreadable: nobody's claim, so it can be taken
        if isinstance(raw, dict):
            document = cast("dict[str, object]", raw)
            owner, until = document.get("owner"), document.get("until")
            if (
                isinstance(owner, str)
                and isinstance(until, int | float)
                and not isinstance(until, bool)
                and math.isfinite(until)
            ):
                return owner, float(until)
        return None, 0.0
    return value, math.inf


class Lease:
    """`owner`'s claim on `run_id`, held for an `async with` block and renewed meanwhile.

    Entering raises `RunBusyError` when another owner holds the run. While inside, a
    background task renews the claim every `ttl / 3` seconds on `clock`; leaving stops it
    and releases the claim.
    """

    def __init__(
        self,
        claims: RunClaims,
        run_id: str,
        owner: str,
        ttl: float = DEFAULT_CLAIM_TTL,
        clock: Clock | None = None,
    ) -> None:
        _check_claim(run_id, owner, ttl)
        self.claims = claims
        self.run_id = run_id
        self.owner = owner
        self.ttl = ttl
        self.clock = clock or SYSTEM_CLOCK
        self.lost = False
        self._renewer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lease:
        if not await self.claims.claim(self.run_id, self.owner, self.ttl):
            raise RunBusyError(self.run_id, await self.claims.holder(self.run_id))
        self.lost = False
        self._renewer = asyncio.create_task(self._keep_renewed())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        if not self.lost:
            await self.claims.release(self.run_id, self.owner)

    async def confirm(self) -> None:
        """Renew the claim now; raise `ClaimLostError` when it is no longer ours."""
        if self.lost or not await self.claims.renew(self.run_id, self.owner, self.ttl):
            self.lost = True
            raise ClaimLostError(self.run_id, await self.claims.holder(self.run_id))

    async def _keep_renewed(self) -> None:
        while True:
            await self.clock.sleep(self.ttl / 3)
            try:
                renewed = await self.claims.renew(self.run_id, self.owner, self.ttl)
            except StoreError:
                continue  # the store hiccuped: the next renewal (or `confirm`) decides
            if not renewed:
                self.lost = True
                return

    def __repr__(self) -> str:
        return f"Lease({self.run_id!r}, owner={self.owner!r}, ttl={self.ttl})"
