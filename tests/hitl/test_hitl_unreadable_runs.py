"""A decision reads only the runs waiting on its key, and one unreadable run blocks no one.

Runs are paused in real SQLite files and the real PostgreSQL server, then one of them is
made unreadable the ways it happens in production: a corrupt document, a state written
by a newer deployment (`StateMigrationError`), a workflow this process has not
registered. Granting must still resume every other waiting run, report the broken one
(logged, in `.skipped`), leave it stored, and never raise.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from resultflow import Step, workflow
from resultflow._runtime.runner import Workflow
from resultflow.errors import ApprovalRejected, PendingApproval
from resultflow.hitl import (
    Completed,
    HITLOrchestrator,
    KVApprovalStore,
    KVStateStore,
    MemoryApprovalStore,
    MemoryStateStore,
    Paused,
    SkippedRun,
    StateMigrationError,
    UnknownWorkflowError,
    WaitingRuns,
    approval_handler,
)
from resultflow.persistence._kv import CorruptEntryError, KVStore, MemoryKV
from resultflow.persistence._kv_sqlite import SQLiteKV
from resultflow.testing._clock import TestClock

Errors = PendingApproval | ApprovalRejected


@pytest.fixture(params=["sqlite", "postgres"])
async def kv(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KVStore]:
    clock = TestClock()
    if request.param == "sqlite":
        store: KVStore = SQLiteKV(tmp_path / "hitl.db", clock=clock)
    else:
        from resultflow.persistence._kv_postgres import PostgresKV

        url: str = request.getfixturevalue("postgres_url")
        schema: str = request.getfixturevalue("postgres_schema")
        store = PostgresKV(url, schema=schema, clock=clock)
    try:
        yield store
    finally:
        await store.close()


def orchestrator(kv: KVStore, *, version: int = 1) -> HITLOrchestrator:
    return HITLOrchestrator(KVApprovalStore(kv), KVStateStore(kv, version=version))


def approve_flow(orch: HITLOrchestrator, name: str = "approve") -> Workflow[[str], str, object]:
    @workflow(name=name)
    async def flow(step: Step[Errors], key: str) -> str:
        value = await step(orch.approval(key), key=key)
        return f"{name}:{value}"

    return flow  # type: ignore[return-value]


async def test_a_corrupt_run_is_skipped_and_reported_while_the_others_resume(
    kv: KVStore, caplog: pytest.LogCaptureFixture
) -> None:
    orch = orchestrator(kv)
    flow = approve_flow(orch)
    for run_id in ("a", "broken", "c"):
        assert await orch.execute(flow, "k", run_id=run_id) == Paused(run_id, ["k"])
    await kv.set("hitl-run:broken", "{not json")

    with caplog.at_level(logging.ERROR, logger="resultflow.hitl"):
        outcomes = await orch.grant("k", 7, actor="ann")

    assert outcomes == [Completed("a", "approve:7"), Completed("c", "approve:7")]
    assert [skipped.run_id for skipped in outcomes.skipped] == ["broken"]
    assert isinstance(outcomes.skipped[0].error, CorruptEntryError)
    assert "'broken'" in caplog.text and "'k'" in caplog.text
    assert await orch.states.list_runs() == ["broken"]  # left stored for a later resume
    with pytest.raises(CorruptEntryError):
        await orch.resume("broken")


async def test_a_run_from_a_newer_deployment_or_an_unknown_workflow_is_skipped(
    kv: KVStore,
) -> None:
    newer = orchestrator(kv, version=2)
    assert await newer.execute(approve_flow(newer), "k", run_id="from-v2") == Paused(
        "from-v2", ["k"]
    )
    other = orchestrator(kv)
    assert await other.execute(approve_flow(other, "other"), "k", run_id="other-wf") == Paused(
        "other-wf", ["k"]
    )
    ours = orchestrator(kv)  # version 1, and only "approve" registered
    assert await ours.execute(approve_flow(ours), "k", run_id="ours") == Paused("ours", ["k"])
    ours.register(approve_flow(ours))

    fresh = orchestrator(kv)  # a process that knows only "approve", at version 1
    fresh.register(approve_flow(fresh))
    outcomes = await fresh.grant("k", 1)

    assert outcomes == [Completed("ours", "approve:1")]
    skipped = {item.run_id: type(item.error) for item in outcomes.skipped}
    assert skipped == {"from-v2": StateMigrationError, "other-wf": UnknownWorkflowError}
    assert await fresh.states.list_runs() == ["from-v2", "other-wf"]


async def test_a_decision_reads_only_the_runs_waiting_on_its_key(kv: KVStore) -> None:
    orch = orchestrator(kv)
    flow = approve_flow(orch)
    await orch.execute(flow, "other", run_id="elsewhere")
    await orch.execute(flow, "k", run_id="here")
    await kv.set("hitl-run:elsewhere", "{not json")  # broken, but waits on another key

    outcomes = await orch.grant("k", 2)

    assert outcomes == [Completed("here", "approve:2")]
    assert outcomes.skipped == []  # the broken run was never read
    assert await orch.paused_runs("k") == []
    assert await orch.paused_runs("other") == ["elsewhere"]  # indexed there, unreadable


async def test_the_index_follows_runs_from_key_to_key_and_away(kv: KVStore) -> None:
    orch = orchestrator(kv)

    @workflow(name="two")
    async def two(step: Step[Errors]) -> str:
        first = await step(orch.approval("first"), key="first")
        second = await step(orch.approval("second"), key="second")
        return f"{first}{second}"

    states = orch.states
    assert isinstance(states, WaitingRuns)
    await orch.execute(two, run_id="r")
    assert await states.runs_waiting("first") == ["r"]
    assert await orch.grant("first", "a") == [Paused("r", ["second"])]
    assert await states.runs_waiting("first") == []
    assert await states.runs_waiting("second") == ["r"]
    assert await orch.grant("second", "b") == [Completed("r", "ab")]
    assert await states.runs_waiting("second") == []
    assert [key async for key in kv.scan("hitl-wait:")] == []  # nothing left behind


async def test_keys_that_extend_one_another_have_separate_index_entries() -> None:
    orch = HITLOrchestrator(MemoryApprovalStore(), KVStateStore(MemoryKV()))
    flow = approve_flow(orch)
    for key, run_id in (("a", "1:b"), ("a:1", "b"), ("a:1:b", "x")):
        await orch.execute(flow, key, run_id=run_id)
    states = orch.states
    assert isinstance(states, WaitingRuns)
    assert await states.runs_waiting("a") == ["1:b"]
    assert await states.runs_waiting("a:1") == ["b"]
    assert await states.runs_waiting("a:1:b") == ["x"]


async def test_approval_handler_answers_200_although_another_run_is_broken(
    tmp_path: Path,
) -> None:
    kv = SQLiteKV(tmp_path / "handler.db")
    try:
        orch = orchestrator(kv)
        flow = approve_flow(orch)
        await orch.execute(flow, "k", run_id="good")
        await orch.execute(flow, "k", run_id="bad")
        await kv.set("hitl-run:bad", '{"format": 1, "version": 1, "steps": 5}')
        resumed: list[object] = []

        async def on_decision(record: object) -> None:
            resumed.extend(await orch.resume_waiting("k"))

        handle = approval_handler(orch.approvals, lambda request: "ann", on_decision=on_decision)
        response = await handle({"key": "k", "action": "approve", "value": 3})

        assert response.status == 200
        assert resumed == [Completed("good", "approve:3")]
    finally:
        await kv.close()


async def test_a_state_store_without_an_index_still_skips_unreadable_runs() -> None:
    class Unindexed(MemoryStateStore):
        """A custom store: no `runs_waiting`, and one snapshot that cannot be read."""

        runs_waiting = None  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.broken: set[str] = set()

        async def load(self, run_id: str) -> object:  # type: ignore[override]
            if run_id in self.broken:
                raise CorruptEntryError("custom", run_id, "unreadable")
            return await super().load(run_id)

    states = Unindexed()
    assert not isinstance(states, WaitingRuns)
    orch = HITLOrchestrator(MemoryApprovalStore(), states)
    flow = approve_flow(orch)
    await orch.execute(flow, "k", run_id="bad")
    await orch.execute(flow, "k", run_id="good")
    states.broken.add("bad")

    outcomes = await orch.grant("k", 5)

    assert outcomes == [Completed("good", "approve:5")]
    assert outcomes.skipped == [SkippedRun("bad", outcomes.skipped[0].error)]
    assert await orch.paused_runs("k") == []
