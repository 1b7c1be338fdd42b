"""WorkflowHarness: scripting by order and by name, real vs scripted ops, invocations."""

from __future__ import annotations

import functools

import pytest

from resultflow import Err, Ok, Step, UnexpectedError, run, workflow
from resultflow.errors import TaggedError
from resultflow.testing import (
    Invocation,
    ScriptExhausted,
    TestClock,
    WorkflowHarness,
    err_outcome,
    ok_outcome,
    raise_outcome,
    real_outcome,
)


class NotFound(TaggedError):
    id: str


class Declined(TaggedError):
    reason: str


class Bank:
    """Real ops that count how often they actually ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    async def load_user(self, user_id: str) -> Ok[str] | Err[NotFound]:
        self.ran.append("load_user")
        return Ok(f"user:{user_id}")

    async def charge(self, user: str, amount: int) -> Ok[str] | Err[Declined]:
        self.ran.append("charge")
        return Ok(f"receipt:{user}:{amount}")

    def notify(self, user: str) -> Ok[bool]:
        self.ran.append("notify")
        return Ok(True)


def checkout_body(bank: Bank):
    async def checkout(step: Step[NotFound | Declined], user_id: str, amount: int) -> str:
        user = await step(lambda: bank.load_user(user_id), name="load_user")
        receipt = await step(bank.charge(user, amount), name="charge")
        await step(lambda: bank.notify(user), key=f"notify:{user_id}")
        return receipt

    return checkout


async def test_ordered_script_stands_in_for_steps_in_order() -> None:
    bank = Bank()
    harness = WorkflowHarness()
    harness.script([ok_outcome("user:scripted"), ok_outcome("receipt:scripted")])

    result = await harness.run(checkout_body(bank), "u1", 10)

    assert result == Ok("receipt:scripted")
    # Only the third, unscripted step ran for real.
    assert bank.ran == ["notify"]
    assert [inv.scripted for inv in harness.invocations()] == [True, True, False]
    assert harness.pending_outcomes() == 0


async def test_err_outcome_stops_the_body_and_later_steps_never_run() -> None:
    bank = Bank()
    harness = WorkflowHarness()
    harness.script([ok_outcome("user:u1"), err_outcome(Declined(reason="limit"))])

    result = await harness.run(checkout_body(bank), "u1", 10)

    assert result == Err(Declined(reason="limit"))
    assert bank.ran == []
    assert harness.assert_steps(["load_user", "charge"])
    assert harness.assert_step_not_called("notify:u1")


async def test_script_step_by_name_and_by_key() -> None:
    bank = Bank()
    harness = WorkflowHarness()
    harness.script_step("charge", Ok("receipt:fake"))  # a bare Result is an ok outcome
    harness.script_step("notify:u1", err_outcome(NotFound(id="mailbox")))

    result = await harness.run(checkout_body(bank), "u1", 5)

    assert result == Err(NotFound(id="mailbox"))
    assert bank.ran == ["load_user"]
    scripted = {inv.label: inv.scripted for inv in harness.invocations()}
    assert scripted == {"load_user": False, "charge": True, "notify:u1": True}


async def test_named_outcomes_take_precedence_and_do_not_consume_the_order() -> None:
    bank = Bank()
    harness = WorkflowHarness()
    harness.script_step("charge", ok_outcome("receipt:named"))
    harness.script([ok_outcome("user:ordered"), ok_outcome(True)])

    result = await harness.run(checkout_body(bank), "u1", 1)

    assert result == Ok("receipt:named")
    assert bank.ran == []
    results = [inv.result for inv in harness.invocations()]
    assert results == [Ok("user:ordered"), Ok("receipt:named"), Ok(True)]


async def test_script_step_times_then_falls_back() -> None:
    attempts: list[int] = []

    async def body(step: Step[Declined]) -> list[str]:
        out: list[str] = []
        for i in range(4):
            attempts.append(i)
            value = await step(lambda: Ok("real"), name="pay")
            out.append(value)
        return out

    harness = WorkflowHarness()
    harness.script_step("pay", ok_outcome("first"), times=2)
    harness.script_step("pay", ok_outcome("third"), times=1)

    result = await harness.run(body)

    # Two scripted, one scripted, then the named entries are used up: the real op runs.
    assert result == Ok(["first", "first", "third", "real"])
    assert [inv.scripted for inv in harness.invocations("pay")] == [True, True, True, False]


def test_script_step_rejects_bad_times_and_bad_items() -> None:
    harness = WorkflowHarness()
    with pytest.raises(ValueError, match="times must be >= 1"):
        harness.script_step("x", ok_outcome(1), times=0)
    with pytest.raises(TypeError, match="must be a ScriptedOutcome, Ok or Err"):
        harness.script(["not an outcome"])  # type: ignore[list-item]


async def test_real_outcome_is_a_placeholder_in_the_order() -> None:
    bank = Bank()
    harness = WorkflowHarness()
    harness.script([real_outcome(), ok_outcome("receipt:scripted")])

    result = await harness.run(checkout_body(bank), "u2", 3)

    assert result == Ok("receipt:scripted")
    assert bank.ran == ["load_user", "notify"]
    assert [inv.scripted for inv in harness.invocations()] == [False, True, False]


async def test_scripted_bare_coroutine_is_closed_without_warning() -> None:
    # filterwarnings=error would turn "coroutine ... was never awaited" into a failure
    # (when it is collected); check directly that the coroutine was closed.
    seen: list[object] = []

    async def charge() -> Ok[int]:
        return Ok(1)

    async def body(step: Step[str]) -> int:
        op = charge()
        seen.append(op)
        return await step(op, name="charge")

    harness = WorkflowHarness().script([ok_outcome(99)])
    assert await harness.run(body) == Ok(99)
    coro = seen[0]
    assert getattr(coro, "cr_frame", "missing") is None  # closed: no frame left


async def test_raise_outcome_becomes_unexpected_error_naming_the_step() -> None:
    bank = Bank()
    harness = WorkflowHarness()
    boom = ConnectionError("bank down")
    harness.script_step("charge", raise_outcome(boom))

    result = await harness.run(checkout_body(bank), "u1", 10)

    assert isinstance(result, Err)
    error = result.error
    assert isinstance(error, UnexpectedError)
    assert error.exception_type == "ConnectionError"
    assert error.message == "bank down"
    assert error.step == "charge"
    assert result.cause is boom
    assert bank.ran == ["load_user"]


async def test_raise_outcome_uses_catch_unexpected() -> None:
    class Boom(TaggedError):
        what: str

    async def body(step: Step[Boom]) -> int:
        return await step(lambda: Ok(1), name="x")

    harness = WorkflowHarness().script([raise_outcome(KeyError("k"))])
    result = await harness.run(body, catch_unexpected=lambda exc: Boom(what=type(exc).__name__))
    assert result == Err(Boom(what="KeyError"))


async def test_raise_outcome_matches_what_the_real_runner_does() -> None:
    """A scripted raise and a real raising op produce equal results."""
    error = ValueError("bad input")

    def raising() -> Ok[int]:
        raise error

    async def body(step: Step[str]) -> int:
        return await step(raising, name="parse")

    real = await run(body)
    scripted = await WorkflowHarness().script([raise_outcome(error)]).run(body)
    assert real == scripted
    assert isinstance(real, Err)
    assert isinstance(scripted, Err)
    assert real.cause is scripted.cause is error


async def test_unscripted_steps_run_for_real_by_default() -> None:
    bank = Bank()
    harness = WorkflowHarness()
    result = await harness.run(checkout_body(bank), "u3", 7)
    assert result == Ok("receipt:user:u3:7")
    assert bank.ran == ["load_user", "charge", "notify"]
    assert not any(inv.scripted for inv in harness.invocations())


async def test_exhausted_script_runs_the_rest_for_real() -> None:
    bank = Bank()
    harness = WorkflowHarness().script([ok_outcome("user:x")])
    result = await harness.run(checkout_body(bank), "u4", 1)
    assert result == Ok("receipt:user:x:1")
    assert bank.ran == ["charge", "notify"]


async def test_strict_harness_raises_script_exhausted_and_stops_the_body() -> None:
    bank = Bank()
    harness = WorkflowHarness(strict=True).script([ok_outcome("user:x")])

    with pytest.raises(ScriptExhausted, match=r"step 'charge' \(step #2") as caught:
        await harness.run(checkout_body(bank), "u5", 1)

    assert caught.value.step == "charge"
    assert bank.ran == []  # the strict harness never fell through to a real op
    assert [inv.label for inv in harness.invocations()] == ["load_user"]


async def test_strict_harness_cannot_be_fooled_by_a_body_that_swallows_errors() -> None:
    async def body(step: Step[str]) -> str:
        try:
            await step(lambda: Ok(1), name="unscripted")
        except Exception:
            return "swallowed"
        return "ran"

    harness = WorkflowHarness(strict=True)
    with pytest.raises(ScriptExhausted):
        await harness.run(body)


async def test_run_refuses_clock_and_interceptor_options() -> None:
    async def body(step: Step[str]) -> int:
        return 1

    harness = WorkflowHarness()
    with pytest.raises(TypeError, match=r"WorkflowHarness\(clock=...\)"):
        await harness.run(body, clock=TestClock())

    async def interceptor(info: object, op: object, proceed: object) -> Ok[int]:
        return Ok(1)

    with pytest.raises(TypeError, match="script outcomes"):
        await harness.run(body, interceptor=interceptor)


async def test_invocation_content() -> None:
    bank = Bank()
    harness = WorkflowHarness()
    harness.script_step("charge", ok_outcome("receipt:s"))

    await harness.run(checkout_body(bank), "u9", 42, workflow_id="wf-1")

    load, charge, notify = harness.invocations()
    assert load == Invocation(
        name="load_user",
        key=None,
        args={"bank": bank, "user_id": "u9"},  # what the lambda captured
        result=Ok("user:u9"),
        duration_s=0.0,
        scripted=False,
        step_id="s1",
    )
    # A bare coroutine op: its call arguments (self included for a method).
    assert charge.args == {"self": bank, "user": "user:u9", "amount": 42}
    assert charge.scripted
    assert charge.result == Ok("receipt:s")
    assert notify.name is None
    assert notify.key == "notify:u9"
    assert notify.label == "notify:u9"
    assert notify.args == {"bank": bank, "user": "user:u9"}
    assert {inv.workflow_id for inv in harness.invocations()} == {"wf-1"}
    assert harness.invocations("charge") == [charge]


async def test_invocation_args_of_partials_plain_results_and_plain_functions() -> None:
    def add(a: int, b: int) -> Ok[int]:
        return Ok(a + b)

    def no_captures() -> Ok[int]:
        return Ok(0)

    async def body(step: Step[str]) -> int:
        x = await step(functools.partial(add, 1, b=2), name="partial")
        y = await step(Ok(5), name="plain")
        z = await step(no_captures, name="function")
        return x + y + z

    harness = WorkflowHarness()
    assert await harness.run(body) == Ok(8)
    assert [inv.args for inv in harness.invocations()] == [{"0": 1, "b": 2}, {}, {}]


async def test_cache_hits_are_not_invocations() -> None:
    from resultflow import MemoryCache

    ran: list[int] = []

    async def body(step: Step[str]) -> int:
        def op() -> Ok[int]:
            ran.append(1)
            return Ok(7)

        first = await step(op, key="same")
        second = await step(op, key="same")  # a cache hit: never reaches the interceptor
        return first + second

    harness = WorkflowHarness()
    assert await harness.run(body, cache=MemoryCache()) == Ok(14)
    assert ran == [1]
    assert harness.assert_step_called("same", times=1)
    kinds = [event.type for event in harness.events()]
    assert "step_cache_hit" in kinds


async def test_concurrent_steps_are_scripted_by_name_and_recorded_in_start_order() -> None:
    async def body(step: Step[str]) -> tuple[int, int, int]:
        # Items of a named scope are steps named "<name>[<index>]".
        return await step.all(lambda: Ok(1), lambda: Ok(2), lambda: Ok(3), name="fan")

    harness = WorkflowHarness()
    harness.script_step("fan[1]", ok_outcome(20))
    assert await harness.run(body) == Ok((1, 20, 3))
    assert harness.assert_steps(["fan[0]", "fan[1]", "fan[2]"])
    assert [inv.scripted for inv in harness.invocations()] == [False, True, False]


async def test_race_loser_is_recorded_without_a_result() -> None:
    async def body(step: Step[str]) -> str:
        async def slow() -> Ok[str]:
            await step.context.clock.sleep(10)
            return Ok("slow")

        return await step.race(lambda: Ok("fast"), slow, name="race")

    harness = WorkflowHarness()
    assert await harness.run(body) == Ok("fast")
    assert harness.invocations("race[0]")[0].result == Ok("fast")
    slow = harness.invocations("race[1]")
    assert len(slow) == 1
    assert slow[0].result is None  # cancelled before it finished


async def test_user_on_event_still_receives_every_event() -> None:
    seen: list[str] = []

    async def listener(event: object, ctx: object) -> None:
        seen.append(getattr(event, "type", "?"))

    async def body(step: Step[str]) -> int:
        return await step(lambda: Ok(1), name="only")

    harness = WorkflowHarness().script([ok_outcome(5)])
    assert await harness.run(body, on_event=listener) == Ok(5)
    recorded = [event.type for event in harness.events()]
    assert seen == recorded
    assert recorded == [
        "workflow_start",
        "step_start",
        "step_success",
        "workflow_success",
    ]


async def test_run_workflow_replaces_clock_and_keeps_the_workflows_listener() -> None:
    seen: list[str] = []

    @workflow(name="greet", on_event=lambda event, ctx: seen.append(event.type))
    async def greet(step: Step[NotFound], who: str) -> str:
        name = await step(lambda: Ok(who.title()), name="title")
        await step.sleep(60)
        return f"hello {name}"

    clock = TestClock()
    harness = WorkflowHarness(clock)
    harness.script_step("title", ok_outcome("Scripted"))

    assert await harness.run_workflow(greet, "ann") == Ok("hello Scripted")
    assert clock.monotonic() == 60.0  # the sleep ran on the harness's virtual clock
    assert seen[0] == "workflow_start"
    assert seen == [event.type for event in harness.events()]
    assert harness.assert_steps(["title", "sleep"])


async def test_intercept_can_be_plugged_into_run_directly() -> None:
    async def body(step: Step[str]) -> int:
        return await step(lambda: Ok(1), name="x")

    harness = WorkflowHarness().script([ok_outcome(41)])
    result = await run(body, interceptor=harness.intercept, clock=harness.clock)
    assert result == Ok(41)
    assert harness.assert_step_called("x", times=1)
