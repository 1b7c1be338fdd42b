"""mock_fn / MockFn / AsyncMockFn: answers, queues, raising, call records, reset."""

from __future__ import annotations

import asyncio

import pytest

from resultflow import Err, Ok, Step, UnexpectedError, run
from resultflow.errors import TaggedError
from resultflow.result import Result
from resultflow.testing import AsyncMockFn, Call, MockFn, UnconfiguredMock, mock_fn


class NotFound(TaggedError):
    id: str


def test_sync_mock_returns_its_standing_answer_and_records_calls() -> None:
    lookup = mock_fn(Ok(42), name="lookup")
    assert isinstance(lookup, MockFn)
    assert lookup("a", limit=3) == Ok(42)
    assert lookup() == Ok(42)
    assert lookup.call_count() == 2
    assert lookup.calls() == [Call(("a",), {"limit": 3}), Call(())]
    assert repr(lookup.calls()[0]) == "call('a', limit=3)"
    assert repr(lookup) == "<MockFn lookup calls=2>"


async def test_mock_fn_without_an_answer_starts_unconfigured() -> None:
    lookup: MockFn[Result[int, NotFound]] = mock_fn(name="lookup")
    assert isinstance(lookup, MockFn)
    with pytest.raises(UnconfiguredMock, match="lookup was called with call\\('a'\\)"):
        lookup("a")
    lookup.returns_once(Err(NotFound(id="a"))).returns(Ok(1))
    assert [lookup("b"), lookup("c")] == [Err(NotFound(id="a")), Ok(1)]
    assert lookup.call_count() == 3

    fetch: AsyncMockFn[Ok[str]] = mock_fn(is_async=True)
    assert isinstance(fetch, AsyncMockFn)
    with pytest.raises(UnconfiguredMock):
        await fetch()
    assert await fetch.returns(Ok("page"))() == Ok("page")
    # None is an answer like any other, not "no answer".
    assert mock_fn(None)() is None


def test_returns_once_answers_are_queued_before_the_standing_answer() -> None:
    lookup = MockFn[Result[int, NotFound]]().returns(Ok(0))
    lookup.returns_once(Err(NotFound(id="1"))).returns_once(Ok(1))
    assert [lookup(), lookup(), lookup(), lookup()] == [
        Err(NotFound(id="1")),
        Ok(1),
        Ok(0),
        Ok(0),
    ]


def test_returns_replaces_the_standing_answer() -> None:
    lookup = mock_fn(Ok(1))
    lookup.returns(Ok(2))
    assert lookup() == Ok(2)


def test_raises_and_raises_once() -> None:
    boom = mock_fn(Ok("fine"), name="boom")
    boom.raises_once(TimeoutError("first call times out"))
    with pytest.raises(TimeoutError, match="first call"):
        boom(1)
    assert boom(2) == Ok("fine")
    boom.raises(ConnectionError("down"))
    with pytest.raises(ConnectionError):
        boom(3)
    # Every call is recorded, including those that raised.
    assert [c.args for c in boom.calls()] == [(1,), (2,), (3,)]


def test_raises_needs_an_exception_instance() -> None:
    mock = mock_fn(Ok(1))
    with pytest.raises(TypeError, match="needs an Exception instance"):
        mock.raises(ValueError)  # type: ignore[arg-type]


def test_an_unconfigured_mock_says_what_to_do() -> None:
    mock = MockFn[Ok[int]](name="charge")
    with pytest.raises(UnconfiguredMock, match=r"charge was called with call\(5\) but has no"):
        mock(5)
    assert mock.call_count() == 1


def test_reset_and_clear_calls() -> None:
    mock = mock_fn(Ok(1)).returns_once(Ok(0))
    mock("x")
    mock.clear_calls()
    assert mock.calls() == []
    assert mock() == Ok(1)  # configuration survives clear_calls

    mock.reset()
    assert mock.call_count() == 0
    with pytest.raises(UnconfiguredMock):
        mock()  # reset forgot the answers too


def test_assert_called_reports() -> None:
    mock = mock_fn(Ok(1), name="save")
    never = mock.assert_called()
    assert not never
    assert never.message == "save was called 0 time(s), expected at least once: []"
    mock(1, mode="w")
    assert mock.assert_called()
    assert mock.assert_called(times=1)
    assert not mock.assert_called(times=2)
    assert mock.assert_called_with(1, mode="w")
    wrong = mock.assert_called_with(2)
    assert not wrong
    assert wrong.message == "save was last called with call(1, mode='w'), expected call(2)"
    assert not mock_fn(Ok(1), name="x").assert_called_with().passed


async def test_async_mock_is_awaited_and_records_at_call_time() -> None:
    fetch = mock_fn(Ok("page"), is_async=True, name="fetch")
    assert isinstance(fetch, AsyncMockFn)
    fetch.returns_once(Ok("first"))
    first = fetch("/a")
    second = fetch("/b")
    # Answers were chosen (and calls recorded) in call order, before any await.
    assert fetch.call_count() == 2
    assert await second == Ok("page")
    assert await first == Ok("first")


async def test_async_mock_raises_when_awaited() -> None:
    fetch = AsyncMockFn[Ok[str]]().raises(OSError("disk"))
    pending = fetch()
    with pytest.raises(OSError, match="disk"):
        await pending


async def test_async_mocks_run_concurrently() -> None:
    fetch = AsyncMockFn[Ok[int]]().returns(Ok(7))
    results = await asyncio.gather(*(fetch(i) for i in range(5)))
    assert results == [Ok(7)] * 5
    assert [c.args for c in fetch.calls()] == [(i,) for i in range(5)]


async def test_mocks_inside_a_workflow() -> None:
    load = AsyncMockFn[Result[str, NotFound]](name="load").returns(Ok("ann"))
    greet = mock_fn(Ok("hello ann"), name="greet")

    async def body(step: Step[NotFound], user_id: str) -> str:
        user = await step(load(user_id), name="load")
        return await step(lambda: greet(user), name="greet")

    assert await run(body, "u1") == Ok("hello ann")
    assert load.assert_called_with("u1")
    assert greet.assert_called_with("ann")

    load.returns(Err(NotFound(id="u2")))
    assert await run(body, "u2") == Err(NotFound(id="u2"))
    assert greet.call_count() == 1  # the body stopped before greeting


async def test_a_raising_mock_inside_a_step_becomes_unexpected_error() -> None:
    flaky = mock_fn(Ok(1), name="flaky").raises(RuntimeError("oops"))

    async def body(step: Step[str]) -> int:
        return await step(lambda: flaky(), name="flaky")

    result = await run(body)
    assert isinstance(result, Err)
    assert isinstance(result.error, UnexpectedError)
    assert result.error.message == "oops"
    assert result.error.step == "flaky"
