"""run / Step basics: unwrapping, early exit, every op form, unexpected errors."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from returns.result import Failure, Success

from resultflow import Err, Ok, Step, UnexpectedError, run, workflow
from resultflow.errors import TaggedError
from resultflow.events import WorkflowCancelled, WorkflowEvent


class NotFound(TaggedError):
    tag = "RunnerNotFound"
    id: str


class Declined(TaggedError):
    tag = "RunnerDeclined"
    amount: int


async def find(uid: str) -> Ok[str] | Err[NotFound]:
    await asyncio.sleep(0)
    return Err(NotFound(uid)) if uid == "missing" else Ok(f"user:{uid}")


async def test_every_op_form_is_unwrapped() -> None:
    async def body(step: Step[NotFound]) -> list[str]:
        return [
            await step(Ok("plain")),
            await step(find("awaitable")),
            await step(lambda: find("async-thunk")),
            await step(lambda: Ok("sync-thunk")),
            await step(Success("returns")),
            await step(lambda: Success("returns-thunk")),
        ]

    assert await run(body) == Ok(
        ["plain", "user:awaitable", "user:async-thunk", "sync-thunk", "returns", "returns-thunk"]
    )


async def test_first_err_stops_the_body() -> None:
    reached: list[str] = []

    async def body(step: Step[NotFound | Declined]) -> str:
        await step(find("a"))
        reached.append("a")
        await step(find("missing"))
        reached.append("after")
        return "done"

    result = await run(body)
    assert result == Err(NotFound("missing"))
    assert reached == ["a"]


async def test_returns_failure_becomes_err() -> None:
    async def body(step: Step[str]) -> int:
        return await step(Failure("nope"))

    assert await run(body) == Err("nope")

    async def raising_failure(step: Step[ValueError]) -> int:
        return await step(lambda: Failure(ValueError("bad")), key="k")

    result = await run(raising_failure)
    # like contrib.returns.from_returns: an exception held by a Failure is also the cause
    assert isinstance(result, Err) and result.cause is result.error


async def test_except_exception_in_body_cannot_swallow_the_exit() -> None:
    async def body(step: Step[NotFound]) -> str:
        try:
            await step(find("missing"))
        except Exception:  # the exit signal is a BaseException
            return "swallowed"
        return "unreachable"

    assert await run(body) == Err(NotFound("missing"))


async def test_step_fail_exits_with_the_error() -> None:
    async def body(step: Step[Declined]) -> int:
        step.fail(Declined(5))

    assert await run(body) == Err(Declined(5))


async def test_body_exception_becomes_unexpected_error_with_cause() -> None:
    boom = RuntimeError("boom")

    async def body(step: Step[NotFound]) -> int:
        raise boom

    result = await run(body)
    assert isinstance(result, Err)
    error = result.error
    assert isinstance(error, UnexpectedError)
    assert error.exception_type == "RuntimeError"
    assert error.message == "boom"
    assert error.step is None
    assert result.cause is boom


async def test_op_exception_names_the_step() -> None:
    def explode() -> Ok[int]:
        raise ValueError("bad value")

    async def body(step: Step[NotFound]) -> int:
        return await step(explode, name="parse")

    result = await run(body)
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.step == "parse"
    assert result.error.exception_type == "ValueError"


async def test_non_result_return_is_a_clear_unexpected_error() -> None:
    async def not_a_result() -> int:
        return 42

    async def body(step: Step[NotFound]) -> int:
        return await step(not_a_result, name="compute")  # type: ignore[call-overload]

    result = await run(body)
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.step == "compute"
    assert result.error.exception_type == "TypeError"
    assert "not a Result" in result.error.message
    assert "compute" in result.error.message


async def test_body_value_is_wrapped_not_flattened() -> None:
    async def body(step: Step[NotFound]) -> Ok[int]:
        return Ok(1)

    assert await run(body) == Ok(Ok(1))


async def test_body_arguments_are_passed_after_step() -> None:
    async def body(step: Step[NotFound], a: int, b: str) -> str:
        return f"{a}{b}"

    assert await run(body, 1, "x") == Ok("1x")


async def test_catch_unexpected_maps_exceptions_in_body_and_steps() -> None:
    def explode() -> Ok[int]:
        raise KeyError("k")

    async def body(step: Step[NotFound]) -> int:
        return await step(explode)

    result = await run(body, catch_unexpected=lambda exc: f"mapped:{type(exc).__name__}")
    assert result == Err("mapped:KeyError")


async def test_a_raising_catch_unexpected_mapper_is_not_hidden() -> None:
    async def body(step: Step[NotFound]) -> int:
        raise ValueError("original")

    def mapper(exc: Exception) -> str:
        raise LookupError("mapper bug")

    with pytest.raises(LookupError, match="mapper bug"):
        await run(body, catch_unexpected=mapper)


async def test_a_mapper_bug_met_in_a_step_is_not_fed_back_to_the_mapper() -> None:
    seen: list[str] = []
    events: list[WorkflowEvent] = []

    def mapper(exc: Exception) -> str:
        seen.append(type(exc).__name__)
        if isinstance(exc, ValueError):
            raise KeyError("mapper bug")  # the mapper would happily map its own KeyError
        return f"mapped {exc!r}"

    def explode() -> Ok[int]:
        raise ValueError("op")

    async def body(step: Step[str]) -> int:
        return await step(explode)

    async def in_a_scope(step: Step[str]) -> object:
        return await step.all(explode, lambda: Ok(2))

    for candidate in (body, in_a_scope):
        seen.clear()
        events.clear()
        with pytest.raises(KeyError, match="mapper bug"):
            await run(candidate, catch_unexpected=mapper, on_event=lambda e, c: events.append(e))
        assert seen == ["ValueError"]
        end = events[-1]
        assert isinstance(end, WorkflowCancelled)
        assert end.reason is not None and "catch_unexpected raised KeyError" in end.reason


class Interrupt(BaseException):
    """A control-flow exception of some framework: not an Exception, so it passes run."""


@pytest.mark.parametrize(
    "raised",
    [
        KeyboardInterrupt(),
        SystemExit(3),
        Interrupt(),
        BaseExceptionGroup("from a task group", [Interrupt(), ValueError("v")]),
    ],
)
async def test_base_exceptions_pass_through_after_a_workflow_cancelled_event(
    raised: BaseException,
) -> None:
    events: list[WorkflowEvent] = []

    async def body(step: Step[NotFound]) -> int:
        await step(Ok(1))
        raise raised

    with pytest.raises(type(raised)):
        await run(body, on_event=lambda e, c: events.append(e))
    assert events[0].type == "workflow_start"
    end = events[-1]
    assert isinstance(end, WorkflowCancelled)
    assert end.reason == f"{type(raised).__name__} passed through the run"
    assert [e.type for e in events].count("workflow_cancelled") == 1


async def test_a_synchronous_body_is_a_clear_unexpected_error() -> None:
    def body(step: Step[str]) -> int:
        return 1

    result = await run(body)  # type: ignore[arg-type]
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.exception_type == "TypeError"
    assert "must be an async def" in result.error.message and "run_sync" in result.error.message


async def test_unknown_options_are_a_type_error() -> None:
    async def body(step: Step[str], uid: str) -> str:
        return uid

    with pytest.raises(TypeError, match=r"unknown option.*on_events"):
        await run(body, "a", on_events=print)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"unknown option.*uid"):
        await run(body, uid="a")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"workflow\(\) got unknown option.*retries"):
        workflow(retries=3)  # type: ignore[call-overload]


async def test_bodies_given_as_partials_and_callable_objects() -> None:
    import functools

    async def body(step: Step[NotFound], uid: str, *, suffix: str) -> str:
        return await step(find(uid)) + suffix

    class Body:
        async def __call__(self, step: Step[NotFound], uid: str) -> str:
            return await step(find(uid))

    assert await run(functools.partial(body, suffix="!"), "a") == Ok("user:a!")
    assert await run(functools.partial(body, uid="missing", suffix="!")) == Err(NotFound("missing"))
    assert await run(Body(), "b") == Ok("user:b")


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
async def test_keyboard_interrupt_and_system_exit_pass_through(
    exc_type: type[BaseException],
) -> None:
    async def body(step: Step[NotFound]) -> int:
        raise exc_type()

    with pytest.raises(exc_type):
        await run(body)


async def test_retry_with_a_bare_coroutine_is_a_type_error_without_warning() -> None:
    async def body(step: Step[NotFound]) -> str:
        return await step(find("x"), retry=3)  # type: ignore[call-overload]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = await run(body)
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.exception_type == "TypeError"
    assert "zero-argument callable" in result.error.message


async def test_step_try_maps_exceptions() -> None:
    def parse(text: str) -> int:
        return int(text)

    async def body(step: Step[str]) -> tuple[int, int]:
        good = await step.try_(lambda: parse("12"), error="bad int")
        async_good = await step.try_(lambda: asyncio.sleep(0, result=7), error="never")
        return good, async_good

    assert await run(body) == Ok((12, 7))

    async def failing(step: Step[str]) -> int:
        return await step.try_(lambda: parse("x"), on_error=lambda exc: f"bad: {exc}")

    result = await run(failing)
    assert isinstance(result, Err)
    assert result.error.startswith("bad: invalid literal")
    assert isinstance(result.cause, ValueError)


async def test_step_from_result_maps_the_error() -> None:
    async def body(step: Step[str]) -> str:
        return await step.from_result(lambda: find("missing"), on_error=lambda e: f"no {e.id}")

    assert await run(body) == Err("no missing")


async def test_step_from_result_with_a_bare_coroutine_is_closed_on_a_cache_hit() -> None:
    from resultflow import MemoryCache

    async def body(step: Step[str]) -> str:
        await step(lambda: Ok("cached"), key="user")
        return await step.from_result(find("missing"), on_error=lambda e: f"no {e.id}", key="user")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = await run(body, cache=MemoryCache())
        import gc

        gc.collect()  # an unclosed coroutine would warn "never awaited" here
    assert result == Ok("cached")


async def test_step_from_result_with_a_bare_coroutine_and_retry_is_a_type_error() -> None:
    async def body(step: Step[str]) -> str:
        return await step.from_result(find("x"), on_error=str, retry=3)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = await run(body)
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.exception_type == "TypeError"
    assert "zero-argument callable" in result.error.message


async def test_step_from_result_never_passes_an_exception_to_on_error() -> None:
    mapped: list[object] = []

    def on_error(error: NotFound) -> str:
        mapped.append(error)
        return f"no {error.id}"

    async def crash() -> Ok[str] | Err[NotFound]:
        raise ConnectionError("db down")

    async def body(step: Step[str]) -> str:
        return await step.from_result(crash, on_error=on_error, name="lookup")

    result = await run(body)
    assert mapped == []
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.exception_type == "ConnectionError" and result.error.step == "lookup"
    assert isinstance(result.cause, ConnectionError)

    async def retried(step: Step[str]) -> str:
        return await step.from_result(lambda: find("missing"), on_error=on_error, retry=2)

    from resultflow.testing._clock import TestClock

    assert await run(retried, clock=TestClock()) == Err("no missing")
    assert mapped == [NotFound("missing"), NotFound("missing")]

    async def from_returns_failure(step: Step[str]) -> str:
        return await step.from_result(lambda: Failure(NotFound("f")), on_error=on_error)  # type: ignore[arg-type]

    assert await run(from_returns_failure) == Err("no f")


async def test_workflow_decorator_forms() -> None:
    @workflow
    async def plain(step: Step[NotFound], uid: str) -> str:
        return await step(find(uid))

    @workflow(name="named", catch_unexpected=lambda exc: "mapped")
    async def strict(step: Step[NotFound], uid: str, *, boom: bool = False) -> str:
        if boom:
            raise RuntimeError("x")
        return await step(find(uid))

    assert await plain("a") == Ok("user:a")
    assert await plain("missing") == Err(NotFound("missing"))
    assert await strict("b") == Ok("user:b")
    assert await strict("b", boom=True) == Err("mapped")
    assert strict.name == "named"
    assert plain.name.endswith("plain")


async def test_workflow_with_options_sets_per_call_options() -> None:
    seen: list[str] = []

    @workflow
    async def wf(step: Step[NotFound]) -> str:
        return step.context.workflow_id

    result = await wf.with_options(
        workflow_id="order-1", on_event=lambda e, c: seen.append(e.type)
    )()
    assert result == Ok("order-1")
    assert seen[0] == "workflow_start" and seen[-1] == "workflow_success"


async def test_workflow_id_defaults_to_a_fresh_uuid() -> None:
    async def body(step: Step[NotFound]) -> str:
        return step.context.workflow_id

    first, second = await run(body), await run(body)
    assert isinstance(first, Ok) and isinstance(second, Ok)
    assert first.value != second.value
    assert len(first.value) == 36


async def test_nested_runs_recognise_only_their_own_exit() -> None:
    async def inner(step: Step[NotFound]) -> str:
        return await step(find("missing"))

    async def outer(step: Step[str]) -> str:
        nested = await run(inner)
        assert nested == Err(NotFound("missing"))
        return await step(Ok("outer continues"))

    assert await run(outer) == Ok("outer continues")


async def test_exit_inside_a_taskgroup_is_unwrapped() -> None:
    async def body(step: Step[NotFound]) -> str:
        async with asyncio.TaskGroup() as group:
            group.create_task(step(find("a")))
            group.create_task(step(find("missing")))
        return "unreachable"

    assert await run(body) == Err(NotFound("missing"))


async def test_an_outer_exit_inside_an_inner_runs_task_group_reaches_the_outer_run() -> None:
    inner_events: list[str] = []

    async def outer(step: Step[str]) -> str:
        async def inner(inner_step: Step[NotFound]) -> str:
            async with asyncio.TaskGroup() as group:
                group.create_task(inner_step(find("a")))
                group.create_task(step(Err("outer stops")))  # the outer run's step
            return "unreachable"

        await run(inner, on_event=lambda e, c: inner_events.append(e.type))
        return "unreachable"

    assert await run(outer) == Err("outer stops")
    assert inner_events[0] == "workflow_start"
    assert inner_events[-1] == "workflow_cancelled"  # the inner run ended without a result


async def test_interceptor_can_stand_in_for_a_step_or_proceed() -> None:
    from resultflow import StepInfo

    executed: list[str] = []
    seen: list[tuple[str | None, str | None]] = []

    async def real(name: str) -> Ok[str]:
        executed.append(name)
        return Ok(f"real {name}")

    async def interceptor(info: StepInfo, op: object, proceed):  # type: ignore[no-untyped-def]
        seen.append((info.name, info.key))
        if info.name == "scripted":
            return Err("scripted failure")
        return await proceed()

    async def body(step: Step[str]) -> str:
        first = await step(lambda: real("a"), name="plain", key="k")
        await step(lambda: real("b"), name="scripted")
        return first

    assert await run(body, interceptor=interceptor) == Err("scripted failure")
    assert executed == ["a"]
    assert seen == [("plain", "k"), ("scripted", None)]
