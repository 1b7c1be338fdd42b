"""A checkout saga that pauses for approval, run by test_hitl_checkout_e2e.py in fresh processes.

Usage: python checkout_e2e_app.py URL SCHEMA CODE_VERSION ACTION ORDER_ID

- CODE_VERSION 1 names the stock step "stock"; version 2 renamed it "reserve_stock" and
  migrates version-1 state with `rename_keys`.
- ACTION is `start` (execute until the approval pauses the run), `approve` or `reject`
  (decide in this process, which resumes the paused run).

Every executed step and compensation inserts a row into SCHEMA.calls, so the test can
count what ran across processes. The outcome is printed as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys

import psycopg
from psycopg import sql

from resultflow import Ok
from resultflow.errors import ApprovalRejected, PendingApproval, TaggedError
from resultflow.hitl import (
    Completed,
    Failed,
    HITLOrchestrator,
    KVApprovalStore,
    KVStateStore,
    Outcome,
    Paused,
)
from resultflow.persistence import rename_keys
from resultflow.persistence._kv_postgres import PostgresKV
from resultflow.persistence._state_persistence import StatePersistence
from resultflow.saga import SagaStep, saga_workflow


class OutOfStock(TaggedError):
    sku: str


def main() -> None:
    url, schema, version, action, order_id = sys.argv[1:6]
    outcome = asyncio.run(checkout_process(url, schema, int(version), action, order_id))
    print(json.dumps(describe(outcome)))


async def checkout_process(
    url: str, schema: str, version: int, action: str, order_id: str
) -> Outcome[object, object] | list[Outcome[object, object]]:
    kv = PostgresKV(url, schema=schema)
    states = KVStateStore(
        StatePersistence(kv, prefix="checkout:"),
        version=version,
        migrations={1: rename_keys({"stock": "reserve_stock"})},
    )
    orch = HITLOrchestrator(KVApprovalStore(kv), states, default_expiry=3600)
    stock_key = "stock" if version == 1 else "reserve_stock"

    async def record(what: str) -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            insert = sql.SQL("INSERT INTO {}.calls (step, order_id) VALUES (%s, %s)")
            await conn.execute(insert.format(sql.Identifier(schema)), (what, order_id))

    @saga_workflow(name="checkout")
    async def checkout(
        saga: SagaStep[OutOfStock | PendingApproval | ApprovalRejected], order: str, total: int
    ) -> dict[str, object]:
        async def reserve() -> Ok[str]:
            await record("reserve")
            return Ok(f"hold-{order}")

        async def charge() -> Ok[str]:
            await record("charge")
            return Ok(f"payment-{order}-{total}")

        async def ship() -> Ok[str]:
            await record("ship")
            return Ok(f"parcel-{order}")

        async def release(hold: str) -> None:
            await record(f"release {hold}")

        async def refund(payment: str) -> None:
            await record(f"refund {payment}")

        hold = await saga.step(reserve, key=stock_key, compensate=release)
        payment = await saga.step(charge, key="charge", compensate=refund)
        approver = await saga.step(
            orch.approval(f"approve:{order}", "orders over 1000 need a manager"),
            key=f"approve:{order}",
        )
        parcel = await saga.step(ship, key="ship")
        return {"hold": hold, "payment": payment, "approved_by": approver, "parcel": parcel}

    try:
        if action == "start":
            return await orch.execute(checkout, order_id, 1500, run_id=f"run-{order_id}")
        orch.register(checkout)  # a fresh process: the workflow is found again by name
        if action == "approve":
            return await orch.grant(f"approve:{order_id}", "manager-ann", actor="ann")
        return await orch.reject(f"approve:{order_id}", "suspected fraud", actor="ann")
    finally:
        await kv.close()


def describe(outcome: object) -> object:
    if isinstance(outcome, list):
        return [describe(item) for item in outcome]
    if isinstance(outcome, Completed):
        return {"kind": "completed", "run_id": outcome.run_id, "result": outcome.result}
    if isinstance(outcome, Paused):
        return {"kind": "paused", "run_id": outcome.run_id, "pending": outcome.pending}
    if isinstance(outcome, Failed):
        error = outcome.error
        fields = error.to_dict() if isinstance(error, TaggedError) else repr(error)
        return {"kind": "failed", "run_id": outcome.run_id, "error": fields}
    raise TypeError(outcome)


if __name__ == "__main__":
    main()
