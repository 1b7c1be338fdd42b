"""Bad data in HITL stores and requests: typed errors, never defaults or bare exceptions.

- malformed run metadata in a `KVStateStore` document is `CorruptEntryError`;
- approval records with NaN / Infinity times are `CorruptEntryError` (and left out of
  `list_pending`), and NaN / infinite configuration is refused up front;
- `approval_handler` refuses values the codec cannot store (400, nothing recorded),
  an empty actor name (403), and keeps a made decision at 200 when `on_decision` fails;
- `execute` refuses arguments its state store could not save before any step runs.

Store tests run on real SQLite files and the real PostgreSQL server.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from resultflow import Ok, Step, workflow
from resultflow.cache import CacheEntry
from resultflow.errors import ApprovalRejected, PendingApproval
from resultflow.hitl import (
    Completed,
    HITLOrchestrator,
    KVApprovalStore,
    KVStateStore,
    MemoryApprovalStore,
    Paused,
    RunSnapshot,
    approval_handler,
)
from resultflow.persistence import SerializationError
from resultflow.persistence._kv import CorruptEntryError, KVStore
from resultflow.persistence._kv_sqlite import SQLiteKV
from resultflow.testing._clock import TestClock


@pytest.fixture(params=["sqlite", "postgres"])
async def kv(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KVStore]:
    clock = TestClock()
    if request.param == "sqlite":
        store: KVStore = SQLiteKV(tmp_path / "bad.db", clock=clock)
    else:
        from resultflow.persistence._kv_postgres import PostgresKV

        url: str = request.getfixturevalue("postgres_url")
        schema: str = request.getfixturevalue("postgres_schema")
        store = PostgresKV(url, schema=schema, clock=clock)
    try:
        yield store
    finally:
        await store.close()


# -- 11.9: malformed snapshot metadata -------------------------------------------------
GOOD_META: dict[str, object] = {
    "kind": "hitl-run",
    "workflow": "checkout",
    "args": ["order-1"],
    "pending": ["approve:1"],
    "pending_reasons": {"approve:1": None},
    "updated_at": 1.0,
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"args": None}, "args must be a list"),
        ({"pending": "approve:1"}, "pending must be a list"),
        ({"pending": []}, "non-empty list"),
        ({"pending": [1]}, "string keys"),
        ({"workflow": ""}, "workflow must be"),
        ({"workflow": None}, "workflow must be"),
        ({"updated_at": "yesterday"}, "updated_at must be"),
        ({"pending_reasons": ["why"]}, "pending_reasons must be"),
        ({"pending_reasons": {"approve:1": 5}}, "pending_reasons must map"),
        ({"kind": "something-else"}, "kind must be"),
    ],
)
async def test_malformed_run_metadata_is_a_corrupt_entry(
    kv: KVStore, change: dict[str, object], problem: str
) -> None:
    states = KVStateStore(kv)
    meta = {**GOOD_META, **change}
    state = {"reserve": CacheEntry(Ok(1))}
    await states.persistence.save("run-1", state, meta)
    with pytest.raises(CorruptEntryError, match=problem) as info:
        await states.load("run-1")
    assert "hitl-run:run-1" in str(info.value)


async def test_missing_args_or_meta_is_a_corrupt_entry(kv: KVStore) -> None:
    states = KVStateStore(kv)
    meta = {k: v for k, v in GOOD_META.items() if k != "args"}
    await states.persistence.save("no-args", {}, meta)
    with pytest.raises(CorruptEntryError, match="args must be a list, not null"):
        await states.load("no-args")
    await states.persistence.save("no-meta", {})
    with pytest.raises(CorruptEntryError, match="not a paused run"):
        await states.load("no-meta")
    await states.persistence.save("good", {}, GOOD_META)
    loaded = await states.load("good")
    assert loaded == RunSnapshot(
        run_id="good",
        workflow="checkout",
        args=("order-1",),
        state={},
        pending=("approve:1",),
        updated_at=1.0,
        pending_reasons={"approve:1": None},
    )


# -- 11.11: NaN and infinity -------------------------------------------------------------
def _record(**times: float) -> str:
    document: dict[str, object] = {
        "key": "k",
        "status": "pending",
        "value": None,
        "reason": None,
        "actor": None,
        "created_at": 1.0,
        "decided_at": None,
        "expires_at": None,
        "meta": {},
        **times,
    }
    return json.dumps(document)  # allow_nan: writes NaN / Infinity as JSON extensions


@pytest.mark.parametrize(
    "times",
    [
        {"expires_at": math.nan},
        {"expires_at": math.inf},
        {"created_at": math.nan},
        {"created_at": -math.inf},
        {"decided_at": math.inf},
    ],
)
async def test_nan_or_infinite_times_are_corrupt_records(
    kv: KVStore, times: dict[str, float], caplog: pytest.LogCaptureFixture
) -> None:
    store = KVApprovalStore(kv)
    await store.create_pending("fine")
    await kv.set("approval:k", _record(**times))
    with pytest.raises(CorruptEntryError, match="must be a finite number"):
        await store.get("k")
    with pytest.raises(CorruptEntryError):
        await store.grant("k", 1)
    with caplog.at_level(logging.WARNING, logger="resultflow.hitl"):
        pending = await store.list_pending()
    assert [record.key for record in pending] == ["fine"]
    assert "'k'" in caplog.text


@pytest.mark.parametrize("expires_at", [math.nan, math.inf, -math.inf])
async def test_create_pending_refuses_a_non_finite_expiry(expires_at: float) -> None:
    for store in (MemoryApprovalStore(), KVApprovalStore(SQLiteKV(":memory:"))):
        with pytest.raises(ValueError, match="expires_at must be finite"):
            await store.create_pending("k", expires_at=expires_at)
        assert await store.get("k") is None


@pytest.mark.parametrize("bad", [math.inf, math.nan, 0, -1.0, True])
def test_orchestrator_refuses_a_bad_default_expiry_at_construction(bad: float) -> None:
    with pytest.raises(ValueError, match="default_expiry must be a positive, finite"):
        HITLOrchestrator(MemoryApprovalStore(), default_expiry=bad)


@pytest.mark.parametrize(("interval", "timeout"), [(math.inf, None), (math.nan, 1.0), (1, -1.0)])
async def test_poll_refuses_non_finite_or_negative_times(interval: float, timeout: float) -> None:
    orch = HITLOrchestrator(MemoryApprovalStore())
    with pytest.raises(ValueError, match=r"interval|timeout"):
        await orch.poll("k", interval=interval, timeout=timeout)


# -- 11.12: approval requests -------------------------------------------------------------
def nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


async def test_a_value_the_codec_cannot_store_is_400_and_nothing_is_decided() -> None:
    store = MemoryApprovalStore()
    await store.create_pending("k")
    decided: list[object] = []
    handle = approval_handler(store, lambda request: "ann", on_decision=decided.append)

    response = await handle({"key": "k", "action": "approve", "value": nested(400)})

    assert response.status == 400
    assert response.body["fields"] == {"value": "cannot be stored: nested too deeply or too large"}
    record = await store.get("k")
    assert record is not None and record.is_pending
    assert decided == []
    retry = await handle({"key": "k", "action": "approve", "value": [1]})
    assert retry.status == 200


@pytest.mark.parametrize("actor", ["", "   "])
async def test_an_empty_actor_name_authorizes_no_one(actor: str) -> None:
    store = MemoryApprovalStore()
    await store.create_pending("k")
    handle = approval_handler(store, lambda request: actor)
    response = await handle({"key": "k", "action": "approve", "value": 1})
    assert response.status == 403
    record = await store.get("k")
    assert record is not None and record.is_pending


async def test_a_failing_on_decision_keeps_the_decision_at_200(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryApprovalStore()
    await store.create_pending("k")

    def on_decision(record: object) -> None:
        raise RuntimeError("resume failed")

    handle = approval_handler(store, lambda request: "ann", on_decision=on_decision)
    with caplog.at_level(logging.ERROR, logger="resultflow.hitl"):
        response = await handle({"key": "k", "action": "approve", "value": 1})
    assert response.status == 200
    assert response.body["status"] == "approved" and response.body["on_decision"] == "failed"
    assert "resume failed" in caplog.text


# -- 10.12: arguments are checked before anything runs -----------------------------------
class Card:
    """Not a type the codec knows."""


async def test_execute_refuses_arguments_the_state_store_cannot_save(kv: KVStore) -> None:
    orch = HITLOrchestrator(KVApprovalStore(kv), KVStateStore(kv))
    charged: list[object] = []

    @workflow(name="pay")
    async def pay(step: Step[PendingApproval | ApprovalRejected], order: str, card: object) -> str:
        async def charge() -> Ok[str]:
            charged.append(card)
            return Ok("charged")

        await step(charge, key="charge")
        await step(orch.approval(f"ship:{order}"), key=f"ship:{order}")
        return "shipped"

    with pytest.raises(SerializationError, match=r"args\[1\]"):
        await orch.execute(pay, "o-1", Card(), run_id="r1")

    assert charged == []  # the card was not charged
    assert await orch.states.list_runs() == []
    assert await orch.approvals.list_pending() == []
    assert await orch.execute(pay, "o-1", "visa", run_id="r1") == Paused("r1", ["ship:o-1"])


async def test_a_memory_state_store_still_takes_any_argument() -> None:
    orch = HITLOrchestrator(MemoryApprovalStore())

    async def body(step: Step[PendingApproval], card: object) -> str:
        await step(orch.approval("k"), key="k")
        return type(card).__name__

    assert await orch.execute(body, Card(), run_id="r") == Paused("r", ["k"])
    assert await orch.grant("k", True) == [Completed("r", "Card")]
