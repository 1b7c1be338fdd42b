"""Wrapping helpers (try_call, try_async, from_optional, safe) and batch helpers."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Iterator

import pytest

from resultflow.combinators import (
    all_ok,
    all_settled,
    any_ok,
    first_ok,
    gather_ok,
    gather_settled,
    partition,
)
from resultflow.errors import TaggedError, UnexpectedError
from resultflow.result import Err, Ok, Result
from resultflow.wrapping import SafeDecorator, from_optional, safe, try_async, try_call


class CombinatorsTestMissing(TaggedError):
    key: str


def parse(text: str, base: int = 10) -> int:
    return int(text, base)


# -- try_call ----------------------------------------------------------------------------------
def test_try_call_ok_with_args_and_kwargs() -> None:
    assert try_call(parse, "ff", base=16) == Ok(255)
    assert try_call(parse, "12") == Ok(12)


def test_try_call_default_error_is_unexpected_error_with_cause() -> None:
    result = try_call(parse, "x")
    assert isinstance(result, Err)
    assert isinstance(result.error, UnexpectedError)
    assert result.error.exception_type == "ValueError"
    assert "invalid literal" in result.error.message
    assert isinstance(result.cause, ValueError)
    assert result.error.cause is result.cause


def test_try_call_on_error_builds_the_error() -> None:
    result = try_call(parse, "x", on_error=lambda exc: f"bad: {type(exc).__name__}")
    assert result == Err("bad: ValueError")
    assert isinstance(result, Err)
    assert isinstance(result.cause, ValueError)


def test_try_call_on_error_with_keyword_arguments_at_run_time() -> None:
    # Typed for positional arguments only, but keyword arguments work at run time.
    result = try_call(parse, "zz", base=16, on_error=str)
    assert isinstance(result, Err)
    assert "invalid literal" in result.error


def test_try_call_lets_base_exceptions_through() -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        try_call(interrupt)


def test_try_call_on_error_that_raises_propagates() -> None:
    def broken(exc: Exception) -> str:
        raise RuntimeError("on_error is broken") from exc

    with pytest.raises(RuntimeError, match="on_error is broken"):
        try_call(parse, "x", on_error=broken)


# -- try_async ---------------------------------------------------------------------------------
async def fetch(value: int) -> int:
    if value < 0:
        raise LookupError(f"no item {value}")
    return value * 10


async def test_try_async_with_an_awaitable() -> None:
    assert await try_async(fetch(2)) == Ok(20)
    result = await try_async(fetch(-1))
    assert isinstance(result, Err)
    assert result.error == UnexpectedError("LookupError", "no item -1")
    assert isinstance(result.cause, LookupError)


async def test_try_async_with_a_thunk_catches_synchronous_raises() -> None:
    def make() -> Awaitable[int]:
        raise OSError("could not even start")

    assert await try_async(lambda: fetch(3)) == Ok(30)
    result = await try_async(make, on_error=lambda exc: str(exc))
    assert result == Err("could not even start")


async def test_try_async_on_error() -> None:
    result = await try_async(fetch(-5), on_error=lambda exc: CombinatorsTestMissing(str(exc)))
    assert result == Err(CombinatorsTestMissing("no item -5"))


async def test_try_async_with_a_future() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    future.set_result(7)
    assert await try_async(future) == Ok(7)


async def test_try_async_lets_cancellation_through() -> None:
    async def cancelled() -> int:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await try_async(cancelled())


# -- from_optional -----------------------------------------------------------------------------
def test_from_optional_value() -> None:
    assert from_optional(0, "missing") == Ok(0)
    assert from_optional("", "missing") == Ok("")
    assert from_optional(False, "missing") == Ok(False)


def test_from_optional_none_with_error_value() -> None:
    assert from_optional(None, "missing") == Err("missing")
    assert from_optional(None, CombinatorsTestMissing("k")) == Err(CombinatorsTestMissing("k"))


def test_from_optional_none_with_error_factory() -> None:
    assert from_optional(None, lambda: CombinatorsTestMissing("k")) == Err(
        CombinatorsTestMissing("k")
    )


def test_from_optional_factory_only_called_for_none() -> None:
    calls: list[int] = []

    def factory() -> str:
        calls.append(1)
        return "missing"

    assert from_optional({"a": 1}.get("a"), factory) == Ok(1)
    assert calls == []
    assert from_optional({"a": 1}.get("b"), factory) == Err("missing")
    assert calls == [1]


# -- safe --------------------------------------------------------------------------------------
@safe(ValueError)
def safe_parse(text: str) -> int:
    """Parse an int."""
    return int(text)


@safe(KeyError, IndexError)
def lookup(data: dict[str, list[int]], key: str, index: int = 0) -> int:
    return data[key][index]


@safe(LookupError)
async def safe_fetch(value: int) -> int:
    """Fetch a thing."""
    return await fetch(value)


def test_safe_ok_and_err() -> None:
    assert safe_parse("3") == Ok(3)
    result = safe_parse("x")
    assert isinstance(result, Err)
    assert isinstance(result.error, ValueError)
    assert result.cause is result.error


def test_safe_several_exception_types() -> None:
    data = {"a": [1, 2]}
    assert lookup(data, "a", index=1) == Ok(2)
    assert isinstance(lookup(data, "b").ok_or_none(), type(None))
    assert isinstance(lookup(data, "b").err_or_none(), KeyError)
    assert isinstance(lookup(data, "a", 5).err_or_none(), IndexError)


def test_safe_other_exceptions_still_raise() -> None:
    with pytest.raises(TypeError):
        lookup(None, "a")


def test_safe_subclasses_are_caught() -> None:
    @safe(LookupError)
    def get(d: dict[str, int], k: str) -> int:
        return d[k]

    assert isinstance(get({}, "x").err_or_none(), KeyError)


def test_safe_keeps_metadata() -> None:
    assert safe_parse.__name__ == "safe_parse"
    assert safe_parse.__doc__ == "Parse an int."
    assert safe_fetch.__name__ == "safe_fetch"
    assert asyncio.iscoroutinefunction(safe_fetch)
    assert not asyncio.iscoroutinefunction(safe_parse)


async def test_safe_async() -> None:
    assert await safe_fetch(2) == Ok(20)
    result = await safe_fetch(-1)
    assert isinstance(result, Err)
    assert isinstance(result.error, LookupError)


async def test_safe_async_other_exceptions_still_raise() -> None:
    @safe(KeyError)
    async def explode() -> int:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await explode()


async def test_safe_on_a_partial_of_an_async_function() -> None:
    wrapped = safe(LookupError)(functools.partial(fetch, -1))
    result = await wrapped()
    assert isinstance(result.err_or_none(), LookupError)


def test_safe_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="at least one"):
        safe()
    with pytest.raises(TypeError, match=r"write @safe\(SomeError\)"):
        safe(parse)
    with pytest.raises(TypeError, match="Exception subclasses"):
        safe(KeyboardInterrupt)


def test_safe_decorator_repr_and_types() -> None:
    decorator = safe(KeyError, ValueError)
    assert isinstance(decorator, SafeDecorator)
    assert decorator.exception_types == (KeyError, ValueError)
    assert repr(decorator) == "safe(KeyError, ValueError)"


# -- all_ok, all_settled, any_ok, partition -------------------------------------------------------
MIXED: list[Result[int, str]] = [Ok(1), Err("a"), Ok(2), Err("b")]
GOOD: list[Result[int, str]] = [Ok(1), Ok(2), Ok(3)]


def test_all_ok() -> None:
    assert all_ok(GOOD) == Ok([1, 2, 3])
    assert all_ok(MIXED) == Err("a")
    assert all_ok([]) == Ok([])


def test_all_ok_returns_the_first_err_itself_with_its_cause() -> None:
    exc = ValueError("v")
    first = Err("a", cause=exc)
    result = all_ok([Ok(1), first, Err("b")])
    assert result is first


def test_all_ok_stops_consuming_at_the_first_err() -> None:
    consumed: list[int] = []

    def produce() -> Iterator[Result[int, str]]:
        for i in range(5):
            consumed.append(i)
            yield Err("stop") if i == 1 else Ok(i)

    assert all_ok(produce()) == Err("stop")
    assert consumed == [0, 1]


def test_all_settled() -> None:
    assert all_settled(GOOD) == Ok([1, 2, 3])
    assert all_settled(MIXED) == Err(["a", "b"])
    assert all_settled([]) == Ok([])


def test_any_ok() -> None:
    assert any_ok(MIXED) == Ok(1)
    assert any_ok([Err("a"), Ok(5), Ok(6)]) == Ok(5)
    assert any_ok([Err("a"), Err("b")]) == Err(["a", "b"])
    assert any_ok([]) == Err([])


def test_partition() -> None:
    assert partition(MIXED) == ([1, 2], ["a", "b"])
    assert partition([]) == ([], [])
    assert partition(iter(GOOD)) == ([1, 2, 3], [])


# -- async batch helpers ---------------------------------------------------------------------------
class Probe:
    """An awaitable source that finishes when told to and records cancellation."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.finished = False

    async def wait_then(self, result: Result[int, str]) -> Result[int, str]:
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        self.finished = True
        return result

    async def forever(self) -> Result[int, str]:
        return await self.wait_then(Ok(-1))


async def ready(result: Result[int, str]) -> Result[int, str]:
    return result


async def test_gather_ok_all_ok_keeps_input_order() -> None:
    slow, fast = Probe(), Probe()
    task = asyncio.ensure_future(gather_ok(slow.wait_then(Ok(1)), fast.wait_then(Ok(2))))
    await asyncio.sleep(0)
    fast.release.set()
    await asyncio.sleep(0)
    slow.release.set()
    assert await task == Ok((1, 2))


async def test_gather_ok_mixed_value_types() -> None:
    async def name() -> Result[str, str]:
        return Ok("ada")

    assert await gather_ok(ready(Ok(1)), name()) == Ok((1, "ada"))


async def test_gather_ok_empty() -> None:
    assert await gather_ok() == Ok(())


async def test_gather_ok_cancels_the_rest_on_first_err() -> None:
    first, second = Probe(), Probe()
    result = await gather_ok(first.forever(), ready(Err("boom")), second.forever())
    assert result == Err("boom")
    # Cancellation was delivered and completed before gather_ok returned.
    assert first.cancelled.is_set()
    assert second.cancelled.is_set()
    assert not first.finished
    assert not second.finished


async def test_gather_ok_leaves_no_task_running() -> None:
    before = asyncio.all_tasks()
    probe = Probe()
    await gather_ok(probe.forever(), ready(Err("x")))
    assert asyncio.all_tasks() == before


async def test_gather_ok_returns_the_first_err_to_arrive() -> None:
    late = Probe()
    task = asyncio.ensure_future(gather_ok(late.wait_then(Err("late")), ready(Err("early"))))
    assert await task == Err("early")
    assert late.cancelled.is_set()


async def test_gather_ok_same_step_errs_are_reported_in_input_order() -> None:
    assert await gather_ok(ready(Err("a")), ready(Err("b"))) == Err("a")


async def test_gather_ok_keeps_the_err_cause() -> None:
    exc = ValueError("v")
    result = await gather_ok(ready(Ok(1)), ready(Err("e", cause=exc)))
    assert isinstance(result, Err)
    assert result.cause is exc


async def test_gather_ok_exception_cancels_the_rest_and_propagates() -> None:
    probe = Probe()

    async def explode() -> Result[int, str]:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        await gather_ok(probe.forever(), explode())
    assert probe.cancelled.is_set()


async def test_gather_ok_cancelled_from_outside_cancels_children() -> None:
    a, b = Probe(), Probe()
    task = asyncio.ensure_future(gather_ok(a.forever(), b.forever()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a.cancelled.is_set()
    assert b.cancelled.is_set()


async def test_gather_ok_accepts_tasks_and_futures() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Result[int, str]] = loop.create_future()
    future.set_result(Ok(2))
    task = asyncio.ensure_future(ready(Ok(1)))
    assert await gather_ok(task, future) == Ok((1, 2))


async def test_gather_ok_rejects_non_awaitables_without_leaking_coroutines() -> None:
    pending = ready(Ok(1))
    with pytest.raises(TypeError, match="argument 2 is not awaitable"):
        await gather_ok(pending, ready)
    # The coroutine was closed, so no "never awaited" warning fails the run.
    assert pending.cr_frame is None


async def test_gather_ok_rejects_values_that_are_not_results() -> None:
    async def plain() -> int:
        return 3

    with pytest.raises(TypeError, match="not an Ok or an Err"):
        await gather_ok(plain())


async def test_gather_ok_more_than_six() -> None:
    result = await gather_ok(*(ready(Ok(i)) for i in range(8)))
    assert result == Ok(tuple(range(8)))


async def test_gather_settled() -> None:
    assert await gather_settled(ready(Ok(1)), ready(Ok(2))) == Ok((1, 2))
    assert await gather_settled() == Ok(())
    probe = Probe()
    task = asyncio.ensure_future(
        gather_settled(ready(Err("a")), probe.wait_then(Ok(5)), ready(Err("b")))
    )
    await asyncio.sleep(0)
    assert not task.done()  # an Err does not stop the others
    probe.release.set()
    assert await task == Err(["a", "b"])
    assert probe.finished


async def test_gather_settled_errors_in_input_order_not_arrival_order() -> None:
    late = Probe()
    task = asyncio.ensure_future(gather_settled(late.wait_then(Err("first")), ready(Err("second"))))
    await asyncio.sleep(0)
    late.release.set()
    assert await task == Err(["first", "second"])


async def test_first_ok_returns_the_first_ok_and_cancels_the_rest() -> None:
    slow = Probe()
    result = await first_ok(slow.forever(), ready(Err("a")), ready(Ok(3)))
    assert result == Ok(3)
    assert slow.cancelled.is_set()


async def test_first_ok_all_errors_in_input_order() -> None:
    late = Probe()
    task = asyncio.ensure_future(first_ok(late.wait_then(Err("a")), ready(Err("b"))))
    await asyncio.sleep(0)
    late.release.set()
    assert await task == Err(["a", "b"])


async def test_first_ok_empty() -> None:
    assert await first_ok() == Err([])


async def test_gather_ok_waits_for_slow_cancellation_cleanup() -> None:
    cleanup_done = asyncio.Event()
    never = asyncio.Event()

    async def slow_to_cancel() -> Result[int, str]:
        try:
            await never.wait()
        except asyncio.CancelledError:
            for _ in range(3):  # cleanup that itself awaits
                await asyncio.sleep(0)
            cleanup_done.set()
            raise
        return Ok(0)

    result = await gather_ok(slow_to_cancel(), ready(Err("stop")))
    assert result == Err("stop")
    assert cleanup_done.is_set()
