"""Harness assertion reports (pass and fail messages), reset, and script bookkeeping."""

from __future__ import annotations

import pytest

from resultflow import Err, Ok, Step
from resultflow.testing import (
    AssertionReport,
    Invocation,
    WorkflowHarness,
    err_outcome,
    ok_outcome,
    raise_outcome,
    real_outcome,
)
from resultflow.testing._invocation import check_called, check_not_called, check_steps


async def three_steps(step: Step[str]) -> int:
    a = await step(lambda: Ok(1), name="load")
    b = await step(lambda: Ok(2), key="price:1")
    c = await step(lambda: Ok(3), name="save")
    return a + b + c


@pytest.fixture
async def ran() -> WorkflowHarness:
    harness = WorkflowHarness()
    assert await harness.run(three_steps) == Ok(6)
    return harness


def test_report_is_truthy_only_when_passed() -> None:
    assert AssertionReport(True, "fine")
    assert not AssertionReport(False, "broken")


def test_assert_steps_passes_on_names_and_keys(ran: WorkflowHarness) -> None:
    report = ran.assert_steps(["load", "price:1", "save"])
    assert report == AssertionReport(
        True, "steps executed as expected: ['load', 'price:1', 'save']"
    )


def test_assert_steps_reports_the_first_mismatch(ran: WorkflowHarness) -> None:
    report = ran.assert_steps(["load", "save", "price:1"])
    assert not report.passed
    assert report.message == (
        "step #2 was 'price:1', expected 'save'; executed steps: "
        "['load', 'price:1', 'save'], expected: ['load', 'save', 'price:1']"
    )


def test_assert_steps_reports_missing_and_extra_steps(ran: WorkflowHarness) -> None:
    missing = ran.assert_steps(["load", "price:1", "save", "notify"])
    assert not missing
    assert missing.message.startswith("missing step(s) at the end: ['notify']")

    extra = ran.assert_steps(["load"])
    assert not extra
    assert extra.message.startswith("2 more step(s) than expected: ['price:1', 'save']")


def test_assert_step_called(ran: WorkflowHarness) -> None:
    assert ran.assert_step_called("load").message == "step 'load' executed once"
    assert ran.assert_step_called("price:1", times=1)
    wrong = ran.assert_step_called("load", times=2)
    assert not wrong
    assert wrong.message == (
        "step 'load' executed once, expected 2 times; executed steps: ['load', 'price:1', 'save']"
    )
    never = ran.assert_step_called("refund")
    assert not never
    assert never.message == (
        "step 'refund' was never executed; executed steps: ['load', 'price:1', 'save']"
    )
    assert ran.assert_step_called("refund", times=0)
    with pytest.raises(ValueError, match="times must be >= 0"):
        ran.assert_step_called("load", times=-1)


def test_assert_step_not_called(ran: WorkflowHarness) -> None:
    assert ran.assert_step_not_called("refund") == AssertionReport(
        True, "step 'refund' was not executed"
    )
    report = ran.assert_step_not_called("save")
    assert report == AssertionReport(False, "step 'save' executed once, expected it not to execute")


def test_check_functions_work_on_plain_invocation_lists() -> None:
    inv = Invocation(
        name=None, key=None, args={}, result=Ok(1), duration_s=0.0, scripted=False, step_id="s7"
    )
    assert inv.label == "s7"  # no name, no key: the step id labels it
    assert check_steps([inv, inv], ["s7"]).message.startswith("1 more step(s)")
    assert check_called([inv, inv], "x", times=2).message.startswith(
        "step 'x' executed 0 times, expected 2 times"
    )
    assert check_not_called([], "x")


async def test_assert_script_consumed_lists_unused_outcomes() -> None:
    harness = WorkflowHarness()
    harness.script(
        [ok_outcome(10), ok_outcome(20), err_outcome("late"), raise_outcome(KeyError("k"))]
    )
    assert harness.pending_outcomes() == 4
    assert await harness.run(three_steps) == Err("late")

    report = harness.assert_script_consumed()
    assert not report.passed
    assert report.message == "1 scripted outcome(s) never used: raise KeyError('k')"


async def test_assert_script_consumed_passes_when_everything_was_used() -> None:
    harness = WorkflowHarness().script([ok_outcome(1), real_outcome(), ok_outcome(3)])
    assert await harness.run(three_steps) == Ok(6)
    assert harness.assert_script_consumed() == AssertionReport(
        True, "every scripted outcome was consumed"
    )


async def test_reset_forgets_scripts_invocations_and_events_but_not_time() -> None:
    harness = WorkflowHarness()
    harness.script([ok_outcome(100)])
    harness.script_step("save", ok_outcome(1000))
    assert await harness.run(three_steps) == Ok(1102)
    harness.clock.advance(5)

    harness.reset()

    assert harness.invocations() == []
    assert harness.events() == []
    assert harness.pending_outcomes() == 0
    assert harness.clock.monotonic() == 5.0
    # Scripts are gone: everything runs for real now.
    assert await harness.run(three_steps) == Ok(6)
    assert not any(inv.scripted for inv in harness.invocations())


async def test_invocations_accumulate_across_runs_until_reset() -> None:
    harness = WorkflowHarness()
    await harness.run(three_steps, workflow_id="first")
    await harness.run(three_steps, workflow_id="second")
    assert harness.assert_step_called("load", times=2)
    assert [inv.workflow_id for inv in harness.invocations("load")] == ["first", "second"]
    assert "invocations=6" in repr(harness)
