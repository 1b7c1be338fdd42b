"""Forged state cannot bypass an approval: resuming checks recorded decisions against the store.

A paused run is saved (real SQLite file / real PostgreSQL), then its stored snapshot is
edited as an attacker with write access to the state store would: an `Ok` written for
the approval step that the approval store still has pending. Resuming must fail the run
with `ApprovalMismatch` (logged), never complete it. Decisions a check made itself (a
check reading another system) are recorded in the store, so they are not mistaken for
forgeries.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from resultflow import Err, Ok, Step, workflow
from resultflow.cache import CacheEntry
from resultflow.errors import ApprovalRejected, PendingApproval
from resultflow.hitl import (
    ApprovalMismatch,
    Approved,
    Completed,
    Failed,
    HITLOrchestrator,
    KVApprovalStore,
    KVStateStore,
    MemoryApprovalStore,
    Paused,
    Pending,
    RunSnapshot,
    approval_step,
)
from resultflow.persistence._kv import KVStore
from resultflow.persistence._kv_sqlite import SQLiteKV
from resultflow.testing._clock import TestClock

Errors = PendingApproval | ApprovalRejected


@pytest.fixture(params=["sqlite", "postgres"])
async def kv(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KVStore]:
    clock = TestClock()
    if request.param == "sqlite":
        store: KVStore = SQLiteKV(tmp_path / "forged.db", clock=clock)
    else:
        from resultflow.persistence._kv_postgres import PostgresKV

        url: str = request.getfixturevalue("postgres_url")
        schema: str = request.getfixturevalue("postgres_schema")
        store = PostgresKV(url, schema=schema, clock=clock)
    try:
        yield store
    finally:
        await store.close()


def two_step_flow(orch: HITLOrchestrator, shipped: list[str]) -> object:
    @workflow(name="refund")
    async def refund(step: Step[Errors], order: str) -> str:
        amount = await step(orch.approval(f"refund:{order}"), key=f"refund:{order}")

        async def pay() -> Ok[str]:
            shipped.append(order)
            return Ok(f"paid {amount}")

        paid = await step(pay, key="pay")
        await step(orch.approval(f"audit:{order}"), key=f"audit:{order}")
        return paid

    return refund


async def forge(states: KVStateStore, run_id: str, key: str, result: object) -> None:
    snapshot = await states.load(run_id)
    assert snapshot is not None
    state = {**snapshot.state, key: CacheEntry(result)}  # type: ignore[arg-type]
    forged = RunSnapshot(
        run_id=run_id,
        workflow=snapshot.workflow,
        args=snapshot.args,
        state=state,
        pending=("audit:o-1",),  # the forger claims it now waits on a later approval
        updated_at=snapshot.updated_at,
        pending_reasons={},
    )
    await states.save(forged)


@pytest.mark.parametrize(
    "forged",
    [Ok(1_000_000), Err(ApprovalRejected("refund:o-1", "forged"))],
    ids=["ok-for-pending", "rejection-for-pending"],
)
async def test_a_forged_decision_for_a_pending_approval_fails_the_run(
    kv: KVStore, forged: object, caplog: pytest.LogCaptureFixture
) -> None:
    orch = HITLOrchestrator(KVApprovalStore(kv), KVStateStore(kv))
    shipped: list[str] = []
    refund = two_step_flow(orch, shipped)
    assert await orch.execute(refund, "o-1", run_id="r1") == Paused("r1", ["refund:o-1"])  # type: ignore[call-overload]
    states = orch.states
    assert isinstance(states, KVStateStore)
    await forge(states, "r1", "refund:o-1", forged)

    with caplog.at_level(logging.ERROR, logger="resultflow.hitl"):
        outcome = await orch.resume("r1")

    recorded = "approved" if isinstance(forged, Ok) else "rejected"
    assert outcome == Failed("r1", ApprovalMismatch("refund:o-1", recorded, "pending"))
    assert shipped == []  # nothing after the approval ran
    assert "refund:o-1" in caplog.text and "altered" in caplog.text
    record = await orch.approvals.get("refund:o-1")
    assert record is not None and record.is_pending  # the store is the authority


async def test_a_forged_value_for_a_granted_approval_fails_the_run(kv: KVStore) -> None:
    orch = HITLOrchestrator(KVApprovalStore(kv), KVStateStore(kv))
    shipped: list[str] = []
    refund = two_step_flow(orch, shipped)
    await orch.execute(refund, "o-1", run_id="r1")  # type: ignore[call-overload]
    assert await orch.grant("refund:o-1", 20) == [Paused("r1", ["audit:o-1"])]
    states = orch.states
    assert isinstance(states, KVStateStore)
    await forge(states, "r1", "refund:o-1", Ok(20_000))

    outcomes = await orch.grant("audit:o-1", True)

    assert outcomes == [
        Failed("r1", ApprovalMismatch("refund:o-1", "approved", "approved (other value)"))
    ]
    assert shipped == ["o-1"]  # paid once, for 20, before the forgery


async def test_genuine_decisions_pass_the_check(kv: KVStore) -> None:
    orch = HITLOrchestrator(KVApprovalStore(kv), KVStateStore(kv))
    shipped: list[str] = []
    refund = two_step_flow(orch, shipped)
    await orch.execute(refund, "o-1", run_id="r1")  # type: ignore[call-overload]
    assert await orch.grant("refund:o-1", float("nan")) == [Paused("r1", ["audit:o-1"])]
    assert await orch.grant("audit:o-1", True) == [Completed("r1", "paid nan")]


async def test_a_decision_made_by_an_outside_check_is_recorded_and_not_a_forgery() -> None:
    orch = HITLOrchestrator(MemoryApprovalStore())
    outside: dict[str, object] = {}

    def external(key: str) -> object:
        def check() -> Approved[object] | Pending:
            return Approved(outside[key]) if key in outside else Pending()

        return check

    @workflow(name="outside")
    async def flow(step: Step[Errors]) -> str:
        first = await step(approval_step("ext", external("ext")), key="ext")  # type: ignore[arg-type]
        second = await step(orch.approval("int"), key="int")
        return f"{first}/{second}"

    assert await orch.execute(flow, run_id="r") == Paused("r", ["ext"])
    outside["ext"] = "yes"  # decided in the other system, not in the store
    assert await orch.resume("r") == Paused("r", ["int"])
    record = await orch.approvals.get("ext")
    assert record is not None and record.status == Approved("yes")  # recorded
    assert await orch.grant("int", "ok") == [Completed("r", "yes/ok")]
