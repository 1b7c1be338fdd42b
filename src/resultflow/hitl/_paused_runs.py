"""Workflow state stores: where the orchestrator keeps the runs paused for an approval.

A `RunSnapshot` is what a paused run needs to resume: the workflow's name, its
arguments, the resume state of its finished steps and the approvals it waits for.
`MemoryStateStore` keeps snapshots in process; `KVStateStore` keeps them in any
`KVStore` (or a `StatePersistence` you configured), as codec JSON, so they survive a
restart — the arguments must then be values the persistence codec can serialize.

`KVStateStore(..., version=2, migrations={1: rename_keys({...})})` brings state
written by older code up to date when it is loaded (see
`resultflow.persistence.versioning`); a state it cannot migrate raises
`StateMigrationError`.

Both stores also implement `RunClaims` (see `resultflow.hitl.lease`): the orchestrator
claims a run in its state store before running or resuming it, so one process at a
time does. `MemoryStateStore` keeps the claims in process, `KVStateStore` in its KV
store (under `claim_prefix`), where they are atomic across processes.

Both also implement `WaitingRuns`: they index paused runs by the approvals they wait
for, so a decision reads only the runs waiting on its own key. One unreadable run (a
corrupt document, a state from a newer deployment) then never stands in the way of a
decision on another key, and costs only its own entry for a decision on its key.
"""

from __future__ import annotations

import builtins
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypedDict, cast, runtime_checkable

from resultflow.cache import CacheEntry
from resultflow.clock import Clock
from resultflow.errors import ResultflowError
from resultflow.hitl._run_claims import KVRunClaims, MemoryRunClaims
from resultflow.persistence._encoder import encode_value
from resultflow.persistence._kv import CorruptEntryError, KVStore, check_key
from resultflow.persistence._state_persistence import StatePersistence, backend_name
from resultflow.persistence._versioning import (
    Migration,
    VersionedState,
    VersionError,
    versioned_loader,
)
from resultflow.result import Err

__all__ = [
    "ChecksArguments",
    "KVStateStore",
    "MemoryStateStore",
    "RunSnapshot",
    "StateMigrationError",
    "WaitingRuns",
    "WorkflowStateStore",
]


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """A paused run, as saved to resume it.

    `workflow` is its registered name; `args` its arguments; `state` the resume state of
    its finished steps; `pending` the approval keys it waits on; `updated_at` when it was
    saved.
    """

    run_id: str
    workflow: str
    args: tuple[object, ...]
    state: Mapping[str, CacheEntry]
    pending: tuple[str, ...]
    updated_at: float = 0.0
    pending_reasons: Mapping[str, str | None] = field(default_factory=dict[str, "str | None"])


@runtime_checkable
class WorkflowStateStore(Protocol):
    """Snapshots of paused runs, by run id (every method is async)."""

    async def save(self, snapshot: RunSnapshot) -> None:
        """Store `snapshot`, replacing the run's previous one."""
        ...

    async def load(self, run_id: str) -> RunSnapshot | None:
        """The snapshot of `run_id`, or None."""
        ...

    async def delete(self, run_id: str) -> None:
        """Forget `run_id` (no error when unknown)."""
        ...

    async def list_runs(self) -> list[str]:
        """The ids of every stored run, sorted."""
        ...


@runtime_checkable
class WaitingRuns(Protocol):
    """A state store that finds the runs waiting on an approval without reading the others.

    Optional: the orchestrator falls back to reading every stored run when its state
    store does not implement it.
    """

    async def runs_waiting(self, key: str) -> list[str]:
        """Ids of the stored runs that wait on approval `key`, sorted.

        An index kept when runs are saved: it may still name a run that no longer waits
        on `key` or no longer exists (for a moment, or after a crash), so callers check
        the snapshot they load.
        """
        ...


@runtime_checkable
class ChecksArguments(Protocol):
    """A state store that can tell up front whether it could save a run's arguments.

    Optional: the orchestrator calls `check_args` before a run starts, so arguments a
    store could not save are refused before any step runs (not when the run pauses,
    after its first steps took effect).
    """

    def check_args(self, args: tuple[object, ...]) -> None:
        """Raise `SerializationError` (naming the offending path) if `args` cannot be saved."""
        ...


class StateMigrationError(ResultflowError):
    """A stored run's state could not be brought to this code's version; `.error` says why."""

    def __init__(self, run_id: str, error: VersionError) -> None:
        super().__init__(f"cannot load the state of run {run_id!r}: {error.message}")
        self.run_id = run_id
        self.error = error


class MemoryStateStore:
    """An in-process `WorkflowStateStore`, with in-process run claims.

    `clock` (default: the system clock) decides when claims expire.
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._snapshots: dict[str, RunSnapshot] = {}
        self.claims = MemoryRunClaims(clock)

    async def save(self, snapshot: RunSnapshot) -> None:
        """Store `snapshot`."""
        self._snapshots[snapshot.run_id] = snapshot

    async def load(self, run_id: str) -> RunSnapshot | None:
        """The snapshot of `run_id`, or None."""
        return self._snapshots.get(run_id)

    async def delete(self, run_id: str) -> None:
        """Forget `run_id`."""
        self._snapshots.pop(run_id, None)

    async def list_runs(self) -> list[str]:
        """The stored run ids, sorted."""
        return sorted(self._snapshots)

    async def runs_waiting(self, key: str) -> list[str]:
        """The stored run ids waiting on approval `key`, sorted."""
        return sorted(run_id for run_id, s in self._snapshots.items() if key in s.pending)

    async def claim(self, run_id: str, owner: str, ttl: float) -> bool:
        """Claim `run_id` for `owner` for `ttl` seconds; False when it is held."""
        return await self.claims.claim(run_id, owner, ttl)

    async def renew(self, run_id: str, owner: str, ttl: float) -> bool:
        """Extend `owner`'s claim on `run_id`; False when it does not hold it."""
        return await self.claims.renew(run_id, owner, ttl)

    async def release(self, run_id: str, owner: str) -> None:
        """Drop `owner`'s claim on `run_id`."""
        await self.claims.release(run_id, owner)

    async def holder(self, run_id: str) -> str | None:
        """Who holds the claim on `run_id`, or None."""
        return await self.claims.holder(run_id)

    def __repr__(self) -> str:
        return f"MemoryStateStore({len(self._snapshots)} runs)"


class KVStateStore:
    """A `WorkflowStateStore` on a `KVStore` or a `StatePersistence` (one document per run).

    `version` is the schema version of your state that this code writes; older stored
    states are migrated on load with `migrations` (`{n: migration to n + 1}`); a newer
    one raises `StateMigrationError` unless `strict=False`. Run claims live in the same
    KV store under `claim_prefix`, and the index of runs by the approval they wait on
    under `index_prefix`; neither may start with the state prefix (nor the state prefix
    with them).
    """

    def __init__(
        self,
        store: KVStore | StatePersistence,
        *,
        prefix: str = "hitl-run:",
        version: int = 1,
        migrations: Mapping[int, Migration] | None = None,
        strict: bool = True,
        claim_prefix: str = "hitl-claim:",
        index_prefix: str = "hitl-wait:",
    ) -> None:
        self.persistence = (
            store if isinstance(store, StatePersistence) else StatePersistence(store, prefix)
        )
        state_prefix = self.persistence.prefix
        for name, other in (("claim_prefix", claim_prefix), ("index_prefix", index_prefix)):
            if other.startswith(state_prefix) or state_prefix.startswith(other):
                raise ValueError(
                    f"{name} {other!r} and the state prefix {state_prefix!r} must not start "
                    "with one another (their keys would be listed as runs)"
                )
        self.claims = KVRunClaims(self.persistence.kv, claim_prefix)
        self.index_prefix = check_key(index_prefix)
        self.version = version
        self._load_state = versioned_loader(version, dict(migrations or {}), strict=strict)

    async def save(self, snapshot: RunSnapshot) -> None:
        """Store `snapshot` (raises `SerializationError` for arguments the codec cannot write).

        The index entries of its pending approvals are written first and the ones it no
        longer waits on removed last, so a crash in between leaves an extra entry (which
        readers check) but never a waiting run missing from the index.
        """
        kv = self.persistence.kv
        run_id = snapshot.run_id
        previous = await self._indexed_keys(run_id)
        pending = list(dict.fromkeys(snapshot.pending))
        await kv.set(self._run_index_key(run_id), json.dumps(sorted({*previous, *pending})))
        for key in pending:
            await kv.set(self._index_key(key, run_id), "")
        meta: dict[str, object] = {
            "kind": "hitl-run",
            "workflow": snapshot.workflow,
            "args": list(snapshot.args),
            "pending": list(snapshot.pending),
            "pending_reasons": dict(snapshot.pending_reasons),
            "updated_at": snapshot.updated_at,
        }
        await self.persistence.save(snapshot.run_id, snapshot.state, meta, version=self.version)
        for key in previous:
            if key not in pending:
                await kv.delete(self._index_key(key, run_id))
        await kv.set(self._run_index_key(run_id), json.dumps(pending))

    def check_args(self, args: tuple[object, ...]) -> None:
        """Raise `SerializationError` when the codec cannot save `args` (e.g. `args[1].card`)."""
        json.dumps(encode_value(list(args), path="args"), allow_nan=False)

    async def load(self, run_id: str) -> RunSnapshot | None:
        """The snapshot of `run_id`, migrated to `version`, or None.

        Raises `CorruptEntryError` for an unreadable document — also for malformed run
        metadata (no arguments, a pending list that is not a list of keys, ...): nothing
        is filled in with defaults — and `StateMigrationError` for a state that cannot be
        migrated.
        """
        loaded = await self.persistence.load(run_id)
        if loaded is None:
            return None
        state = self._load_state(VersionedState(loaded.version, loaded.state))
        if isinstance(state, Err):
            raise StateMigrationError(run_id, state.error)
        try:
            fields = _snapshot_fields(loaded.meta)
        except ValueError as exc:
            key = self.persistence.prefix + run_id
            raise CorruptEntryError(
                backend_name(self.persistence.kv), key, f"meta: {exc}"
            ) from None
        return RunSnapshot(run_id=run_id, state=state.value, **fields)

    async def delete(self, run_id: str) -> None:
        """Forget `run_id` and its index entries."""
        kv = self.persistence.kv
        indexed = await self._indexed_keys(run_id)
        await self.persistence.delete(run_id)
        for key in indexed:
            await kv.delete(self._index_key(key, run_id))
        await kv.delete(self._run_index_key(run_id))

    async def list_runs(self) -> builtins.list[str]:
        """Every stored run id, sorted (one scan of the store)."""
        prefix = self.persistence.prefix
        found = {key[len(prefix) :] async for key in self.persistence.kv.scan(prefix)}
        return sorted(found)

    async def runs_waiting(self, key: str) -> builtins.list[str]:
        """Ids of the runs indexed as waiting on approval `key`, sorted (one prefix scan)."""
        prefix = self._index_key(key, "")
        found = {entry[len(prefix) :] async for entry in self.persistence.kv.scan(prefix)}
        return sorted(found)

    # The index: `<index_prefix><len(key)>:<key>:<run_id>` per waiting run, and one
    # `<index_prefix>run:<run_id>` document listing the keys a run is indexed under (to
    # clean up). Spelling out the key's length makes a scan for one key unambiguous
    # whatever characters keys and run ids hold ("run:" never starts with a digit).
    def _index_key(self, key: str, run_id: str) -> str:
        return f"{self.index_prefix}{len(check_key(key))}:{key}:{check_key(run_id)}"

    def _run_index_key(self, run_id: str) -> str:
        return f"{self.index_prefix}run:{check_key(run_id)}"

    async def _indexed_keys(self, run_id: str) -> builtins.list[str]:
        """The approval keys `run_id` is indexed under ([] when unknown or unreadable)."""
        try:
            text = await self.persistence.kv.get(self._run_index_key(run_id))
            raw: object = None if text is None else json.loads(text)
        except (CorruptEntryError, ValueError, RecursionError):
            return []  # at worst some entries stay behind; readers check the snapshot
        if not isinstance(raw, list):
            return []
        return [key for key in cast("list[object]", raw) if isinstance(key, str)]

    async def claim(self, run_id: str, owner: str, ttl: float) -> bool:
        """Claim `run_id` for `owner` for `ttl` seconds (atomic across processes)."""
        return await self.claims.claim(run_id, owner, ttl)

    async def renew(self, run_id: str, owner: str, ttl: float) -> bool:
        """Extend `owner`'s claim on `run_id`; False when it does not hold it."""
        return await self.claims.renew(run_id, owner, ttl)

    async def release(self, run_id: str, owner: str) -> None:
        """Drop `owner`'s claim on `run_id`."""
        await self.claims.release(run_id, owner)

    async def holder(self, run_id: str) -> str | None:
        """Who holds the claim on `run_id`, or None."""
        return await self.claims.holder(run_id)

    def __repr__(self) -> str:
        return f"KVStateStore({self.persistence!r}, version={self.version})"


class _SnapshotFields(TypedDict):
    workflow: str
    args: tuple[object, ...]
    pending: tuple[str, ...]
    updated_at: float
    pending_reasons: dict[str, str | None]


def _snapshot_fields(meta: Mapping[str, object] | None) -> _SnapshotFields:
    """The run's fields from its document's meta; ValueError says what is malformed.

    Nothing is filled in: a run without its arguments or with a garbled pending list
    cannot be resumed correctly, so it is reported instead of orphaned or failed later.
    """
    if meta is None:
        raise ValueError("missing: this is not a paused run")
    kind = meta.get("kind", "hitl-run")
    if kind != "hitl-run":
        raise ValueError(f"kind must be 'hitl-run', not {kind!r}")
    workflow = meta.get("workflow")
    if not isinstance(workflow, str) or not workflow:
        raise ValueError(f"workflow must be a non-empty string, not {workflow!r:.80}")
    args = meta.get("args")
    if not isinstance(args, list):
        raise ValueError(f"args must be a list, not {_kind(args)}")
    pending = meta.get("pending")
    if not isinstance(pending, list):
        raise ValueError(f"pending must be a list of keys, not {_kind(pending)}")
    keys = cast("list[object]", pending)
    if not keys or not all(isinstance(key, str) for key in keys):
        raise ValueError("pending must be a non-empty list of string keys")
    updated_at = meta.get("updated_at", 0.0)
    if (
        not isinstance(updated_at, int | float)
        or isinstance(updated_at, bool)
        or not math.isfinite(updated_at)
    ):
        raise ValueError(f"updated_at must be a finite number, not {_kind(updated_at)}")
    reasons = meta.get("pending_reasons", {})
    if not isinstance(reasons, dict):
        raise ValueError(f"pending_reasons must be an object, not {_kind(reasons)}")
    reason_items = cast("dict[object, object]", reasons).items()
    if not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in reason_items):
        raise ValueError("pending_reasons must map keys to strings or null")
    return _SnapshotFields(
        workflow=workflow,
        args=tuple(cast("list[object]", args)),
        pending=tuple(cast("list[str]", keys)),
        updated_at=float(updated_at),
        pending_reasons=dict(cast("dict[str, str | None]", reasons)),
    )


def _kind(raw: object) -> str:
    return "null" if raw is None else type(raw).__name__
