"""Run claims: one process at a time runs or resumes a given HITL run.

The claim stores (memory, KV on MemoryKV / SQLite / PostgreSQL), `Lease` renewal and
loss, the orchestrator with many tasks and with two orchestrators sharing stores, a
crashed holder taken over after expiry, the missed wake-up after a release, and two OS
processes resuming / granting the same run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from resultflow import Ok, Step, workflow
from resultflow._runtime.runner import Workflow
from resultflow.errors import ApprovalRejected, PendingApproval, UnexpectedError
from resultflow.hitl import (
    Completed,
    HITLOrchestrator,
    KVApprovalStore,
    KVStateStore,
    MemoryApprovalStore,
    MemoryStateStore,
    Paused,
    RunSnapshot,
    UnknownRunError,
)
from resultflow.hitl._run_claims import (
    ClaimLostError,
    KVRunClaims,
    Lease,
    MemoryRunClaims,
    RunBusyError,
    RunClaims,
)
from resultflow.persistence._kv import KVStore, MemoryKV
from resultflow.persistence._kv_sqlite import SQLiteKV
from resultflow.testing._clock import TestClock

Errors = PendingApproval | ApprovalRejected
WORKER = Path(__file__).with_name("claims_worker.py")


def postgres_kv(url: str, schema: str, clock: TestClock) -> KVStore:
    """A real PostgresKV whose server time also moves with `clock` (virtual expiry).

    Claims on PostgreSQL expire on the database server's clock; to test expiry without
    waiting, the time the server reports is shifted by the virtual time elapsed. The
    statements, the row locks and the server's clock itself are the real ones.
    """
    from resultflow.persistence._kv_postgres import PostgresKV

    started = clock.monotonic()

    class ShiftedServerTime(PostgresKV):
        async def server_time(self) -> float:
            return await super().server_time() + (clock.monotonic() - started)

    return ShiftedServerTime(url, schema=schema, clock=clock)


# -- claim stores ---------------------------------------------------------------------
@pytest.fixture(params=["memory", "memory-kv", "sqlite", "postgres"])
async def claims_on(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[RunClaims, TestClock]]:
    """A claim store whose expiry follows a TestClock."""
    clock = TestClock()
    kv: KVStore | None = None
    if request.param == "memory":
        claims: RunClaims = MemoryRunClaims(clock)
    else:
        if request.param == "memory-kv":
            kv = MemoryKV(clock=clock)
        elif request.param == "sqlite":
            kv = SQLiteKV(tmp_path / "claims.db", clock=clock)
        else:
            url: str = request.getfixturevalue("postgres_url")
            schema: str = request.getfixturevalue("postgres_schema")
            kv = postgres_kv(url, schema, clock)
        claims = KVRunClaims(kv)
    try:
        yield claims, clock
    finally:
        if kv is not None:
            await kv.close()


async def test_one_holder_at_a_time_until_release_or_expiry(
    claims_on: tuple[RunClaims, TestClock],
) -> None:
    claims, clock = claims_on
    assert await claims.holder("r") is None
    assert await claims.claim("r", "a", 10)
    assert not await claims.claim("r", "b", 10)
    assert not await claims.claim("r", "a", 10)  # not re-entrant
    assert await claims.holder("r") == "a"
    assert not await claims.renew("r", "b", 10)
    await claims.release("r", "b")  # not b's: nothing happens
    assert await claims.holder("r") == "a"
    assert await claims.claim("other-run", "b", 10)  # claims are per run

    clock.advance(9)
    assert await claims.renew("r", "a", 10)  # now lives until t=19
    clock.advance(9)
    assert not await claims.claim("r", "b", 10)
    await claims.release("r", "a")
    assert await claims.holder("r") is None
    assert await claims.claim("r", "b", 10)  # a released claim is free at once

    clock.advance(10)  # b crashed: its claim expired
    assert await claims.holder("r") is None
    assert not await claims.renew("r", "b", 10)  # too late to renew
    assert await claims.claim("r", "c", 10)
    assert await claims.holder("r") == "c"


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan")])
async def test_claims_refuse_bad_ttls_and_owners(bad: float) -> None:
    claims = MemoryRunClaims()
    with pytest.raises(ValueError, match="ttl"):
        await claims.claim("r", "a", bad)
    with pytest.raises(ValueError, match="owner"):
        await KVRunClaims(MemoryKV()).claim("r", "", 1)
    with pytest.raises(TypeError):
        await claims.claim("r", 7, 1)  # type: ignore[arg-type]


def test_kv_state_store_keeps_claims_apart_from_runs() -> None:
    store = KVStateStore(MemoryKV())
    assert isinstance(store, RunClaims) and isinstance(MemoryStateStore(), RunClaims)
    with pytest.raises(ValueError, match="claim_prefix"):
        KVStateStore(MemoryKV(), prefix="run:", claim_prefix="run:claims:")


async def test_claims_do_not_show_up_as_runs() -> None:
    kv = MemoryKV()
    store = KVStateStore(kv)
    await store.save(RunSnapshot("r1", "wf", (), {}, ("k",)))
    assert await store.claim("r1", "a", 5) and await store.claim("r2", "a", 5)
    assert await store.list_runs() == ["r1"]
    assert await store.holder("r2") == "a"


# -- Lease ------------------------------------------------------------------------------
async def test_a_lease_is_renewed_while_held_and_released_after() -> None:
    clock = TestClock()
    claims = MemoryRunClaims(clock)
    async with Lease(claims, "r", "a", ttl=3, clock=clock) as lease:
        await clock.sleep(100)  # 33 renewals keep the 3 s claim alive
        assert await claims.holder("r") == "a"
        assert not lease.lost
        await lease.confirm()
        with pytest.raises(RunBusyError, match="'a'") as busy:
            async with Lease(claims, "r", "b", ttl=3, clock=clock):
                raise AssertionError("b must not get the run")
        assert (busy.value.run_id, busy.value.holder) == ("r", "a")
    assert await claims.holder("r") is None
    assert clock.pending_sleepers == 0  # the renewer is gone


async def test_a_lease_taken_over_after_expiry_is_lost() -> None:
    clock = TestClock(autojump=False)
    claims = MemoryRunClaims(clock)
    async with Lease(claims, "r", "a", ttl=3, clock=clock) as lease:
        clock.advance(5)  # the process stalled past its claim
        assert await claims.claim("r", "b", 3)
        with pytest.raises(ClaimLostError, match="taken over by 'b'") as lost:
            await lease.confirm()
        assert lost.value.holder == "b" and lease.lost
    assert await claims.holder("r") == "b"  # leaving did not release b's claim


# -- the orchestrator -----------------------------------------------------------------
class Calls(Counter[str]):
    def hit(self, name: str) -> None:
        self[name] += 1


def ship_workflow(
    orch: HITLOrchestrator, calls: Calls, gate: asyncio.Event | None = None
) -> Workflow[[str], str, Errors | UnexpectedError]:
    """prepare, approval ship:<order>, send (waits for `gate`, when given)."""

    @workflow(name="ship")
    async def ship(step: Step[Errors], order: str) -> str:
        async def prepare() -> Ok[str]:
            calls.hit("prepare")
            return Ok(f"parcel-{order}")

        async def send(parcel: str) -> Ok[str]:
            calls.hit("send")
            if gate is not None:
                await gate.wait()
            await asyncio.sleep(0)
            return Ok(f"sent {parcel}")

        parcel = await step(prepare, key="prepare")
        await step(orch.approval(f"ship:{order}"), key=f"ship:{order}")
        return await step(lambda: send(parcel), key="send")

    return ship


def two_orchestrators(
    clock: TestClock, states: MemoryStateStore | None = None, claim_ttl: float = 30.0
) -> tuple[HITLOrchestrator, HITLOrchestrator]:
    """Two orchestrators sharing approvals and states, as two processes would."""
    approvals = MemoryApprovalStore(clock=clock)
    shared = states or MemoryStateStore(clock=clock)
    return (
        HITLOrchestrator(approvals, shared, clock=clock, owner="proc-a", claim_ttl=claim_ttl),
        HITLOrchestrator(approvals, shared, clock=clock, owner="proc-b", claim_ttl=claim_ttl),
    )


async def test_many_concurrent_resumes_in_one_process_run_the_rest_once() -> None:
    clock = TestClock()
    orch, _ = two_orchestrators(clock)
    calls = Calls()
    ship = ship_workflow(orch, calls)
    assert await orch.execute(ship, "o1", run_id="r") == Paused("r", ["ship:o1"])
    await orch.grant("ship:o1", "ann", resume=False)
    results = await asyncio.gather(*(orch.resume("r") for _ in range(20)), return_exceptions=True)
    assert results[0] == Completed("r", "sent parcel-o1")
    assert all(isinstance(result, UnknownRunError) for result in results[1:]), results
    assert calls == {"prepare": 1, "send": 1}
    assert await orch.states.list_runs() == []
    assert await orch.claims.holder("r") is None


async def test_a_run_held_by_another_orchestrator_is_busy_for_resume_execute_and_grant() -> None:
    clock = TestClock()
    first, second = two_orchestrators(clock)
    calls, gate = Calls(), asyncio.Event()
    ship = ship_workflow(first, calls, gate)
    second.register(ship)
    await first.execute(ship, "o1", run_id="r")
    await first.approvals.grant("ship:o1", "ann")
    running = asyncio.create_task(first.resume("r"))
    while calls["send"] == 0:  # noqa: ASYNC110 - waits for a step of the other task
        await asyncio.sleep(0)

    with pytest.raises(RunBusyError, match="'proc-a'") as busy:
        await asyncio.wait_for(second.resume("r"), 5)  # bounded: a broken claim would hang
    assert busy.value.holder == "proc-a"
    with pytest.raises(RunBusyError):
        await asyncio.wait_for(second.execute(ship, "o1", run_id="r"), 5)
    await second.approvals.create_pending("other")
    assert await second.grant("other", 1) == []  # nothing waits on it
    assert await second.resume_waiting("ship:o1") == []  # busy runs are skipped

    gate.set()
    assert await running == Completed("r", "sent parcel-o1")
    with pytest.raises(UnknownRunError):
        await second.resume("r")
    assert calls == {"prepare": 1, "send": 1}


async def test_two_executes_of_one_run_id_run_it_once() -> None:
    clock = TestClock()
    first, second = two_orchestrators(clock)
    calls, gate = Calls(), asyncio.Event()

    @workflow(name="once")
    async def once(step: Step[Errors]) -> str:
        async def work() -> Ok[str]:
            calls.hit("work")
            await gate.wait()
            return Ok("done")

        return await step(work, key="work")

    running = asyncio.create_task(first.execute(once, run_id="r"))
    while calls["work"] == 0:  # noqa: ASYNC110 - waits for a step of the other task
        await asyncio.sleep(0)
    with pytest.raises(RunBusyError):  # a bound, so a broken claim fails instead of hanging
        await asyncio.wait_for(second.execute(once, run_id="r"), 5)
    gate.set()
    assert await running == Completed("r", "done")
    assert calls == {"work": 1}


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"])
async def test_a_crashed_holder_is_taken_over_after_its_claim_expires(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    clock = TestClock()
    kv: KVStore | None = None
    if backend == "memory":
        states: MemoryStateStore | KVStateStore = MemoryStateStore(clock=clock)
    elif backend == "sqlite":
        kv = SQLiteKV(tmp_path / "hitl.db", clock=clock)
        states = KVStateStore(kv)
    else:
        from resultflow.persistence._kv_postgres import PostgresKV

        url: str = request.getfixturevalue("postgres_url")
        schema: str = request.getfixturevalue("postgres_schema")
        kv = PostgresKV(url, schema=schema, clock=clock)
        states = KVStateStore(kv)
    # PostgreSQL claims expire on the database server's clock: there, wait for real.
    lifetime = 0.2 if backend == "postgres" else 5
    try:
        orch = HITLOrchestrator(MemoryApprovalStore(clock=clock), states, clock=clock)
        calls = Calls()
        ship = ship_workflow(orch, calls)
        await orch.execute(ship, "o1", run_id="r")
        await orch.grant("ship:o1", "ann", resume=False)
        # A process claimed the run and died without releasing it.
        assert await states.claim("r", "crashed-process", lifetime)
        with pytest.raises(RunBusyError, match="crashed-process"):
            await orch.resume("r")
        if backend == "postgres":
            await asyncio.sleep(0.3)  # real-sleep-ok: the database server's clock
        else:
            clock.advance(5)
        assert await orch.resume("r") == Completed("r", "sent parcel-o1")
        assert calls == {"prepare": 1, "send": 1}
        assert await states.holder("r") is None
    finally:
        if kv is not None:
            await kv.close()


async def test_a_crashed_holder_expires_in_real_time_on_sqlite(tmp_path: Path) -> None:
    kv = SQLiteKV(tmp_path / "hitl.db")
    try:
        states = KVStateStore(kv)
        orch = HITLOrchestrator(MemoryApprovalStore(), states)
        calls = Calls()
        ship = ship_workflow(orch, calls)
        await orch.execute(ship, "o1", run_id="r")
        await orch.approvals.grant("ship:o1", "ann")
        assert await states.claim("r", "crashed-process", 0.1)
        with pytest.raises(RunBusyError):
            await orch.resume("r")
        await asyncio.sleep(0.15)  # real-sleep-ok: the store's TTL runs on wall time
        assert await orch.resume("r") == Completed("r", "sent parcel-o1")
        assert calls == {"prepare": 1, "send": 1}
    finally:
        await kv.close()


async def test_the_claim_is_renewed_while_a_long_step_runs() -> None:
    clock = TestClock()
    first, second = two_orchestrators(clock, claim_ttl=3)

    @workflow(name="slow")
    async def slow(step: Step[Errors]) -> str:
        async def work() -> Ok[str]:
            await clock.sleep(100)  # far longer than the 3 s claim
            return Ok("done")

        return await step(work, key="work")

    async def intruder() -> None:
        await clock.sleep(50)
        with pytest.raises(RunBusyError, match="proc-a"):
            await second.execute(slow, run_id="r")

    outcome, _ = await asyncio.gather(first.execute(slow, run_id="r"), intruder())
    assert outcome == Completed("r", "done")


async def test_a_run_whose_claim_was_taken_over_is_not_saved() -> None:
    clock = TestClock(autojump=False)
    states = MemoryStateStore(clock=clock)
    orch = HITLOrchestrator(MemoryApprovalStore(clock=clock), states, clock=clock, claim_ttl=3)
    calls = Calls()

    @workflow(name="stalls")
    async def stalls(step: Step[Errors]) -> str:
        await step(orch.approval("k"), key="k")

        async def finish() -> Ok[str]:
            calls.hit("finish")
            clock.advance(10)  # the process stalls past its claim ...
            assert await states.claim("r", "new-holder", 30)  # ... and is taken over
            return Ok("done")

        return await step(finish, key="finish")

    await orch.execute(stalls, run_id="r")
    await orch.grant("k", True, resume=False)
    with pytest.raises(ClaimLostError, match="new-holder"):
        await orch.resume("r")
    snapshot = await states.load("r")
    assert snapshot is not None and snapshot.pending == ("k",)  # left for the new holder
    assert await states.holder("r") == "new-holder"


class RivalStateStore(MemoryStateStore):
    """A MemoryStateStore that lets a rival act once, right before the next release."""

    def __init__(self, clock: TestClock) -> None:
        super().__init__(clock=clock)
        self.rival: Callable[[], Awaitable[object]] | None = None

    async def release(self, run_id: str, owner: str) -> None:
        rival, self.rival = self.rival, None
        if rival is not None:
            await rival()
        await super().release(run_id, owner)


async def test_a_decision_skipped_because_the_run_was_held_resumes_it_on_release() -> None:
    """The missed wake-up: A resumes the run, which pauses on `legal`; before A releases
    the claim, B grants `legal` and skips the run (A holds it). A sees the decision after
    releasing and resumes the run, so it does not stay paused forever."""
    clock = TestClock()
    states = RivalStateStore(clock)
    first, second = two_orchestrators(clock, states)
    calls = Calls()

    @workflow(name="contract")
    async def contract(step: Step[Errors]) -> str:
        async def work(name: str) -> Ok[str]:
            calls.hit(name)
            return Ok(name)

        await step(lambda: work("draft"), key="draft")
        await step(first.approval("edit"), key="edit")
        await step(lambda: work("revise"), key="revise")
        await step(first.approval("legal"), key="legal")
        return await step(lambda: work("send"), key="send")

    second.register(contract)
    assert await first.execute(contract, run_id="r") == Paused("r", ["edit"])
    await first.grant("edit", "ed", resume=False)

    granted: list[object] = []

    async def second_grants_legal() -> None:
        assert await states.load("r") is not None  # saved, paused on legal, still held
        assert await states.holder("r") == "proc-a"
        granted.append(await second.grant("legal", "lex"))

    states.rival = second_grants_legal
    outcome = await first.resume("r")
    assert granted == [[]]  # B decided, but skipped the held run
    assert outcome == Completed("r", "send")
    assert calls == {"draft": 1, "revise": 1, "send": 1}
    assert await states.list_runs() == []
    assert await states.holder("r") is None


async def test_a_state_store_without_claims_gets_in_process_claims() -> None:
    class PlainStore:
        def __init__(self) -> None:
            self.inner = MemoryStateStore()

        async def save(self, snapshot: RunSnapshot) -> None:
            await self.inner.save(snapshot)

        async def load(self, run_id: str) -> RunSnapshot | None:
            return await self.inner.load(run_id)

        async def delete(self, run_id: str) -> None:
            await self.inner.delete(run_id)

        async def list_runs(self) -> list[str]:
            return await self.inner.list_runs()

    orch = HITLOrchestrator(MemoryApprovalStore(), PlainStore())
    assert isinstance(orch.claims, MemoryRunClaims)
    calls = Calls()
    ship = ship_workflow(orch, calls)
    await orch.execute(ship, "o1", run_id="r")
    assert await orch.grant("ship:o1", "ann") == [Completed("r", "sent parcel-o1")]


def test_claim_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="claim_ttl"):
        HITLOrchestrator(MemoryApprovalStore(), claim_ttl=0)


# -- two OS processes -------------------------------------------------------------------
async def _worker(config: dict[str, object]) -> list[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        json.dumps(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    report: list[str] = json.loads(out.decode().strip().splitlines()[-1])
    return report


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize(
    "actions", [("resume", "resume"), ("grant", "resume"), ("execute", "execute")]
)
async def test_two_processes_on_one_run_run_its_steps_once(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, actions: tuple[str, str]
) -> None:
    """Two processes act on run "run-o1" at once: "send" runs once, the run completes
    (or pauses, for two executes) exactly once, and no run is left paused by mistake."""
    if backend == "sqlite":
        config: dict[str, object] = {"backend": "sqlite", "path": str(tmp_path / "hitl.db")}
        kv: KVStore = SQLiteKV(tmp_path / "hitl.db")
    else:
        from resultflow.persistence._kv_postgres import PostgresKV

        url: str = request.getfixturevalue("postgres_url")
        schema: str = request.getfixturevalue("postgres_schema")
        config = {"backend": "postgres", "url": url, "schema": schema}
        kv = PostgresKV(url, schema=schema)
    log = tmp_path / "calls.log"
    config |= {"order": "o1", "log": str(log), "send_seconds": 0.05}
    try:
        if actions != ("execute", "execute"):
            assert await _worker({**config, "action": "execute"}) == ["Paused"]
            if "grant" not in actions:
                assert isinstance(await KVApprovalStore(kv).grant("ship:o1", "ann"), Ok)
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        reports = await asyncio.gather(
            *(
                _worker(
                    {
                        **config,
                        "action": action,
                        "name": f"w{index}",
                        "barrier": str(barrier),
                        "workers": 2,
                    }
                )
                for index, action in enumerate(actions)
            )
        )
        kinds = [kind for report in reports for kind in report]
        lines = Counter(log.read_text().split())
        if actions == ("execute", "execute"):
            assert lines == {"prepare": 1}, lines
            assert sorted(kinds) in (["Paused", "RunBusyError"], ["Paused", "ValueError"])
            assert await KVStateStore(kv).list_runs() == ["run-o1"]
        else:
            assert lines == {"prepare": 1, "send": 1}, lines
            assert kinds.count("Completed") == 1, reports
            # A resume that ran before the grant pauses; then the granter completes the run.
            allowed = {"Completed", "Paused", "RunBusyError", "UnknownRunError"}
            assert set(kinds) <= allowed, reports
            assert await KVStateStore(kv).list_runs() == []  # not left paused
        assert await KVStateStore(kv).holder("run-o1") is None
    finally:
        await kv.close()
