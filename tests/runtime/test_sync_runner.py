"""The synchronous twins: run_sync, SyncStep, workflow_sync."""

from __future__ import annotations

import pytest

from resultflow import CacheEntry, Err, MemoryCache, Ok, Skipped, StepCollector, UnexpectedError
from resultflow._runtime.sync_runner import SyncStep, run_sync, workflow_sync
from resultflow.events import WorkflowEvent
from resultflow.reliability._retry import RetryPolicy
from resultflow.testing._clock import TestClock


def parse(text: str) -> Ok[int] | Err[str]:
    return Ok(int(text)) if text.isdigit() else Err(f"not a number: {text}")


def test_run_sync_unwraps_and_exits_early() -> None:
    reached: list[str] = []

    def body(step: SyncStep[str], a: str, b: str) -> int:
        x = step(parse(a))
        reached.append("x")
        y = step(lambda: parse(b))
        reached.append("y")
        return x + y

    assert run_sync(body, "1", "2") == Ok(3)
    assert run_sync(body, "1", "b") == Err("not a number: b")
    assert reached == ["x", "y", "x"]


def test_run_sync_exceptions_and_strict_mode() -> None:
    def body(step: SyncStep[str]) -> int:
        return step(lambda: Ok(1 // 0))

    result = run_sync(body)
    assert isinstance(result, Err)
    assert isinstance(result.error, UnexpectedError)
    assert result.error.exception_type == "ZeroDivisionError"
    assert run_sync(body, catch_unexpected=lambda exc: "math") == Err("math")


def test_run_sync_cache_resume_and_events() -> None:
    calls = {"n": 0}

    def fetch() -> Ok[str]:
        calls["n"] += 1
        return Ok("v")

    def body(step: SyncStep[str]) -> str:
        return step(fetch, key="k") + step(fetch, key="k")

    events: list[WorkflowEvent] = []
    collector = StepCollector()

    def sink(event: WorkflowEvent, ctx: object) -> None:
        events.append(event)
        collector.handle_event(event)

    assert run_sync(body, cache=MemoryCache(), on_event=sink) == Ok("vv")
    assert calls["n"] == 1
    assert [e.type for e in events] == [
        "workflow_start",
        "step_cache_miss",
        "step_start",
        "step_success",
        "step_complete",
        "step_cache_hit",
        "workflow_success",
    ]
    assert run_sync(body, resume_state=collector.state()) == Ok("vv")
    assert calls["n"] == 1


def test_run_sync_retries_sleep_through_the_clock() -> None:
    clock = TestClock()
    outcomes = iter([Err("e1"), Err("e2"), Ok("fine")])
    events: list[str] = []

    def body(step: SyncStep[str]) -> str:
        return step(
            lambda: next(outcomes),
            retry=RetryPolicy(attempts=3, backoff="fixed", initial=2.0, jitter=False),
        )

    assert run_sync(body, clock=clock, on_event=lambda e, c: events.append(e.type)) == Ok("fine")
    assert clock.monotonic() == 4.0
    assert events.count("step_retry") == 2


def test_run_sync_hooks() -> None:
    def body(step: SyncStep[str]) -> int:
        return step(lambda: Ok(1), key="one")

    assert run_sync(body, should_run=lambda wid, ctx: False) == Err(Skipped(reason="should_run"))
    seen: list[str] = []
    run_sync(body, on_after_step=lambda key, r, wid, ctx: seen.append(key))
    assert seen == ["one"]

    def deny(info: object, ctx: object) -> None:
        raise PermissionError("no")

    denied = run_sync(body, on_before_step=deny)
    assert isinstance(denied, Err)
    assert isinstance(denied.error, UnexpectedError)
    assert denied.error.step == "on_before_step"


def test_run_sync_rejects_async_ops_and_caches() -> None:
    async def coro_op() -> Ok[int]:
        return Ok(1)

    def body(step: SyncStep[str]) -> int:
        return step(coro_op)  # type: ignore[arg-type]

    result = run_sync(body)
    assert isinstance(result, Err)
    assert isinstance(result.error, UnexpectedError)
    assert "sync ops" in result.error.message

    class AsyncCache:
        async def get(self, key: str) -> CacheEntry | None:
            return None

        async def set(self, key: str, entry: CacheEntry, ttl: float | None = None) -> None:
            return None

        async def delete(self, key: str) -> None:
            return None

        async def clear(self) -> None:
            return None

    def keyed(step: SyncStep[str]) -> int:
        return step(lambda: Ok(1), key="k")

    cached = run_sync(keyed, cache=AsyncCache())
    assert isinstance(cached, Err)
    assert isinstance(cached.error, UnexpectedError)
    assert "synchronous StepCache" in cached.error.message


def test_run_sync_has_no_run_timeout() -> None:
    def body(step: SyncStep[str]) -> int:
        return 1

    with pytest.raises(TypeError, match="timeout="):
        run_sync(body, timeout=1.0)


def test_workflow_sync_and_try() -> None:
    @workflow_sync
    def total(step: SyncStep[str], *texts: str) -> int:
        return sum(step.try_(lambda t=t: int(t), error=f"bad {t}") for t in texts)

    assert total("1", "2", "3") == Ok(6)
    assert total("1", "x") == Err("bad x")

    @workflow_sync(name="failing")
    def failing(step: SyncStep[str]) -> int:
        step.fail("stop")

    assert failing() == Err("stop")
    assert failing.name == "failing"


def test_sync_step_variants_try_on_error_from_result_retry_and_sleep() -> None:
    clock = TestClock()
    outcomes = iter([Err("busy"), Ok(5)])

    def missing() -> Ok[int] | Err[KeyError]:
        return Err(KeyError("id"))

    def body(step: SyncStep[str]) -> list[int]:
        parsed = step.try_(lambda: int("7"), on_error=lambda exc: f"bad: {exc}")
        retried = step.retry(lambda: next(outcomes), attempts=2, jitter=False)
        step.sleep(30)
        return [parsed, retried]

    assert run_sync(body, clock=clock) == Ok([7, 5])
    assert clock.monotonic() == 30.1  # the retry's 0.1 s backoff, then the 30 s sleep

    def mapped(step: SyncStep[str]) -> int:
        return step.from_result(missing, on_error=lambda e: f"no {e.args[0]}")

    assert run_sync(mapped) == Err("no id")

    def raising(step: SyncStep[str]) -> int:
        return step.try_(lambda: int("x"), on_error=lambda exc: f"bad: {type(exc).__name__}")

    failed = run_sync(raising)
    assert failed == Err("bad: ValueError") and isinstance(failed.cause, ValueError)


def test_sync_from_result_never_passes_an_exception_to_on_error() -> None:
    mapped: list[object] = []

    def crash() -> Ok[int] | Err[str]:
        raise ConnectionError("down")

    def body(step: SyncStep[str]) -> int:
        return step.from_result(crash, on_error=lambda e: mapped.append(e) or "x", name="db")

    result = run_sync(body)
    assert mapped == []
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.step == "db" and result.error.exception_type == "ConnectionError"


def test_run_sync_rejects_an_async_body_without_a_never_awaited_warning() -> None:
    import gc
    import warnings

    async def body(step: SyncStep[str]) -> int:
        return 1

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run_sync(body)  # type: ignore[arg-type]
        gc.collect()
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert "must be a plain function" in result.error.message


def test_run_sync_rejects_unknown_and_async_only_options() -> None:
    from resultflow.reliability._policies import Policy

    def body(step: SyncStep[str]) -> int:
        return 1

    with pytest.raises(TypeError, match="policy="):
        run_sync(body, policy=Policy(retry=RetryPolicy(attempts=3)))
    with pytest.raises(TypeError, match=r"unknown option.*on_events"):
        run_sync(body, on_events=print)  # type: ignore[call-overload]


def test_run_sync_bad_resume_state_and_async_loader_are_unexpected_errors() -> None:
    import gc
    import warnings

    def body(step: SyncStep[str]) -> int:
        return 1

    async def load() -> dict[str, CacheEntry]:
        return {}

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = run_sync(body, resume_state=load)
        gc.collect()
    assert isinstance(loaded, Err) and isinstance(loaded.error, UnexpectedError)
    assert loaded.error.step == "resume_state" and "synchronous" in loaded.error.message
    bad = run_sync(body, resume_state={"k": "nope"})  # type: ignore[dict-item]
    assert isinstance(bad, Err) and isinstance(bad.error, UnexpectedError)
    assert "not a ResumeEntry" in bad.error.message


def test_run_sync_mapper_bug_and_interrupts_pass_through_after_workflow_cancelled() -> None:
    events: list[WorkflowEvent] = []
    seen: list[str] = []

    def mapper(exc: Exception) -> str:
        seen.append(type(exc).__name__)
        raise LookupError("mapper bug")

    def body(step: SyncStep[str]) -> int:
        return step(lambda: Ok(1 // 0))

    with pytest.raises(LookupError):
        run_sync(body, catch_unexpected=mapper, on_event=lambda e, c: events.append(e))
    assert seen == ["ZeroDivisionError"]
    assert events[-1].type == "workflow_cancelled"

    def interrupted(step: SyncStep[str]) -> int:
        raise KeyboardInterrupt

    events.clear()
    with pytest.raises(KeyboardInterrupt):
        run_sync(interrupted, on_event=lambda e, c: events.append(e))
    assert [e.type for e in events] == ["workflow_start", "workflow_cancelled"]


def test_sync_step_whose_nested_step_exits_gets_step_aborted() -> None:
    events: list[WorkflowEvent] = []

    def body(step: SyncStep[str]) -> int:
        def outer_op() -> Ok[int]:
            return Ok(step(Err("inner failed"), name="inner"))

        return step(outer_op, name="outer")

    assert run_sync(body, on_event=lambda e, c: events.append(e)) == Err("inner failed")
    assert [(e.type, getattr(e, "name", None)) for e in events][1:-1] == [
        ("step_start", "outer"),
        ("step_start", "inner"),
        ("step_error", "inner"),
        ("step_aborted", "outer"),
    ]


@pytest.mark.parametrize(
    "option", ["create_context", "should_run", "on_before_start", "on_before_step", "on_after_step"]
)
def test_run_sync_rejects_async_hooks_without_a_never_awaited_warning(option: str) -> None:
    import gc
    import warnings

    async def hook(*args: object) -> bool:
        return True

    def body(step: SyncStep[str]) -> int:
        return step(lambda: Ok(1), key="k")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run_sync(body, **{option: hook})  # type: ignore[arg-type]
        gc.collect()
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.step == option
    assert f"synchronous {option}" in result.error.message
