"""Approval decisions happen exactly once, across store instances and OS processes.

`KVApprovalStore` changes a record with `compare_and_set` against the document it read:
a rival change in between makes it read again and report the rival's decision. Tested
deterministically (a rival acting between the read and the write), with many concurrent
tasks on two store instances, and with two OS processes deciding the same keys.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from resultflow import Err, Ok
from resultflow.cache import CacheEntry
from resultflow.hitl import (
    ApprovalAlreadyDecided,
    ApprovalDecision,
    ApprovalRecord,
    Approved,
    KVApprovalStore,
    KVStateStore,
    Rejected,
    RunSnapshot,
)
from resultflow.persistence._kv import KVStore, MemoryKV, StoreError
from resultflow.persistence._kv_sqlite import SQLiteKV
from resultflow.testing._clock import TestClock

WORKER = Path(__file__).with_name("approval_race_worker.py")


class RivalKV(MemoryKV):
    """A MemoryKV that lets a rival act once, right before the next compare_and_set."""

    def __init__(self, clock: TestClock) -> None:
        super().__init__(clock=clock)
        self.rival: Callable[[], Awaitable[object]] | None = None
        self.attempts = 0

    async def compare_and_set(
        self, key: str, expected: str | None, value: str, ttl: float | None = None
    ) -> bool:
        self.attempts += 1
        rival, self.rival = self.rival, None
        if rival is not None:
            await rival()
        return await super().compare_and_set(key, expected, value, ttl)


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


@pytest.fixture
def rival_kv(clock: TestClock) -> RivalKV:
    return RivalKV(clock)


async def test_a_decision_made_between_read_and_write_wins(
    rival_kv: RivalKV, clock: TestClock
) -> None:
    mine, theirs = KVApprovalStore(rival_kv, clock=clock), KVApprovalStore(rival_kv, clock=clock)
    await mine.create_pending("refund:1")
    rival_kv.rival = lambda: theirs.reject("refund:1", "fraud", actor="bob")
    decided = await mine.grant("refund:1", 120, actor="ann")
    assert decided == Err(ApprovalAlreadyDecided(key="refund:1", status="rejected"))
    record = await mine.get("refund:1")
    assert record is not None
    assert (record.status, record.actor) == (Rejected("fraud"), "bob")


async def test_grant_retries_when_the_record_changed_but_is_still_pending(
    rival_kv: RivalKV, clock: TestClock
) -> None:
    """A rival rewrote the pending record (same content, a new document): the grant reads
    it again and succeeds on the second compare_and_set."""
    store = KVApprovalStore(rival_kv, clock=clock)
    await store.create_pending("k", reason="why")
    text = await rival_kv.get("approval:k")
    assert text is not None

    async def rewrite() -> None:
        await rival_kv.set("approval:k", json.dumps(json.loads(text), indent=1))

    rival_kv.rival = rewrite
    rival_kv.attempts = 0
    decided = await store.grant("k", "yes", actor="ann")
    assert isinstance(decided, Ok) and decided.value.status == Approved("yes")
    assert rival_kv.attempts == 2
    assert await store.get("k") == decided.value


async def test_racing_create_pending_keeps_the_first_record(
    rival_kv: RivalKV, clock: TestClock
) -> None:
    mine, theirs = KVApprovalStore(rival_kv, clock=clock), KVApprovalStore(rival_kv, clock=clock)
    rival_kv.rival = lambda: theirs.create_pending("k", reason="theirs", meta={"run_id": "r2"})
    record = await mine.create_pending("k", reason="mine", meta={"run_id": "r1"})
    assert (record.reason, record.meta) == ("theirs", {"run_id": "r2"})
    assert await mine.get("k") == record


async def test_an_expiry_racing_a_decision_keeps_the_decision(
    rival_kv: RivalKV, clock: TestClock
) -> None:
    """`get` finds the approval past its deadline and records the expiry; a grant from
    another process, whose clock still read before the deadline, landed first, so the
    expiry is not written over it."""
    mine = KVApprovalStore(rival_kv, clock=clock)
    their_clock = TestClock(clock.now())
    theirs = KVApprovalStore(rival_kv, clock=their_clock)
    await mine.create_pending("k", expires_at=clock.now() + 60)
    clock.advance(60)
    their_clock.advance(59)
    granted: list[ApprovalDecision] = []

    async def grant_just_in_time() -> None:
        granted.append(await theirs.grant("k", "ok", actor="ann"))

    rival_kv.rival = grant_just_in_time
    record = await mine.get("k")
    assert isinstance(granted[0], Ok)
    assert record == granted[0].value
    assert record is not None and record.status == Approved("ok")


async def test_an_expiry_is_recorded_once(rival_kv: RivalKV, clock: TestClock) -> None:
    mine, theirs = KVApprovalStore(rival_kv, clock=clock), KVApprovalStore(rival_kv, clock=clock)
    deadline = clock.now() + 60
    await mine.create_pending("k", expires_at=deadline)
    clock.advance(61)
    rival_kv.rival = lambda: theirs.get("k")  # expires it first
    decided = await mine.cancel("k", actor="ann")
    assert decided == Err(ApprovalAlreadyDecided(key="k", status="rejected"))
    record = await mine.get("k")
    assert record is not None
    assert (record.status, record.decided_at, record.actor) == (Rejected("expired"), deadline, None)


class RefusingKV(MemoryKV):
    """A broken store: its compare_and_set refuses every replacement of a value."""

    async def compare_and_set(
        self, key: str, expected: str | None, value: str, ttl: float | None = None
    ) -> bool:
        if expected is not None:
            return False
        return await super().compare_and_set(key, expected, value, ttl)


async def test_a_store_that_always_refuses_is_an_error_not_a_hang() -> None:
    kv = RefusingKV()
    store = KVApprovalStore(kv)
    await store.create_pending("k")
    with pytest.raises(StoreError, match="changed under each of 50 attempts") as raised:
        await store.grant("k", 1)
    assert raised.value.backend == "memory"
    record = await store.get("k")
    assert record is not None and record.is_pending


# -- two store instances, many concurrent tasks ------------------------------------------
@pytest.fixture(params=["sqlite", "postgres"])
async def two_kvs(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[KVStore, KVStore]]:
    """Two separate KV stores (own connections) on the same data."""
    if request.param == "sqlite":
        pair: tuple[KVStore, KVStore] = (
            SQLiteKV(tmp_path / "hitl.db"),
            SQLiteKV(tmp_path / "hitl.db"),
        )
    else:
        from resultflow.persistence._kv_postgres import PostgresKV

        url: str = request.getfixturevalue("postgres_url")
        schema: str = request.getfixturevalue("postgres_schema")
        pair = (PostgresKV(url, schema=schema), PostgresKV(url, schema=schema))
    try:
        yield pair
    finally:
        for kv in pair:
            await kv.close()


def _winner(outcomes: list[ApprovalDecision]) -> ApprovalRecord:
    wins = [outcome.value for outcome in outcomes if isinstance(outcome, Ok)]
    assert len(wins) == 1, outcomes
    losers = [outcome for outcome in outcomes if not isinstance(outcome, Ok)]
    expected = Err(ApprovalAlreadyDecided(key=wins[0].key, status=wins[0].state))
    assert losers == [expected] * (len(outcomes) - 1)
    return wins[0]


async def test_concurrent_decisions_on_two_store_instances_have_one_winner(
    two_kvs: tuple[KVStore, KVStore],
) -> None:
    first, second = KVApprovalStore(two_kvs[0]), KVApprovalStore(two_kvs[1])
    keys = [f"order:{index}" for index in range(15)]
    created = await asyncio.gather(
        *(
            store.create_pending(key, reason=name)
            for key in keys
            for store, name in ((first, "first"), (second, "second"))
        )
    )
    for key in keys:
        mine = [record for record in created if record.key == key]
        assert mine[0] == mine[1]  # both callers got the one record that was created
        assert await first.get(key) == mine[0]

    async def decide_all(key: str) -> list[ApprovalDecision]:
        return list(
            await asyncio.gather(
                first.grant(key, "first", actor="first"),
                second.reject(key, "second", actor="second"),
                first.cancel(key, actor="first-cancel"),
                second.grant(key, "second", actor="second"),
            )
        )

    results = await asyncio.gather(*(decide_all(key) for key in keys))
    for key, outcomes in zip(keys, results, strict=True):
        winner = _winner(outcomes)
        assert await first.get(key) == winner
        assert await second.get(key) == winner
    assert await first.list_pending() == []


async def test_state_store_writes_whole_snapshots_from_two_instances(
    two_kvs: tuple[KVStore, KVStore],
) -> None:
    """`KVStateStore` has no read-modify-write: each save, load and delete is one KV call,
    so concurrent saves of one run from two instances leave one whole snapshot."""
    first, second = KVStateStore(two_kvs[0]), KVStateStore(two_kvs[1])
    snapshots = [
        RunSnapshot(
            run_id="run-1",
            workflow="checkout",
            args=(f"writer-{index}", "x" * 5_000),
            state={f"step-{index}": CacheEntry(Ok(index))},
            pending=(f"approve:{index}",),
            updated_at=float(index),
        )
        for index in range(12)
    ]
    stores = [first, second]
    await asyncio.gather(
        *(stores[index % 2].save(snapshot) for index, snapshot in enumerate(snapshots))
    )
    assert await first.load("run-1") in snapshots
    assert await second.load("run-1") == await first.load("run-1")
    assert await second.list_runs() == ["run-1"]


# -- two OS processes ----------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_two_processes_deciding_the_same_keys_decide_each_once(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """One process grants, the other rejects the same 30 pending keys at the same time:
    each key has exactly one Ok, the other process gets ApprovalAlreadyDecided, and the
    stored record is the winner's."""
    if backend == "sqlite":
        config: dict[str, object] = {"backend": "sqlite", "path": str(tmp_path / "hitl.db")}
        kv: KVStore = SQLiteKV(tmp_path / "hitl.db")
    else:
        from resultflow.persistence._kv_postgres import PostgresKV

        url: str = request.getfixturevalue("postgres_url")
        schema: str = request.getfixturevalue("postgres_schema")
        config = {"backend": "postgres", "url": url, "schema": schema}
        kv = PostgresKV(url, schema=schema)
    store = KVApprovalStore(kv)
    keys = [f"refund:{index}" for index in range(30)]
    try:
        for key in keys:
            await store.create_pending(key)
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        actions = {"granter": "grant", "rejecter": "reject"}
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(WORKER),
                json.dumps(
                    {
                        **config,
                        "name": name,
                        "action": action,
                        "keys": keys,
                        "barrier": str(barrier),
                        "workers": len(actions),
                    }
                ),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for name, action in actions.items()
        ]
        reports: dict[str, dict[str, str]] = {}
        for name, worker in zip(actions, workers, strict=True):
            out, err = await asyncio.wait_for(worker.communicate(), timeout=120)
            assert worker.returncode == 0, err.decode()
            reports[name] = json.loads(out.decode().strip().splitlines()[-1])
        for key in keys:
            outcomes = {name: reports[name][key] for name in actions}
            winners = [name for name, outcome in outcomes.items() if outcome == "Ok"]
            assert len(winners) == 1, (key, outcomes)
            (winner,) = winners
            record = await store.get(key)
            assert record is not None and record.actor == winner
            if winner == "granter":
                assert record.status == Approved("granter")
                assert outcomes["rejecter"] == "ApprovalAlreadyDecided:approved"
            else:
                assert record.status == Rejected("rejecter")
                assert outcomes["granter"] == "ApprovalAlreadyDecided:rejected"
        assert await store.list_pending() == []
    finally:
        await kv.close()
