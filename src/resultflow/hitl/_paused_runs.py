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
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, cast, runtime_checkable

from resultflow.cache import CacheEntry
from resultflow.clock import Clock
from resultflow.hitl._run_claims import KVRunClaims, MemoryRunClaims
from resultflow.persistence._kv import KVStore
from resultflow.persistence._state_persistence import StatePersistence
from resultflow.persistence._versioning import (
    Migration,
    VersionedState,
    VersionError,
    versioned_loader,
)
from resultflow.result import Err

__all__ = [
    "KVStateStore",
    "MemoryStateStore",
    "RunSnapshot",
    "StateMigrationError",
    "WorkflowStateStore",
]


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """A paused run: `workflow` (its registered name), `args`, the resume `state` of its
    finished steps, the `pending` approval keys, and when it was saved (`updated_at`)."""

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


class StateMigrationError(Exception):
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
    KV store under `claim_prefix`, which must not start with the state prefix.
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
    ) -> None:
        self.persistence = (
            store if isinstance(store, StatePersistence) else StatePersistence(store, prefix)
        )
        if claim_prefix.startswith(self.persistence.prefix):
            raise ValueError(
                f"claim_prefix {claim_prefix!r} must not start with the state prefix "
                f"{self.persistence.prefix!r} (claims would be listed as runs)"
            )
        self.claims = KVRunClaims(self.persistence.kv, claim_prefix)
        self.version = version
        self._load_state = versioned_loader(version, dict(migrations or {}), strict=strict)

    async def save(self, snapshot: RunSnapshot) -> None:
        """Store `snapshot` (raises `SerializationError` for arguments the codec cannot write)."""
        meta: dict[str, object] = {
            "kind": "hitl-run",
            "workflow": snapshot.workflow,
            "args": list(snapshot.args),
            "pending": list(snapshot.pending),
            "pending_reasons": dict(snapshot.pending_reasons),
            "updated_at": snapshot.updated_at,
        }
        await self.persistence.save(snapshot.run_id, snapshot.state, meta, version=self.version)

    async def load(self, run_id: str) -> RunSnapshot | None:
        """The snapshot of `run_id`, migrated to `version`, or None.

        Raises `CorruptEntryError` for an unreadable document and `StateMigrationError`
        for a state that cannot be migrated.
        """
        loaded = await self.persistence.load(run_id)
        if loaded is None:
            return None
        state = self._load_state(VersionedState(loaded.version, loaded.state))
        if isinstance(state, Err):
            raise StateMigrationError(run_id, state.error)
        meta = loaded.meta or {}
        return RunSnapshot(
            run_id=run_id,
            workflow=str(meta.get("workflow", "")),
            args=tuple(_list(meta.get("args"))),
            state=state.value,
            pending=tuple(str(key) for key in _list(meta.get("pending"))),
            updated_at=_float(meta.get("updated_at")),
            pending_reasons=_reasons(meta.get("pending_reasons")),
        )

    async def delete(self, run_id: str) -> None:
        """Forget `run_id`."""
        await self.persistence.delete(run_id)

    async def list_runs(self) -> builtins.list[str]:
        """Every stored run id, sorted (one scan of the store)."""
        prefix = self.persistence.prefix
        found = {key[len(prefix) :] async for key in self.persistence.kv.scan(prefix)}
        return sorted(found)

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


def _list(raw: object) -> builtins.list[object]:
    if isinstance(raw, list | tuple):
        return list(cast("list[object] | tuple[object, ...]", raw))
    return []


def _float(raw: object) -> float:
    return float(raw) if isinstance(raw, int | float) else 0.0


def _reasons(raw: object) -> dict[str, str | None]:
    if not isinstance(raw, dict):
        return {}
    items = cast("dict[object, object]", raw).items()
    return {str(k): v if isinstance(v, str) else None for k, v in items}
