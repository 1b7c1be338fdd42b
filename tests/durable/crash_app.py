"""A 10-step durable workflow for the crash test, run by `resultflow worker` processes.

Each step first records its effect in `rf_test_effects` (its own connection, committed
at once), then sleeps a moment so that SIGKILLs land in the middle of steps.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from typing import Any

from resultflow import Ok
from resultflow.durable import DurableStep, Engine

engine = Engine()
_connection: Any = None


def _effects() -> Any:
    global _connection
    if _connection is None:
        url = os.environ["RESULTFLOW_DB"]
        if url.startswith("sqlite:///"):
            _connection = sqlite3.connect(
                url[len("sqlite:///") :], timeout=30, isolation_level=None
            )
        else:
            import psycopg

            _connection = psycopg.connect(url, autocommit=True)
    return _connection


def record_effect(execution: str, step: int) -> None:
    """One row per time a step's op really ran."""
    conn = _effects()
    params = (execution, step, os.getpid(), time.time())
    if isinstance(conn, sqlite3.Connection):
        conn.execute("INSERT INTO rf_test_effects VALUES (?, ?, ?, ?)", params)
    else:
        conn.execute("INSERT INTO rf_test_effects VALUES (%s, %s, %s, %s)", params)


@engine.workflow(name="tenstep")
async def tenstep(step: DurableStep[str], execution: str) -> int:
    total = 0
    for number in range(1, 11):

        async def work(number: int = number) -> Ok[int]:
            record_effect(execution, number)
            await asyncio.sleep(random.uniform(0.0, 0.004))  # real-sleep-ok: kills land mid-step
            return Ok(number)

        total += await step(work, name=f"step-{number}")
    return total
