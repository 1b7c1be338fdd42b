"""Approval stores and run state stores: memory, and KV on MemoryKV, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from resultflow import Err, Ok
from resultflow.cache import CacheEntry
from resultflow.errors import PendingApproval
from resultflow.hitl import (
    ApprovalAlreadyDecided,
    ApprovalNotFound,
    ApprovalRecord,
    ApprovalStore,
    Approved,
    KVApprovalStore,
    KVStateStore,
    MemoryApprovalStore,
    MemoryStateStore,
    Pending,
    Rejected,
    RunSnapshot,
    StateMigrationError,
    WorkflowStateStore,
    approval_check,
)
from resultflow.persistence import rename_keys
from resultflow.persistence._kv import CorruptEntryError, KVStore, MemoryKV
from resultflow.persistence._kv_sqlite import SQLiteKV
from resultflow.persistence._state_persistence import StatePersistence
from resultflow.testing._clock import TestClock

STORES = ["memory", "kv-memory", "kv-sqlite", "kv-postgres"]


@dataclasses.dataclass
class Fixture:
    store: ApprovalStore
    clock: TestClock
    kv: KVStore | None


async def _kv(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path, clock: TestClock
) -> KVStore:
    if kind == "kv-memory":
        return MemoryKV(clock=clock)
    if kind == "kv-sqlite":
        return SQLiteKV(tmp_path / "hitl.db", clock=clock)
    from resultflow.persistence._kv_postgres import PostgresKV

    url: str = request.getfixturevalue("postgres_url")
    schema: str = request.getfixturevalue("postgres_schema")
    return PostgresKV(url, schema=schema, clock=clock)


@pytest.fixture(params=STORES)
async def approvals(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Fixture]:
    clock = TestClock()
    if request.param == "memory":
        yield Fixture(MemoryApprovalStore(clock=clock), clock, None)
        return
    kv = await _kv(request, request.param, tmp_path, clock)
    try:
        yield Fixture(KVApprovalStore(kv, clock=clock), clock, kv)
    finally:
        await kv.close()


async def test_create_get_and_list_pending(approvals: Fixture) -> None:
    store, clock = approvals.store, approvals.clock
    assert await store.get("refund:1") is None
    created = await store.create_pending("refund:1", reason="over limit", meta={"order": 1})
    assert created == ApprovalRecord(
        key="refund:1",
        status=Pending("over limit"),
        created_at=clock.now(),
        meta={"order": 1},
    )
    assert (created.state, created.reason, created.value) == ("pending", "over limit", None)
    assert await store.get("refund:1") == created
    clock.advance(1)
    await store.create_pending("refund:2")
    assert [r.key for r in await store.list_pending()] == ["refund:1", "refund:2"]
    # idempotent: a second create returns the existing record unchanged
    again = await store.create_pending("refund:1", reason="other")
    assert again == created


async def test_grant_records_value_actor_and_time(approvals: Fixture) -> None:
    store, clock = approvals.store, approvals.clock
    await store.create_pending("k")
    clock.advance(30)
    decided = await store.grant("k", {"amount": 120, "when": dt.date(2024, 5, 1)}, actor="ann")
    assert isinstance(decided, Ok)
    record = decided.value
    assert record.status == Approved({"amount": 120, "when": dt.date(2024, 5, 1)})
    assert record.state == "approved" and record.reason is None
    assert record.value == {"amount": 120, "when": dt.date(2024, 5, 1)}
    assert record.actor == "ann"
    assert record.decided_at == clock.now()
    assert await store.get("k") == record
    assert record.to_status() == Approved({"amount": 120, "when": dt.date(2024, 5, 1)})
    assert await store.list_pending() == []


async def test_reject_and_cancel(approvals: Fixture) -> None:
    store = approvals.store
    await store.create_pending("a")
    await store.create_pending("b")
    rejected = await store.reject("a", "too expensive", actor="bob")
    assert isinstance(rejected, Ok)
    assert (rejected.value.status, rejected.value.reason, rejected.value.actor) == (
        Rejected("too expensive"),
        "too expensive",
        "bob",
    )
    assert (rejected.value.state, rejected.value.value) == ("rejected", None)
    cancelled = await store.cancel("b")
    assert isinstance(cancelled, Ok)
    assert cancelled.value.to_status() == Rejected("cancelled")


async def test_unknown_and_already_decided_keys_are_errors(approvals: Fixture) -> None:
    store = approvals.store
    assert await store.grant("ghost", 1) == Err(ApprovalNotFound(key="ghost"))
    assert await store.reject("ghost", "no") == Err(ApprovalNotFound(key="ghost"))
    assert await store.cancel("ghost") == Err(ApprovalNotFound(key="ghost"))
    await store.create_pending("k")
    assert isinstance(await store.grant("k", 1, actor="ann"), Ok)
    assert await store.grant("k", 2) == Err(ApprovalAlreadyDecided(key="k", status="approved"))
    assert await store.reject("k", "late") == Err(
        ApprovalAlreadyDecided(key="k", status="approved")
    )
    record = await store.get("k")
    assert record is not None and record.value == 1  # never overwritten


async def test_expiry_turns_pending_into_rejected_expired(approvals: Fixture) -> None:
    store, clock = approvals.store, approvals.clock
    deadline = clock.now() + 60
    await store.create_pending("soon", expires_at=deadline)
    await store.create_pending("later", expires_at=deadline + 600)
    clock.advance(59)
    pending = await store.get("soon")
    assert pending is not None and pending.is_pending
    clock.advance(1)
    expired = await store.get("soon")
    assert expired is not None
    assert (expired.status, expired.reason, expired.decided_at) == (
        Rejected("expired"),
        "expired",
        deadline,
    )
    assert [r.key for r in await store.list_pending()] == ["later"]
    assert await store.grant("soon", 1) == Err(ApprovalAlreadyDecided("soon", "rejected"))
    clock.advance(600)
    assert await store.list_pending() == []
    later = await store.get("later")
    assert later is not None and later.reason == "expired"


async def test_approval_check_reads_the_store(approvals: Fixture) -> None:
    store = approvals.store
    check = approval_check(store, "k")
    assert await check() == Pending()
    await store.create_pending("k", reason="sign-off")
    assert await check() == Pending("sign-off")
    await store.grant("k", "yes")
    assert await check() == Approved("yes")


async def test_bad_reason_type_is_a_type_error(approvals: Fixture) -> None:
    await approvals.store.create_pending("k")
    with pytest.raises(TypeError, match="reason must be a str"):
        await approvals.store.reject("k", None)  # type: ignore[arg-type]


async def test_kv_store_shares_records_between_instances_and_reports_corruption(
    tmp_path: Path,
) -> None:
    clock = TestClock()
    kv = SQLiteKV(tmp_path / "shared.db", clock=clock)
    try:
        first = KVApprovalStore(kv, clock=clock)
        second = KVApprovalStore(kv, clock=clock)
        await first.create_pending("k", meta={"run_id": "r1"})
        assert isinstance(await second.grant("k", [1, 2], actor="ann"), Ok)
        record = await first.get("k")
        assert record is not None and record.value == [1, 2] and record.meta == {"run_id": "r1"}
        await kv.set("approval:bad", "{not json")
        with pytest.raises(CorruptEntryError, match="approval:bad"):
            await first.get("bad")
        await kv.set("approval:bad", '{"status": "maybe", "created_at": 1}')
        with pytest.raises(CorruptEntryError, match="status must be"):
            await first.get("bad")
        await kv.set("approval:bad", "[" * 100_000 + "]" * 100_000)
        with pytest.raises(CorruptEntryError, match="nested too deeply"):
            await first.get("bad")
    finally:
        await kv.close()


def test_stores_satisfy_the_protocols() -> None:
    assert isinstance(MemoryApprovalStore(), ApprovalStore)
    assert isinstance(KVApprovalStore(MemoryKV()), ApprovalStore)
    assert isinstance(MemoryStateStore(), WorkflowStateStore)
    assert isinstance(KVStateStore(MemoryKV()), WorkflowStateStore)


# -- run state stores --------------------------------------------------------------------
def _snapshot(run_id: str = "run-1") -> RunSnapshot:
    return RunSnapshot(
        run_id=run_id,
        workflow="checkout",
        args=("order-7", 3, dt.date(2024, 1, 2)),
        state={"reserve": CacheEntry(Ok({"sku": "A"}), {"step_id": "s1"})},
        pending=("approve:order-7",),
        updated_at=1_700_000_000.0,
        pending_reasons={"approve:order-7": "big order"},
    )


@pytest.fixture(params=["memory", "kv-memory", "kv-sqlite", "kv-postgres"])
async def states(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[WorkflowStateStore]:
    if request.param == "memory":
        yield MemoryStateStore()
        return
    kv = await _kv(request, request.param, tmp_path, TestClock())
    try:
        yield KVStateStore(kv)
    finally:
        await kv.close()


async def test_state_store_round_trip_list_and_delete(states: WorkflowStateStore) -> None:
    assert await states.load("run-1") is None
    await states.save(_snapshot("run-2"))
    await states.save(_snapshot("run-1"))
    loaded = await states.load("run-1")
    assert loaded == _snapshot("run-1")
    assert await states.list_runs() == ["run-1", "run-2"]
    await states.delete("run-1")
    await states.delete("run-1")
    assert await states.list_runs() == ["run-2"]


class CountingKV(MemoryKV):
    """A MemoryKV that counts its scans."""

    scans = 0

    def scan(self, prefix: str = "") -> AsyncIterator[str]:
        self.scans += 1
        return super().scan(prefix)


async def test_kv_state_store_lists_many_runs_in_one_scan() -> None:
    kv = CountingKV()
    states = KVStateStore(kv)
    run_ids = [f"run-{index:04d}" for index in range(1200)]
    for run_id in reversed(run_ids):
        await states.save(_snapshot(run_id))
    await kv.set("other:run-x", "not a run")
    assert await states.list_runs() == run_ids
    assert kv.scans == 1


async def test_kv_state_store_migrates_old_versions() -> None:
    kv = MemoryKV()
    old = KVStateStore(kv, version=1)
    await old.save(_snapshot())
    new = KVStateStore(kv, version=2, migrations={1: rename_keys({"reserve": "reserve_stock"})})
    loaded = await new.load("run-1")
    assert loaded is not None
    assert list(loaded.state) == ["reserve_stock"]
    assert loaded.state["reserve_stock"].result == Ok({"sku": "A"})

    missing = KVStateStore(kv, version=3, migrations={2: rename_keys({})})
    with pytest.raises(StateMigrationError, match="run-1") as info:
        await missing.load("run-1")
    assert info.value.error.tag == "MissingMigration"
    await new.save(_snapshot())
    with pytest.raises(StateMigrationError):
        await old.load("run-1")  # written by newer code


async def test_kv_state_store_over_a_state_persistence_and_pending_entries() -> None:
    persistence = StatePersistence(MemoryKV(), prefix="paused:")
    store = KVStateStore(persistence)
    snapshot = dataclasses.replace(
        _snapshot(), state={"x": CacheEntry(Err(PendingApproval("x", "why")))}
    )
    await store.save(snapshot)
    assert await persistence.list() is not None
    assert (await persistence.list()).items == ["run-1"]
    assert await store.load("run-1") == snapshot
