"""The pytest plugin: rf_clock and rf_harness reach a user's test file through the entry point."""

from __future__ import annotations

import importlib.metadata

import pytest

pytest_plugins = ["pytester"]

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

USER_TESTS = """
import time

from resultflow import Err, Ok, Step
from resultflow.reliability._retry import RetryPolicy
from resultflow.testing import TestClock, WorkflowHarness, err_outcome, ok_outcome


async def signup(step: Step[str], email: str) -> str:
    user = await step(lambda: Ok(email.split("@")[0]), name="create_user")
    await step.sleep(3600)
    return await step(lambda: Ok(f"welcome {user}"), name="send_welcome")


async def test_harness_scripts_and_runs_on_virtual_time(rf_harness: WorkflowHarness) -> None:
    rf_harness.script_step("send_welcome", ok_outcome("scripted welcome"))
    started = time.perf_counter()
    result = await rf_harness.run(signup, "ann@example.com")
    assert time.perf_counter() - started < 0.2
    assert result == Ok("scripted welcome")
    assert rf_harness.assert_steps(["create_user", "sleep", "send_welcome"])
    assert rf_harness.clock.monotonic() == 3600.0


async def test_harness_uses_the_rf_clock(rf_harness: WorkflowHarness, rf_clock: TestClock) -> None:
    assert rf_harness.clock is rf_clock
    rf_harness.script([err_outcome("no such domain")])
    assert await rf_harness.run(signup, "bob@nowhere") == Err("no such domain")


async def test_each_test_gets_fresh_fixtures(rf_harness: WorkflowHarness) -> None:
    assert rf_harness.invocations() == []
    assert rf_harness.clock.monotonic() == 0.0


def test_rf_clock_in_a_sync_test(rf_clock: TestClock) -> None:
    rf_clock.advance(30)
    assert rf_clock.monotonic() == 30.0


async def test_retry_backoff_on_rf_clock(rf_harness: WorkflowHarness) -> None:
    attempts = []

    def flaky():
        attempts.append(rf_harness.clock.monotonic())
        return Err("busy") if len(attempts) < 3 else Ok("done")

    async def body(step: Step[str]) -> str:
        policy = RetryPolicy(attempts=3, backoff="fixed", initial=30.0, jitter=False)
        return await step(flaky, name="flaky", retry=policy)

    assert await rf_harness.run(body) == Ok("done")
    assert attempts == [0.0, 30.0, 60.0]
"""

FAILING_TEST = """
from resultflow import Ok, Step


async def body(step: Step[str]) -> int:
    return await step(lambda: Ok(1), name="real_step")


async def test_reports_explain_failures(rf_harness) -> None:
    await rf_harness.run(body)
    assert rf_harness.assert_step_called("missing_step")
"""


def test_the_entry_point_names_the_plugin_module() -> None:
    found = [
        ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.name == "resultflow"
    ]
    assert [ep.value for ep in found] == ["resultflow.testing.plugin"]


def test_fixtures_work_in_a_users_test_file(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_user_signup=USER_TESTS, test_user_failing=FAILING_TEST)
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=5, failed=1)
    # A failed report shows its message in pytest's output.
    result.stdout.fnmatch_lines(
        ["*step 'missing_step' was never executed; executed steps: ?'real_step'?*"]
    )


def test_fixtures_come_from_the_entry_point_plugin(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_user_signup=USER_TESTS)
    # Blocking the entry point's plugin (named "resultflow") removes the fixtures.
    result = pytester.runpytest("-q", "-p", "no:resultflow")
    result.assert_outcomes(errors=5)
    result.stdout.fnmatch_lines(["*fixture 'rf_*' not found*"])
