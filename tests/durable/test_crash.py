"""Kill -9 crash test: 200 executions over 3 `resultflow worker` processes, 5 SIGKILLs.

Afterwards, from the store: every execution SUCCEEDED exactly once with the expected
result, none is lost, and no step ran again after its checkpoint was written (a step
runs twice only when a worker died while it was in flight).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from resultflow import Ok
from resultflow.durable import Client, Status

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
EXECUTIONS = 200
WORKERS = 3
KILLS = 5


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, RESULTFLOW_DB=url, PYTHONPATH=str(HERE))
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [
                str(Path(sys.executable).with_name("resultflow")),  # the console script
                "worker",
                "crash_app:engine",
                "--concurrency",
                "8",
                "--lease-s",
                "4",
                "--poll-interval",
                "0.05",
            ],
            env=env,
            cwd=HERE,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def effects_table(url: str) -> None:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE rf_test_effects (execution TEXT, step INTEGER, pid INTEGER, ts REAL)"
            )
    else:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE rf_test_effects "
                "(execution TEXT, step INTEGER, pid INTEGER, ts DOUBLE PRECISION)"
            )


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


async def test_killed_workers_lose_nothing_and_repeat_no_checkpointed_step(
    store_url: str, tmp_path: Path
) -> None:
    crash_url = store_url
    log = tmp_path / "workers.log"
    rng = random.Random(12)
    client = Client(crash_url)
    await client.workflows()  # creates the schema
    effects_table(crash_url)
    workers = [start_worker(crash_url, log) for _ in range(WORKERS)]
    killed_pids: list[int] = []
    try:
        loop = asyncio.get_running_loop()
        ready_by = loop.time() + 60
        while "tenstep" not in [w.name for w in await client.workflows()]:
            assert all(w.poll() is None for w in workers), log.read_text()
            assert loop.time() < ready_by, "the workers did not register the workflow"
            await asyncio.sleep(0.05)
        for i in range(EXECUTIONS):
            (await client.start("tenstep", f"e-{i:03}", execution_id=f"e-{i:03}")).unwrap()
        deadline = loop.time() + 240
        kills = 0
        while True:
            done = len(await client.list(statuses=[Status.SUCCEEDED], limit=1000))
            if done == EXECUTIONS:
                break
            assert loop.time() < deadline, f"only {done} of {EXECUTIONS} finished"
            if kills < KILLS and done >= (kills + 1) * EXECUTIONS // (KILLS + 2):
                victim = rng.randrange(WORKERS)
                killed_pids.append(workers[victim].pid)
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                workers[victim] = start_worker(crash_url, log)
                kills += 1
            await asyncio.sleep(rng.uniform(0.01, 0.15))  # real-sleep-ok: random kill moments
        assert kills == KILLS
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
    try:
        infos = (await client.list(limit=1000)).items
        assert len(infos) == EXECUTIONS
        assert {info.status for info in infos} == {Status.SUCCEEDED}
        assert all(info.attempts == 1 for info in infos)
        for info in infos:
            assert await client.handle(info.execution_id).result(timeout=1) == Ok(55)
        # No effect after its step's checkpoint: a checkpointed step never ran again.
        late = query(
            crash_url,
            "SELECT e.execution, e.step FROM rf_test_effects e JOIN rf_checkpoints c "
            "ON c.execution_id = e.execution AND c.name = 'step-' || e.step "
            "WHERE e.ts > c.created_at",
        )
        assert late == []
        # Every step ran at least once; repeats only where a killed worker had it in flight.
        counts = query(
            crash_url,
            "SELECT execution, step, count(*) FROM rf_test_effects GROUP BY execution, step",
        )
        assert len(counts) == EXECUTIONS * 10
        repeated = query(
            crash_url,
            "SELECT execution, step, pid FROM rf_test_effects WHERE (execution, step) IN "
            "(SELECT execution, step FROM rf_test_effects GROUP BY execution, step "
            "HAVING count(*) > 1)",
        )
        by_step: dict[tuple[str, int], list[int]] = {}
        for execution, step, pid in repeated:
            by_step.setdefault((execution, step), []).append(pid)
        # A worker starved past its lease (a loaded machine) also loses its executions:
        # it logs that, with its pid, and a step it had in flight may run once more.
        lost = {
            (match[1], int(match[0]))
            for match in re.findall(
                r" (\d+) WARNING resultflow.durable: execution (\S+): lease lost", log.read_text()
            )
        }
        for (execution, step), pids in by_step.items():
            explained = [pid for pid in pids if pid in killed_pids or (execution, pid) in lost]
            assert explained, f"{(execution, step)} ran again with no kill and no lost lease"
        checkpoints = query(crash_url, "SELECT count(*) FROM rf_checkpoints")
        assert checkpoints == [(EXECUTIONS * 10,)]
        print(f"\ncrash test: {KILLS} kills, {len(by_step)} steps re-ran, {len(lost)} leases lost")
    finally:
        await client.close()
