"""Approval stores: where pending approvals wait and decisions are recorded.

`ApprovalStore` is a small async protocol; `MemoryApprovalStore` keeps records in
process and `KVApprovalStore` keeps them as JSON in any `KVStore` (memory, file,
SQLite, PostgreSQL, Redis). Decisions are values:

- `grant`, `reject` and `cancel` return `Ok(record)` with the decided record, or
  `Err(ApprovalNotFound(key))` for a key no `create_pending` made, or
  `Err(ApprovalAlreadyDecided(key, status))` when the approval is already decided
  (also after it expired). A decision is never overwritten.
- `create_pending` is idempotent: for a key that already has a record it returns that
  record unchanged.
- A pending approval past its `expires_at` (epoch seconds, read from the store's clock)
  becomes `Rejected(reason="expired")` the next time `get` or `list_pending` sees it;
  `cancel` records `Rejected(reason="cancelled")`.

Every change is decided exactly once, also across processes: `KVApprovalStore` writes
each change with the store's atomic `compare_and_set` against the document it read, and
reads again when another store instance or process changed it meanwhile. Of two
processes deciding the same pending key at the same instant, one gets `Ok`, the other
`Err(ApprovalAlreadyDecided)`, and the stored record is the winner's; `create_pending`
makes one record however many callers race, and an expiry is recorded once.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Generic, Literal, Protocol, TypeAlias, TypeVar, cast, runtime_checkable

from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.errors import TaggedError
from resultflow.hitl._approval import ApprovalStatus, Approved, Pending, Rejected
from resultflow.persistence._decoder import decode_value
from resultflow.persistence._encoder import encode_value
from resultflow.persistence._errors import StateDecodeError
from resultflow.persistence._kv import CorruptEntryError, KVStore, StoreError, check_key
from resultflow.persistence._state_persistence import backend_name
from resultflow.result import Err, Ok

__all__ = [
    "ApprovalAlreadyDecided",
    "ApprovalDecision",
    "ApprovalNotFound",
    "ApprovalRecord",
    "ApprovalState",
    "ApprovalStore",
    "KVApprovalStore",
    "MemoryApprovalStore",
    "approval_check",
]

ApprovalState: TypeAlias = Literal["pending", "approved", "rejected"]
"""Where an approval stands, by name (`ApprovalRecord.state`)."""

EXPIRED = "expired"
CANCELLED = "cancelled"

_Version = TypeVar("_Version")
logger = logging.getLogger("resultflow.hitl")
_MAX_CONFLICTS = 50


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """One approval: its status, who decided it and when.

    `status` is `Pending(reason)`, `Approved(value)` or `Rejected(reason)`; `actor` is who
    decided; `created_at`, `decided_at` and `expires_at` are epoch seconds; `meta` is
    what was given to `create_pending`.

    `value` and `reason` read the status: the granted value (None unless approved) and
    the pending or rejection reason; `state` names the status ("pending", ...).
    """

    key: str
    status: ApprovalStatus[object]
    actor: str | None = None
    created_at: float = 0.0
    decided_at: float | None = None
    expires_at: float | None = None
    meta: Mapping[str, object] = field(default_factory=dict[str, object])

    @property
    def value(self) -> object:
        """The value an approver granted; None unless the status is `Approved`."""
        return self.status.value if isinstance(self.status, Approved) else None

    @property
    def reason(self) -> str | None:
        """Why it is pending or was rejected ("cancelled", "expired"...); None if approved."""
        return None if isinstance(self.status, Approved) else self.status.reason

    @property
    def state(self) -> ApprovalState:
        """The status by name: "pending", "approved" or "rejected"."""
        if isinstance(self.status, Approved):
            return "approved"
        return "rejected" if isinstance(self.status, Rejected) else "pending"

    @property
    def is_pending(self) -> bool:
        """True while no decision has been made."""
        return isinstance(self.status, Pending)

    def to_status(self) -> ApprovalStatus[object]:
        """The record as an approval check's answer (its `status`)."""
        return self.status


class ApprovalNotFound(TaggedError):
    """No approval `key` exists (nothing called `create_pending` for it)."""

    key: str


class ApprovalAlreadyDecided(TaggedError):
    """The approval `key` is already decided (`status` is "approved" or "rejected")."""

    key: str
    status: str


ApprovalDecision: TypeAlias = Ok[ApprovalRecord] | Err[ApprovalNotFound | ApprovalAlreadyDecided]
"""What `grant`, `reject` and `cancel` return."""


@runtime_checkable
class ApprovalStore(Protocol):
    """Pending approvals and their decisions, by key (every method is async)."""

    async def create_pending(
        self,
        key: str,
        reason: str | None = None,
        expires_at: float | None = None,
        meta: Mapping[str, object] | None = None,
    ) -> ApprovalRecord:
        """Record that `key` awaits a decision; an existing record is returned unchanged."""
        ...

    async def get(self, key: str) -> ApprovalRecord | None:
        """The record of `key` (expired ones turned into rejections), or None."""
        ...

    async def grant(self, key: str, value: object, actor: str | None = None) -> ApprovalDecision:
        """Approve `key` with `value`."""
        ...

    async def reject(self, key: str, reason: str, actor: str | None = None) -> ApprovalDecision:
        """Reject `key` because of `reason`."""
        ...

    async def cancel(self, key: str, actor: str | None = None) -> ApprovalDecision:
        """Withdraw `key`: recorded as a rejection with reason "cancelled"."""
        ...

    async def list_pending(self) -> list[ApprovalRecord]:
        """Every approval still pending, oldest first."""
        ...


def approval_check(
    store: ApprovalStore, key: str
) -> Callable[[], Awaitable[ApprovalStatus[object]]]:
    """A check for `approval_step` that reads the decision on `key` from `store`.

    A key the store does not know is `Pending()`.
    """

    async def check() -> ApprovalStatus[object]:
        record = await store.get(key)
        return Pending() if record is None else record.to_status()

    return check


# -- the shared decision logic -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Stored(Generic[_Version]):
    """A record as read from a store (None: no record), with the `version` it was read at.

    The version is what the store compares when the record is replaced (the document
    text, or the object).
    """

    record: ApprovalRecord | None
    version: _Version


class _RecordStore(Generic[_Version]):
    """Decisions and expiry on top of `_load` / `_replace` / `_keys` of a concrete store.

    Each change reads the record, computes the new one and replaces it only if it is
    still the version read (compare-and-set); when it is not, it reads again. Records
    only ever go from pending to decided, so a retry finds the other writer's decision.
    """

    def __init__(self, clock: Clock | None) -> None:
        self.clock = clock or SYSTEM_CLOCK
        self._lock = asyncio.Lock()

    async def create_pending(
        self,
        key: str,
        reason: str | None = None,
        expires_at: float | None = None,
        meta: Mapping[str, object] | None = None,
    ) -> ApprovalRecord:
        """Record that `key` awaits a decision; an existing record is returned unchanged.

        Raises `ValueError` for an `expires_at` that is not a finite number of epoch
        seconds (NaN or infinity would make a record no one can read back or expire).
        """
        check_key(key)
        _check_expiry(expires_at)
        async with self._lock:
            conflicts = 0
            while True:
                stored = await self._current(key)
                if stored.record is not None:
                    return stored.record
                record = ApprovalRecord(
                    key=key,
                    status=Pending(reason),
                    created_at=self.clock.now(),
                    expires_at=expires_at,
                    meta=dict(meta or {}),
                )
                if await self._replace(key, stored, record) is not None:
                    return record
                conflicts = self._conflicted(key, conflicts)  # created elsewhere: read it

    async def get(self, key: str) -> ApprovalRecord | None:
        """The record of `key` (expired ones turned into rejections), or None."""
        check_key(key)
        async with self._lock:
            return (await self._current(key)).record

    async def grant(self, key: str, value: object, actor: str | None = None) -> ApprovalDecision:
        """Approve `key` with `value` (an Err when unknown or already decided)."""
        return await self._decide(key, Approved(value), actor)

    async def reject(self, key: str, reason: str, actor: str | None = None) -> ApprovalDecision:
        """Reject `key` because of `reason` (an Err when unknown or already decided)."""
        if not isinstance(cast("object", reason), str):
            raise TypeError(f"a rejection reason must be a str, not {type(reason).__name__}")
        return await self._decide(key, Rejected(reason), actor)

    async def cancel(self, key: str, actor: str | None = None) -> ApprovalDecision:
        """Withdraw `key`: a rejection with reason "cancelled"."""
        return await self._decide(key, Rejected(CANCELLED), actor)

    async def list_pending(self) -> list[ApprovalRecord]:
        """Every approval still pending, oldest first (expired ones are rejected on the way).

        A record that cannot be read (`CorruptEntryError`) is left out and logged on the
        `resultflow.hitl` logger: one damaged record does not hide all the others.
        """
        async with self._lock:
            records: builtins.list[ApprovalRecord] = []
            for key in await self._keys():
                try:
                    record = (await self._current(key)).record
                except CorruptEntryError as exc:
                    logger.warning("list_pending skipped approval %r: %s", key, exc)
                    continue
                if record is not None and record.is_pending:
                    records.append(record)
        return sorted(records, key=lambda r: (r.created_at, r.key))

    async def _decide(
        self, key: str, status: Approved[object] | Rejected, actor: str | None
    ) -> ApprovalDecision:
        check_key(key)
        async with self._lock:
            conflicts = 0
            while True:
                stored = await self._current(key)
                record = stored.record
                if record is None:
                    return Err(ApprovalNotFound(key=key))
                if not record.is_pending:
                    return Err(ApprovalAlreadyDecided(key=key, status=record.state))
                decided = replace(record, status=status, actor=actor, decided_at=self.clock.now())
                if await self._replace(key, stored, decided) is not None:
                    return Ok(decided)
                # Changed since we read it (decided or expired elsewhere): read again.
                conflicts = self._conflicted(key, conflicts)

    async def _current(self, key: str) -> _Stored[_Version]:
        """The record of `key` as it stands, a pending one past `expires_at` rejected."""
        conflicts = 0
        while True:
            stored = await self._load(key)
            record = stored.record
            if record is None or not record.is_pending or record.expires_at is None:
                return stored
            if self.clock.now() < record.expires_at:
                return stored
            expired = replace(record, status=Rejected(EXPIRED), decided_at=record.expires_at)
            updated = await self._replace(key, stored, expired)
            if updated is not None:
                return updated
            conflicts = self._conflicted(key, conflicts)

    def _conflicted(self, key: str, conflicts: int) -> int:
        """Count one more lost compare-and-set on `key`; raise `StoreError` past the limit.

        A record changes a few times at most (created, then decided once), so a store
        that keeps refusing the document it just returned is broken, not busy.
        """
        if conflicts + 1 < _MAX_CONFLICTS:
            return conflicts + 1
        raise StoreError(
            self._backend(),
            f"the approval {key!r} changed under each of {_MAX_CONFLICTS} attempts in a row: "
            "does the store's compare_and_set compare with the value its get returns?",
        )

    def _backend(self) -> str:
        return type(self).__name__

    async def _load(self, key: str) -> _Stored[_Version]:
        """The record of `key` as stored, with its version."""
        raise NotImplementedError

    async def _replace(
        self, key: str, stored: _Stored[_Version], record: ApprovalRecord
    ) -> _Stored[_Version] | None:
        """Store `record` if `key` is still at `stored.version`: its new version, else None."""
        raise NotImplementedError

    async def _keys(self) -> builtins.list[str]:
        raise NotImplementedError


class MemoryApprovalStore(_RecordStore["ApprovalRecord | None"]):
    """An in-process `ApprovalStore`; `clock` decides expiry (a `TestClock` in tests)."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self._records: dict[str, ApprovalRecord] = {}

    def __repr__(self) -> str:
        return f"MemoryApprovalStore({len(self._records)} approvals)"

    async def _load(self, key: str) -> _Stored[ApprovalRecord | None]:
        record = self._records.get(key)
        return _Stored(record, record)

    async def _replace(
        self, key: str, stored: _Stored[ApprovalRecord | None], record: ApprovalRecord
    ) -> _Stored[ApprovalRecord | None] | None:
        if self._records.get(key) is not stored.version:
            return None
        self._records[key] = record
        return _Stored(record, record)

    async def _keys(self) -> builtins.list[str]:
        return list(self._records)


class KVApprovalStore(_RecordStore["str | None"]):
    """An `ApprovalStore` in any `KVStore`: one JSON document per key under `prefix`.

    Values and meta are written with the persistence codec (`encode_value`), so they
    may be any type the codec supports. A document that cannot be read back raises
    `CorruptEntryError`. Every change is a `compare_and_set` against the document read,
    so stores in several processes sharing the backend decide each approval once.
    """

    def __init__(
        self, kv: KVStore, prefix: str = "approval:", *, clock: Clock | None = None
    ) -> None:
        super().__init__(clock)
        self.kv = kv
        self.prefix = check_key(prefix)

    def __repr__(self) -> str:
        return f"KVApprovalStore({self.kv!r}, prefix={self.prefix!r})"

    def _backend(self) -> str:
        return backend_name(self.kv)

    async def _load(self, key: str) -> _Stored[str | None]:
        text = await self.kv.get(self.prefix + key)
        return _Stored(None if text is None else self._decode(key, text), text)

    async def _replace(
        self, key: str, stored: _Stored[str | None], record: ApprovalRecord
    ) -> _Stored[str | None] | None:
        text = self._encode(record)
        if await self.kv.compare_and_set(self.prefix + key, stored.version, text):
            return _Stored(record, text)
        return None

    def _encode(self, record: ApprovalRecord) -> str:
        document = {
            "key": record.key,
            "status": record.state,
            "value": encode_value(record.value, path="approval.value"),
            "reason": record.reason,
            "actor": record.actor,
            "created_at": record.created_at,
            "decided_at": record.decided_at,
            "expires_at": record.expires_at,
            "meta": encode_value(dict(record.meta), path="approval.meta"),
        }
        return json.dumps(document, allow_nan=False)

    async def _keys(self) -> builtins.list[str]:
        start = len(self.prefix)
        return [key[start:] async for key in self.kv.scan(self.prefix)]

    def _decode(self, key: str, text: str) -> ApprovalRecord:
        try:
            raw: object = json.loads(text)
            if not isinstance(raw, dict):
                raise ValueError("an approval document must be a JSON object")
            document = cast("dict[str, object]", raw)
            meta = decode_value(document.get("meta", {}), path="approval.meta")
            if not isinstance(meta, dict):
                raise ValueError("meta must be an object")
            status = _status(
                document.get("status"),
                decode_value(document.get("value"), path="approval.value"),
                _optional(document, "reason", str),
            )
            return ApprovalRecord(
                key=key,
                status=status,
                actor=_optional(document, "actor", str),
                created_at=_number(document, "created_at"),
                decided_at=_optional_number(document, "decided_at"),
                expires_at=_optional_number(document, "expires_at"),
                meta=cast("dict[str, object]", meta),
            )
        except (ValueError, StateDecodeError) as exc:
            raise CorruptEntryError(backend_name(self.kv), self.prefix + key, str(exc)) from None
        except RecursionError:
            detail = "the document is nested too deeply"
            raise CorruptEntryError(backend_name(self.kv), self.prefix + key, detail) from None


def _check_expiry(expires_at: object) -> None:
    if expires_at is None:
        return
    if (
        isinstance(expires_at, bool)
        or not isinstance(expires_at, int | float)
        or not math.isfinite(expires_at)
    ):
        raise ValueError(f"expires_at must be finite epoch seconds or None, not {expires_at!r}")


def _status(raw: object, value: object, reason: str | None) -> ApprovalStatus[object]:
    if raw == "approved":
        return Approved(value)
    if raw == "rejected":
        return Rejected(reason)
    if raw == "pending":
        return Pending(reason)
    raise ValueError(f"status must be pending, approved or rejected, not {raw!r}")


def _optional(document: dict[str, object], name: str, kind: type[str]) -> str | None:
    raw = document.get(name)
    if raw is None or isinstance(raw, kind):
        return raw
    raise ValueError(f"{name} must be a string or null, not {raw!r}")


def _number(document: dict[str, object], name: str) -> float:
    raw = document.get(name)
    # NaN and infinity (JSON's NaN / Infinity) are not times: an expiry of NaN would
    # never pass and one of infinity could not be written back (allow_nan=False).
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        number = float(raw)
        if math.isfinite(number):
            return number
    raise ValueError(f"{name} must be a finite number, not {raw!r:.80}")


def _optional_number(document: dict[str, object], name: str) -> float | None:
    return None if document.get(name) is None else _number(document, name)
