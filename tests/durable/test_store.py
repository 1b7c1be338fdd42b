"""The durable store against a real SQLite file and the real PostgreSQL server."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from resultflow.durable import DurableStoreError, ParentRef, Status, WorkflowInfo
from resultflow.durable._store import (
    Checkpoint,
    DurableStore,
    ExecutionQuery,
    NewExecution,
    NewHistory,
    open_store,
    parse_store_url,
)
from resultflow.durable._store._schema import SCHEMA_VERSION

ORDER = WorkflowInfo("order", "1")


def new(execution_id: str, *, created_at: float = 100.0, **fields: object) -> NewExecution:
    values: dict[str, object] = {
        "workflow": "order",
        "version": "1",
        "input": json.dumps([execution_id]),
        "created_at": created_at,
        "wake_at": created_at,
    }
    values.update(fields)
    return NewExecution(execution_id, **values)  # type: ignore[arg-type]


async def claim_one(store: DurableStore, owner: str, *, now: float = 1e12, lease_s: float = 30.0):
    claimed = await store.claim(owner, [ORDER], ["default"], limit=1, lease_s=lease_s, now=now)
    return claimed[0] if claimed else None


# -- URLs and schema ---------------------------------------------------------------------


def test_store_urls_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_store_url("sqlite:///rel/path.db").target == "rel/path.db"
    assert parse_store_url("sqlite:////abs/path.db").target == "/abs/path.db"
    assert parse_store_url("sqlite://:memory:").in_memory
    assert parse_store_url("postgresql://u@h/db").dialect == "postgres"
    monkeypatch.setenv("RESULTFLOW_DB", "sqlite:///from-env.db")
    assert parse_store_url(None).target == "from-env.db"
    monkeypatch.delenv("RESULTFLOW_DB")
    assert parse_store_url(None).target == "resultflow.db"
    with pytest.raises(ValueError, match="unsupported store URL scheme 'mysql'"):
        parse_store_url("mysql://x")
    with pytest.raises(ValueError, match="names no file"):
        parse_store_url("sqlite:///")


async def test_the_schema_is_created_once_and_reopening_keeps_the_data(store_url: str) -> None:
    store = await open_store(store_url)
    assert await store.schema_version() == SCHEMA_VERSION
    created, _ = await store.create_execution(new("e-1"))
    assert created
    await store.close()
    again = await open_store(store_url)
    try:
        assert await again.schema_version() == SCHEMA_VERSION
        record = await again.get_execution("e-1")
        assert record is not None and record.status is Status.PENDING
    finally:
        await again.close()


async def test_a_schema_newer_than_the_library_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    store = await open_store(f"sqlite:///{path}")
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE rf_schema_version SET version = 99")
    with pytest.raises(DurableStoreError, match="schema is version 99, newer than"):
        await open_store(f"sqlite:///{path}")


async def test_an_unreachable_postgres_is_a_typed_error_in_bounded_time() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    # Port 9 (discard) is closed on this machine: the connection is refused at once.
    from resultflow.durable._store import DurableStore, PostgresDatabase

    store = DurableStore(PostgresDatabase("postgresql://u:secret@127.0.0.1:9/x", connect_timeout=2))
    with pytest.raises(DurableStoreError) as info:
        await store.open()
    assert info.value.backend == "postgres"
    assert "secret" not in str(info.value)
    assert loop.time() - started < 30  # bounded by connect_timeout, never a hang


async def test_a_sqlite_file_that_cannot_be_opened_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(DurableStoreError, match="cannot open the SQLite store") as info:
        await open_store(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    assert info.value.backend == "sqlite"


# -- executions ---------------------------------------------------------------------------


async def test_create_and_get_an_execution(store: DurableStore) -> None:
    created, record = await store.create_execution(
        new("e-1", memo=json.dumps({"who": "ann"}), tags=("vip", "eu"), parent=ParentRef("p", 3))
    )
    assert created
    assert record.status is Status.PENDING
    assert record.attempts == 1
    assert record.tags == ("vip", "eu")
    assert json.loads(record.memo) == {"who": "ann"}
    assert record.parent == ParentRef("p", 3)
    assert await store.get_execution("e-1") == record
    assert await store.get_execution("nope") is None
    page = await store.history("e-1")
    assert page is not None
    assert [(e.seq, e.type) for e in page.items] == [(1, "WorkflowStarted")]


async def test_an_id_conflict_follows_the_policy(store: DurableStore) -> None:
    await store.create_execution(new("e-1"))
    created, existing = await store.create_execution(new("e-1", input="[2]"), "fail")
    assert not created and existing.input == '["e-1"]'
    created, existing = await store.create_execution(new("e-1", input="[2]"), "use_existing")
    assert not created and existing.input == '["e-1"]'

    created, record = await store.create_execution(
        new("e-1", input="[3]", created_at=200.0), "terminate_existing"
    )
    assert created
    assert record.attempts == 2
    assert record.input == "[3]"
    assert record.status is Status.PENDING
    assert record.created_at == 100.0  # listing position kept
    page = await store.history("e-1")
    assert page is not None
    assert [e.type for e in page.items] == [
        "WorkflowStarted",
        "WorkflowTerminated",
        "WorkflowStarted",
    ]


async def test_listing_is_stable_while_executions_arrive(store: DurableStore) -> None:
    for i in range(25):
        await store.create_execution(new(f"e-{i:02}", created_at=float(i // 2)))
    seen: list[str] = []
    cursor: str | None = None
    arrivals = 0
    while True:
        page = await store.list_executions(ExecutionQuery(limit=7, cursor=cursor))
        seen += [r.execution_id for r in page.items]
        # New executions arrive between pages, before and after the cursor's position.
        await store.create_execution(new(f"late-{arrivals}", created_at=5.0))
        await store.create_execution(new(f"new-{arrivals}", created_at=1000.0 + arrivals))
        arrivals += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    originals = [s for s in seen if s.startswith("e-")]
    assert originals == [f"e-{i:02}" for i in range(25)]
    assert len(seen) == len(set(seen))


async def test_listing_filters_and_orders(store: DurableStore) -> None:
    await store.create_execution(new("a", created_at=1.0, tags=("vip", "eu")))
    await store.create_execution(new("b", created_at=2.0, tags=("vip",)))
    await store.create_execution(new("c", created_at=3.0, workflow="refund"))
    await store.create_execution(new("d", created_at=4.0, tags=("eu", "vip", "x")))

    async def ids(**query: object) -> list[str]:
        page = await store.list_executions(ExecutionQuery(**query))  # type: ignore[arg-type]
        return [r.execution_id for r in page.items]

    assert await ids() == ["a", "b", "c", "d"]
    assert await ids(order="desc") == ["d", "c", "b", "a"]
    assert await ids(workflow="refund") == ["c"]
    assert await ids(tags=("vip", "eu")) == ["a", "d"]
    assert await ids(started_after=2.0, started_before=4.0) == ["b", "c"]
    assert await ids(statuses=(Status.PENDING,)) == ["a", "b", "c", "d"]
    assert await ids(statuses=(Status.RUNNING,)) == []
    desc = await store.list_executions(ExecutionQuery(order="desc", limit=3))
    assert [r.execution_id for r in desc.items] == ["d", "c", "b"]
    rest = await store.list_executions(
        ExecutionQuery(order="desc", limit=3, cursor=desc.next_cursor)
    )
    assert [r.execution_id for r in rest.items] == ["a"] and rest.next_cursor is None


async def test_bad_listing_arguments_are_value_errors(store: DurableStore) -> None:
    await store.create_execution(new("a"))
    with pytest.raises(ValueError, match="between 1 and 1000"):
        await store.list_executions(ExecutionQuery(limit=0))
    with pytest.raises(ValueError, match="between 1 and 1000"):
        await store.list_executions(ExecutionQuery(limit=1001))
    with pytest.raises(ValueError, match="not a cursor"):
        await store.list_executions(ExecutionQuery(cursor="garbage"))
    page = await store.history("a", limit=1)
    assert page is not None
    await store.append_history("a", [NewHistory("EventSet", 1.0)])
    page = await store.history("a", limit=1)
    assert page is not None and page.next_cursor is not None
    with pytest.raises(ValueError, match="not of the executions listing"):
        await store.list_executions(ExecutionQuery(cursor=page.next_cursor))
    with pytest.raises(ValueError, match="not a cursor"):
        await store.history("other", cursor=page.next_cursor)


# -- claims, checkpoints, leases -------------------------------------------------------------


async def test_claims_take_only_runnable_executions_of_known_workflows(store: DurableStore) -> None:
    await store.create_execution(new("due", wake_at=10.0))
    await store.create_execution(new("later", wake_at=50.0))
    await store.create_execution(new("other-wf", workflow="refund"))
    await store.create_execution(new("other-queue", queue="bulk"))
    claimed = await store.claim("w1", [ORDER], ["default"], limit=10, lease_s=30, now=20.0)
    assert [r.execution_id for r in claimed] == ["due"]
    assert claimed[0].status is Status.RUNNING and claimed[0].owner == "w1"
    assert claimed[0].started_at == 20.0
    # Held: a second worker gets nothing until the lease runs out.
    assert await store.claim("w2", [ORDER], ["default"], limit=10, lease_s=30, now=20.0) == []
    later = await store.claim("w2", [ORDER], ["default"], limit=10, lease_s=30, now=60.0)
    assert [r.execution_id for r in later] == ["later"]
    assert await store.renew_leases("w1", 30) == {"due"}
    assert await store.renew_leases("w3", 30) == set()


async def test_checkpoints_are_fenced_by_the_lease(store: DurableStore) -> None:
    await store.create_execution(new("e-1"))
    first = await claim_one(store, "w1", lease_s=-1.0)  # a lease already expired
    assert first is not None
    ok = await store.save_checkpoint(
        "w1",
        Checkpoint("e-1", 1, "#1", 1, "step", "reserve", '{"ok": 1}', 1.0),
        [NewHistory("StepStarted", 1.0, "#1"), NewHistory("StepSucceeded", 1.0, "#1")],
    )
    assert ok
    # w2 takes the execution over; w1's late writes are refused and leave no trace.
    taken = await claim_one(store, "w2")
    assert taken is not None and taken.owner == "w2"
    late = Checkpoint("e-1", 1, "#2", 2, "step", "charge", '{"ok": 2}', 2.0)
    assert not await store.save_checkpoint("w1", late, [NewHistory("StepSucceeded", 2.0, "#2")])
    assert not await store.close_execution(
        "w1", "e-1", 1, status=Status.SUCCEEDED, ended_at=2.0, output="{}", error=None
    )
    assert [c.key for c in await store.checkpoints("e-1", 1)] == ["#1"]
    assert await store.save_checkpoint("w2", late)
    assert [(c.position, c.name) for c in await store.checkpoints("e-1", 1)] == [
        (1, "reserve"),
        (2, "charge"),
    ]
    assert await store.close_execution(
        "w2",
        "e-1",
        1,
        status=Status.SUCCEEDED,
        ended_at=3.0,
        output='{"ok": 3}',
        error=None,
        history=[NewHistory("WorkflowSucceeded", 3.0)],
    )
    record = await store.get_execution("e-1")
    assert record is not None
    assert (record.status, record.output, record.ended_at, record.owner) == (
        Status.SUCCEEDED,
        '{"ok": 3}',
        3.0,
        None,
    )
    assert await claim_one(store, "w3") is None
    history = await store.history("e-1")
    assert history is not None
    assert [(e.seq, e.type, e.key) for e in history.items] == [
        (1, "WorkflowStarted", None),
        (2, "StepStarted", "#1"),
        (3, "StepSucceeded", "#1"),
        (4, "WorkflowSucceeded", None),
    ]


async def test_a_checkpoint_of_an_old_run_is_refused(store: DurableStore) -> None:
    await store.create_execution(new("e-1"))
    assert await claim_one(store, "w1") is not None
    await store.create_execution(new("e-1"), "terminate_existing")
    checkpoint = Checkpoint("e-1", 1, "#1", 1, "step", "a", "{}", 1.0)
    assert not await store.save_checkpoint("w1", checkpoint)


async def test_release_puts_an_execution_to_wait(store: DurableStore) -> None:
    await store.create_execution(new("e-1"))
    assert await claim_one(store, "w1", now=100.0) is not None
    assert await store.release(
        "w1",
        "e-1",
        1,
        status=Status.WAITING,
        wake_at=160.0,
        history=[NewHistory("TimerScheduled", 100.0, "#1", json.dumps({"until": 160.0}))],
    )
    assert await claim_one(store, "w2", now=159.0) is None
    woken = await claim_one(store, "w2", now=160.0)
    assert woken is not None and woken.owner == "w2"


async def test_history_pages_in_both_orders(store: DurableStore) -> None:
    await store.create_execution(new("e-1"))
    await store.append_history("e-1", [NewHistory(f"T{i}", float(i)) for i in range(2, 8)])
    assert not await store.append_history("nope", [NewHistory("T", 1.0)])
    assert await store.history("nope") is None
    asc = await store.history("e-1", limit=4)
    assert asc is not None and [e.seq for e in asc.items] == [1, 2, 3, 4]
    rest = await store.history("e-1", limit=4, cursor=asc.next_cursor)
    assert rest is not None and [e.seq for e in rest.items] == [5, 6, 7]
    assert rest.next_cursor is None
    desc = await store.history("e-1", order="desc", limit=5)
    assert desc is not None and [e.seq for e in desc.items] == [7, 6, 5, 4, 3]
    with pytest.raises(ValueError, match="order must be"):
        await store.history("e-1", order="up")


async def test_two_stores_never_claim_the_same_execution(store_url: str) -> None:
    first = await open_store(store_url)
    second = await open_store(store_url)
    try:
        for i in range(60):
            await first.create_execution(new(f"e-{i:02}", created_at=float(i), wake_at=0.0))

        async def drain(store: DurableStore, owner: str) -> list[str]:
            got: list[str] = []
            while True:
                batch = await store.claim(owner, [ORDER], ["default"], limit=3, lease_s=60, now=1.0)
                if not batch:
                    return got
                got += [r.execution_id for r in batch]
                await asyncio.sleep(0)

        a, b = await asyncio.gather(drain(first, "w1"), drain(second, "w2"))
        assert sorted(a + b) == [f"e-{i:02}" for i in range(60)]
        assert not set(a) & set(b)
    finally:
        await first.close()
        await second.close()


async def test_workflows_are_registered_once(store: DurableStore) -> None:
    await store.register_workflows([ORDER, WorkflowInfo("order", "2")], 1.0)
    await store.register_workflows([ORDER, WorkflowInfo("refund", "1")], 2.0)
    assert await store.workflows() == [
        WorkflowInfo("order", "1"),
        WorkflowInfo("order", "2"),
        WorkflowInfo("refund", "1"),
    ]
