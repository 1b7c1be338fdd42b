"""End to end: a checkout saga pauses for approval, is persisted in PostgreSQL, and is
approved (or rejected) in a fresh process running newer code whose state is migrated.

Each phase runs `checkout_e2e_app.py` in its own Python process; the steps count their
executions in a table, so the test sees from the database that nothing finished ran twice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from resultflow.persistence._kv_postgres import PostgresKV
from resultflow.persistence._state_persistence import StatePersistence

APP = Path(__file__).with_name("checkout_e2e_app.py")

pytestmark = [pytest.mark.services, pytest.mark.slow]


def phase(url: str, schema: str, version: int, action: str, order_id: str) -> object:
    done = subprocess.run(
        [sys.executable, str(APP), url, schema, str(version), action, order_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def calls(url: str, schema: str, order_id: str) -> Counter[str]:
    with psycopg.connect(url) as conn:
        query = sql.SQL("SELECT step FROM {}.calls WHERE order_id = %s").format(
            sql.Identifier(schema)
        )
        rows = conn.execute(query, (order_id,)).fetchall()
    return Counter(row[0] for row in rows)


async def stored_state_version(url: str, schema: str, run_id: str) -> int:
    """The schema version of the run's stored state, read through StatePersistence."""
    kv = PostgresKV(url, schema=schema)
    try:
        loaded = await StatePersistence(kv, prefix="checkout:").load(run_id)
    finally:
        await kv.close()
    assert loaded is not None
    return loaded.version


@pytest.fixture
def calls_table(postgres_url: str, postgres_schema: str) -> str:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        create = sql.SQL("CREATE TABLE {}.calls (step text NOT NULL, order_id text NOT NULL)")
        conn.execute(create.format(sql.Identifier(postgres_schema)))
    return postgres_schema


async def test_paused_checkout_is_migrated_approved_and_resumed_in_a_fresh_process(
    postgres_url: str, calls_table: str
) -> None:
    schema = calls_table
    started = phase(postgres_url, schema, 1, "start", "o-1")
    assert started == {"kind": "paused", "run_id": "run-o-1", "pending": ["approve:o-1"]}
    assert calls(postgres_url, schema, "o-1") == {"reserve": 1, "charge": 1}
    assert await stored_state_version(postgres_url, schema, "run-o-1") == 1

    approved = phase(postgres_url, schema, 2, "approve", "o-1")
    assert approved == [
        {
            "kind": "completed",
            "run_id": "run-o-1",
            "result": {
                "hold": "hold-o-1",
                "payment": "payment-o-1-1500",
                "approved_by": "manager-ann",
                "parcel": "parcel-o-1",
            },
        }
    ]
    # reserve and charge ran in the first process only: the migrated key kept "reserve"
    assert calls(postgres_url, schema, "o-1") == {"reserve": 1, "charge": 1, "ship": 1}


def test_rejected_checkout_rolls_back_in_a_fresh_process(
    postgres_url: str, calls_table: str
) -> None:
    schema = calls_table
    assert phase(postgres_url, schema, 1, "start", "o-2")["kind"] == "paused"  # type: ignore[index]
    rejected = phase(postgres_url, schema, 2, "reject", "o-2")
    assert rejected == [
        {
            "kind": "failed",
            "run_id": "run-o-2",
            "error": {"tag": "ApprovalRejected", "key": "approve:o-2", "reason": "suspected fraud"},
        }
    ]
    assert calls(postgres_url, schema, "o-2") == {
        "reserve": 1,
        "charge": 1,
        "refund payment-o-2-1500": 1,
        "release hold-o-2": 1,
    }
