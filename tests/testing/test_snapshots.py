"""snapshot / compare_snapshots: stable JSON of a run, and readable differences."""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass
from decimal import Decimal

import pytest

from resultflow import Err, Ok, Step
from resultflow.errors import TaggedError
from resultflow.testing import (
    Snapshot,
    SnapshotDiff,
    WorkflowHarness,
    compare_snapshots,
    err_outcome,
    ok_outcome,
    raise_outcome,
    snapshot,
)
from resultflow.testing._snapshot import normalize


class Declined(TaggedError):
    reason: str


@dataclass(frozen=True)
class Receipt:
    order: str
    cents: int


class Color(enum.Enum):
    RED = "red"


async def order(step: Step[Declined], order_id: str) -> Receipt:
    cents = await step(lambda: Ok(1250), name="price")
    await step(lambda: Ok(None), key=f"reserve:{order_id}")
    return await step(lambda: Ok(Receipt(order_id, cents)), name="charge")


async def snap(harness: WorkflowHarness, order_id: str = "o1") -> Snapshot:
    result = await harness.run(order, order_id)
    return snapshot(harness.invocations(), result)


async def test_snapshot_shape() -> None:
    taken = await snap(WorkflowHarness().script_step("price", ok_outcome(999)))
    assert taken.data == {
        "format": 1,
        "steps": [
            {"name": "price", "key": None, "scripted": True, "result": {"ok": True, "value": 999}},
            {
                "name": None,
                "key": "reserve:o1",
                "scripted": False,
                "result": {"ok": True, "value": None},
            },
            {
                "name": "charge",
                "key": None,
                "scripted": False,
                "result": {
                    "ok": True,
                    "value": {"$dataclass": "Receipt", "order": "o1", "cents": 999},
                },
            },
        ],
        "result": {"ok": True, "value": {"$dataclass": "Receipt", "order": "o1", "cents": 999}},
    }


async def test_identical_runs_give_equal_snapshots_despite_ids_and_durations() -> None:
    first = await snap(WorkflowHarness())
    harness = WorkflowHarness()
    harness.clock.advance(1000)  # different wall time, different workflow id
    second = await snap(harness)
    diff = compare_snapshots(first, second)
    assert diff == SnapshotDiff(True, [])
    assert diff


async def test_different_values_are_listed_by_path_with_step_labels() -> None:
    expected = await snap(WorkflowHarness())
    actual = await snap(WorkflowHarness().script_step("price", ok_outcome(1300)))

    diff = compare_snapshots(expected, actual)

    assert not diff.equal
    assert diff.differences == [
        "steps[0] 'price'.scripted: false != true",
        "steps[0] 'price'.result.value: 1250 != 1300",
        "steps[2] 'charge'.result.value.cents: 1250 != 1300",
        "result.value.cents: 1250 != 1300",
    ]


async def test_missing_steps_and_errors_show_up() -> None:
    expected = await snap(WorkflowHarness())
    actual = await snap(
        WorkflowHarness().script([ok_outcome(1250), err_outcome(Declined("stock"))])
    )

    diff = compare_snapshots(expected, actual)

    receipt = '{"$dataclass": "Receipt", "cents": 1250, "order": "o1"}'
    declined = '{"$error": "Declined", "reason": "stock"}'
    assert diff.differences == [
        "steps[0] 'price'.scripted: false != true",
        "steps[1] 'reserve:o1'.scripted: false != true",
        "steps[1] 'reserve:o1'.result.ok: true != false",
        f"steps[1] 'reserve:o1'.result.error: (missing) != {declined}",
        "steps[1] 'reserve:o1'.result.value: null != (missing)",
        # Long values are cut at 120 characters.
        "steps[2] 'charge': "
        + '{"key": null, "name": "charge", "result": {"ok": true, "value": '
        + '{"$dataclass": "Receipt", "cents": 1250, "order": "o1... != (missing)',
        "result.ok: true != false",
        f"result.error: (missing) != {declined}",
        f"result.value: {receipt} != (missing)",
    ]


async def test_diff_lines_do_not_depend_on_a_json_round_trip() -> None:
    expected = await snap(WorkflowHarness())
    actual = await snap(WorkflowHarness().script([ok_outcome(1), err_outcome(Declined("x"))]))
    in_memory = compare_snapshots(expected, actual).differences
    from_disk = compare_snapshots(Snapshot.from_json(expected.to_json()), actual).differences
    assert in_memory == from_disk
    assert len(in_memory) > 3


async def test_an_added_step_is_reported_as_missing_in_a() -> None:
    short = await snap(WorkflowHarness().script([ok_outcome(1), err_outcome(Declined("x"))]))
    full = await snap(WorkflowHarness())
    diff = compare_snapshots(short, full)
    assert any(line.startswith("steps[2] 'charge': (missing) != {") for line in diff.differences)


async def test_unexpected_errors_are_stable_no_traceback() -> None:
    first = await snap(WorkflowHarness().script_step("price", raise_outcome(KeyError("sku"))))
    second = await snap(WorkflowHarness().script_step("price", raise_outcome(KeyError("sku"))))
    assert compare_snapshots(first, second).equal
    error = first.data["result"]
    assert error == {
        "ok": False,
        "error": {
            "$error": "UnexpectedError",
            "exception_type": "KeyError",
            "message": "'sku'",
            "step": "price",
        },
    }


async def test_json_round_trip() -> None:
    taken = await snap(WorkflowHarness())
    text = taken.to_json()
    assert json.loads(text)["format"] == 1
    assert text == Snapshot.from_json(text).to_json()
    assert compare_snapshots(taken, Snapshot.from_json(text)).equal


def test_from_json_rejects_what_is_not_a_snapshot() -> None:
    with pytest.raises(ValueError, match="a snapshot is a JSON object, not list"):
        Snapshot.from_json("[]")
    with pytest.raises(ValueError, match=r"missing key\(s\) \['steps', 'result'\]"):
        Snapshot.from_json('{"format": 1}')
    with pytest.raises(ValueError, match="unsupported snapshot format 99"):
        Snapshot.from_json('{"format": 99, "steps": [], "result": null}')
    with pytest.raises(ValueError, match="nested too deeply"):
        Snapshot.from_json("[" * 100_000 + "]" * 100_000)


def test_type_changes_are_differences() -> None:
    a = Snapshot({"format": 1, "steps": [], "result": normalize(Ok(1))})
    b = Snapshot({"format": 1, "steps": [], "result": normalize(Ok(True))})
    assert compare_snapshots(a, b).differences == ["result.value: 1 != true"]
    c = Snapshot({"format": 1, "steps": [], "result": normalize(Ok(1.0))})
    assert compare_snapshots(a, c).differences == ["result.value: 1 != 1.0"]


def test_normalize_values() -> None:
    class Local:  # not encodable by the codec: kept as its repr
        def __repr__(self) -> str:
            return "<Local>"

    assert normalize((1, [2, {"a": {3}}])) == [1, [2, {"a": [3]}]]
    assert normalize({2: "two", "x": frozenset({"b", "a"})}) == {"2": "two", "x": ["a", "b"]}
    assert normalize(float("inf")) == "inf"
    assert normalize(Err(Declined("no"))) == {
        "ok": False,
        "error": {"$error": "Declined", "reason": "no"},
    }
    assert normalize(ValueError("bad")) == {"$exception": "ValueError", "message": "bad"}
    assert normalize(Decimal("1.10")) == {"$type": "decimal", "value": "1.10"}
    assert normalize(dt.date(2024, 1, 2)) == {"$type": "date", "value": "2024-01-02"}
    assert normalize(Color.RED) == {
        "$type": "enum",
        "class": f"{__name__}:Color",
        "value": "red",
    }
    assert normalize(Local()) == {"$repr": "<Local>"}
    assert normalize(None) is None
