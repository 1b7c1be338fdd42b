"""Keyed steps, caches, resume state, and the run and step hooks."""

from __future__ import annotations

import asyncio
import warnings

import pytest

from resultflow import (
    CacheEntry,
    Err,
    MemoryCache,
    Ok,
    Skipped,
    Step,
    StepCollector,
    StepInfo,
    UnexpectedError,
    clear_step,
    is_step_complete,
    run,
)
from resultflow.events import WorkflowEvent
from resultflow.testing._clock import TestClock


class Counter:
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def op(self, name: str, result: Ok[str] | Err[str] | None = None):  # type: ignore[no-untyped-def]
        async def call() -> Ok[str] | Err[str]:
            self.calls[name] = self.calls.get(name, 0) + 1
            return result if result is not None else Ok(f"{name}!")

        return call


async def test_same_key_twice_with_a_cache_runs_once() -> None:
    counter = Counter()

    async def body(step: Step[str]) -> tuple[str, str]:
        a = await step(counter.op("a"), key="a")
        b = await step(counter.op("a"), key="a")
        return a, b

    assert await run(body, cache=MemoryCache()) == Ok(("a!", "a!"))
    assert counter.calls == {"a": 1}


async def test_without_cache_keys_only_label_steps() -> None:
    counter = Counter()

    async def body(step: Step[str]) -> str:
        await step(counter.op("a"), key="a")
        return await step(counter.op("a"), key="a")

    await run(body)
    assert counter.calls == {"a": 2}


async def test_cache_is_shared_across_runs_and_errors_are_replayed() -> None:
    cache = MemoryCache()
    counter = Counter()
    boom = ValueError("first time")

    async def raising() -> Ok[str]:
        counter.calls["x"] = counter.calls.get("x", 0) + 1
        raise boom

    async def body(step: Step[str]) -> str:
        return await step(raising, key="x")

    first = await run(body, cache=cache)
    second = await run(body, cache=cache)
    assert first == second
    assert isinstance(second, Err) and isinstance(second.error, UnexpectedError)
    assert second.cause is boom  # the replayed Err keeps its metadata
    assert counter.calls == {"x": 1}


async def test_cache_hit_closes_a_bare_coroutine_without_warning() -> None:
    cache = MemoryCache()
    cache.set("k", CacheEntry(Ok("cached")))

    async def expensive() -> Ok[str]:
        raise AssertionError("must not run")

    async def body(step: Step[str]) -> str:
        return await step(expensive(), key="k")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = await run(body, cache=cache)
    assert result == Ok("cached")


async def test_cache_hit_emits_hit_and_skips_after_step_hook() -> None:
    cache = MemoryCache()
    cache.set("k", CacheEntry(Ok(1)))
    seen: list[str] = []
    hooked: list[str] = []

    async def body(step: Step[str]) -> int:
        return await step(lambda: Ok(2), key="k")

    result = await run(
        body,
        cache=cache,
        on_event=lambda e, c: seen.append(e.type),
        on_after_step=lambda key, r, wid, ctx: hooked.append(key),
    )
    assert result == Ok(1)
    assert "step_cache_hit" in seen and "step_start" not in seen
    assert hooked == []


async def test_async_step_cache_is_supported() -> None:
    class AsyncCache:
        def __init__(self) -> None:
            self.data: dict[str, CacheEntry] = {}

        async def get(self, key: str) -> CacheEntry | None:
            return self.data.get(key)

        async def set(self, key: str, entry: CacheEntry, ttl: float | None = None) -> None:
            self.data[key] = entry

        async def delete(self, key: str) -> None:
            self.data.pop(key, None)

        async def clear(self) -> None:
            self.data.clear()

    cache = AsyncCache()
    counter = Counter()

    async def body(step: Step[str]) -> str:
        return await step(counter.op("a"), key="a")

    await run(body, cache=cache)
    await run(body, cache=cache)
    assert counter.calls == {"a": 1}
    assert cache.data["a"].result == Ok("a!")


async def test_collector_and_resume_skip_finished_steps() -> None:
    counter = Counter()

    async def body(step: Step[str], fail: bool) -> str:
        a = await step(counter.op("a"), key="a")
        b = await step(counter.op("b", Err("down") if fail else None), key="b")
        return a + b

    collector = StepCollector()
    first = await run(body, True, on_event=collector.handle_event)
    assert first == Err("down")
    state = collector.state()
    assert set(state) == {"a", "b"}
    assert state["b"].result == Err("down")

    # Resuming as-is replays the cached Err: the run fails the same way.
    assert await run(body, False, resume_state=state) == Err("down")
    assert counter.calls == {"a": 1, "b": 1}

    # Clearing the failed step makes it run again; "a" stays done.
    retried = await run(body, False, resume_state=clear_step(state, "b"))
    assert retried == Ok("a!b!")
    assert counter.calls == {"a": 1, "b": 2}


async def test_a_step_cancelled_mid_run_is_not_resume_state_and_runs_again() -> None:
    calls: dict[str, int] = {}
    fail = True

    async def slow() -> Ok[str]:
        calls["slow"] = calls.get("slow", 0) + 1
        if fail:
            await asyncio.Event().wait()  # cancelled when its sibling fails
        return Ok("slow done")

    async def quick() -> Ok[str] | Err[str]:
        calls["quick"] = calls.get("quick", 0) + 1
        await asyncio.sleep(0)
        return Err("quick failed") if fail else Ok("quick done")

    async def done_first() -> Ok[str]:
        calls["first"] = calls.get("first", 0) + 1
        return Ok("first")

    async def keyed_body(step: Step[str]) -> tuple[str, str, str]:
        first = await step(done_first, key="first")
        a, b = await step.all(slow_keyed(step), quick)
        return first, a, b

    def slow_keyed(step: Step[str]):  # type: ignore[no-untyped-def]
        async def op() -> Ok[str]:
            return Ok(await step(slow, key="slow"))

        return op

    collector = StepCollector()
    assert await run(keyed_body, on_event=collector.handle_event) == Err("quick failed")
    assert collector.keys() == ["first"]  # the cancelled keyed step left nothing behind
    fail = False
    resumed = await run(keyed_body, resume_state=collector.state())
    assert resumed == Ok(("first", "slow done", "quick done"))
    assert calls == {"first": 1, "slow": 2, "quick": 2}


async def test_resume_state_from_sync_and_async_loaders() -> None:
    state = {"a": CacheEntry(Ok("from-state"))}

    async def body(step: Step[str]) -> str:
        return await step(lambda: Ok("fresh"), key="a")

    async def load() -> dict[str, CacheEntry]:
        return state

    assert await run(body, resume_state=lambda: state) == Ok("from-state")
    assert await run(body, resume_state=load) == Ok("from-state")


async def test_a_failing_resume_loader_is_an_unexpected_error() -> None:
    def load() -> dict[str, CacheEntry]:
        raise OSError("disk gone")

    async def body(step: Step[str]) -> str:
        return "never"

    result = await run(body, resume_state=load)
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.step == "resume_state"


class BrokenCache(MemoryCache):
    async def set(self, key: str, entry: CacheEntry, ttl: float | None = None) -> None:  # type: ignore[override]
        raise ConnectionError("cache down")


async def test_resume_state_that_cannot_be_loaded_is_an_unexpected_error() -> None:
    async def body(step: Step[str]) -> str:
        return "never"

    bad = await run(body, resume_state={"a": Ok("not an entry")})  # type: ignore[dict-item]
    assert isinstance(bad, Err) and isinstance(bad.error, UnexpectedError)
    assert bad.error.step == "resume_state" and bad.error.exception_type == "TypeError"
    assert "not a ResumeEntry" in bad.error.message

    down = await run(body, resume_state={"a": CacheEntry(Ok(1))}, cache=BrokenCache())
    assert isinstance(down, Err) and isinstance(down.error, UnexpectedError)
    assert down.error.step == "resume_state" and down.error.message == "cache down"


async def test_is_step_complete_filters_events() -> None:
    events: list[WorkflowEvent] = []

    async def body(step: Step[str]) -> int:
        await step(Ok(1))
        return await step(lambda: Ok(2), key="two")

    await run(body, on_event=lambda e, c: events.append(e))
    complete = [e for e in events if is_step_complete(e)]
    assert [e.key for e in complete] == ["two"]


@pytest.mark.parametrize("hook_name", ["should_run", "on_before_start"])
async def test_a_false_gate_hook_skips_the_run(hook_name: str) -> None:
    seen: list[str] = []
    ran: list[bool] = []

    async def body(step: Step[str]) -> int:
        ran.append(True)
        return 1

    async def decline(workflow_id: str, ctx: object) -> bool:
        return False

    options = {hook_name: decline}
    result = await run(body, on_event=lambda e, c: seen.append(e.type), **options)  # type: ignore[arg-type]
    assert result == Err(Skipped(reason=hook_name))
    assert ran == []
    assert seen == [f"hook_{hook_name.removeprefix('on_')}", "workflow_skipped"]


async def test_gate_hooks_receive_id_and_context_in_order() -> None:
    calls: list[tuple[str, str, object]] = []

    def should_run(wid: str, ctx: object) -> bool:
        calls.append(("should_run", wid, ctx))
        return True

    def before(wid: str, ctx: object) -> bool:
        calls.append(("before", wid, ctx))
        return True

    async def body(step: Step[str]) -> int:
        return 1

    await run(body, workflow_id="w", context="c", should_run=should_run, on_before_start=before)
    assert calls == [("should_run", "w", "c"), ("before", "w", "c")]


async def test_a_raising_hook_ends_the_run_with_unexpected_error_naming_it() -> None:
    seen: list[str] = []

    def should_run(wid: str, ctx: object) -> bool:
        raise RuntimeError("auth service down")

    async def body(step: Step[str]) -> int:
        return 1

    result = await run(body, should_run=should_run, on_event=lambda e, c: seen.append(e.type))
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.step == "should_run"
    assert seen == ["hook_should_run_error"]


async def test_create_context_feeds_events_and_hooks() -> None:
    contexts: list[object] = []

    async def make() -> dict[str, str]:
        return {"request": "r1"}

    async def body(step: Step[str]) -> object:
        return step.context.context

    result = await run(body, create_context=make, on_event=lambda e, c: contexts.append(c))
    assert result == Ok({"request": "r1"})
    assert contexts and all(c == {"request": "r1"} for c in contexts)


async def test_on_after_step_sees_keyed_ok_and_err_without_cache() -> None:
    seen: list[tuple[str, object, str]] = []

    async def body(step: Step[str]) -> int:
        await step(lambda: Ok(1), key="one")
        await step(Ok(5))  # unkeyed: no hook
        return await step(lambda: Err("bad"), key="two")

    await run(
        body,
        workflow_id="w",
        on_after_step=lambda key, result, wid, ctx: seen.append((key, result, wid)),
    )
    assert seen == [("one", Ok(1), "w"), ("two", Err("bad"), "w")]


async def test_a_raising_after_step_hook_ends_the_run() -> None:
    def hook(key: str, result: object, wid: str, ctx: object) -> None:
        raise ValueError("hook bug")

    async def body(step: Step[str]) -> int:
        await step(lambda: Ok(1), key="one")
        return 2

    result = await run(body, on_after_step=hook)
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.step == "on_after_step"


async def test_on_before_step_sees_step_info_and_can_stop_the_step() -> None:
    infos: list[StepInfo] = []
    executed: list[str] = []

    def before(info: StepInfo, ctx: object) -> None:
        infos.append(info)
        if info.name == "forbidden":
            raise PermissionError("not allowed")

    async def op() -> Ok[int]:
        executed.append("ran")
        return Ok(1)

    async def body(step: Step[str]) -> int:
        await step(op, name="allowed", key="k1")
        return await step(op, name="forbidden")

    result = await run(body, on_before_step=before)
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.step == "on_before_step"
    assert executed == ["ran"]
    assert [(i.name, i.key) for i in infos] == [("allowed", "k1"), ("forbidden", None)]
    assert infos[0].step_id != infos[1].step_id


async def test_on_before_step_return_value_is_ignored_and_cache_hits_skip_it() -> None:
    infos: list[StepInfo] = []

    async def before(info: StepInfo, ctx: object) -> bool:
        infos.append(info)
        return False  # not a veto: only raising stops a step

    async def body(step: Step[str]) -> list[int]:
        first = await step(lambda: Ok(1), key="k")
        again = await step(lambda: Ok(2), key="k")  # a cache hit: the hook is not called
        return [first, again, await step(Ok(3), name="plain")]

    assert await run(body, on_before_step=before, cache=MemoryCache()) == Ok([1, 1, 3])
    assert [(i.name, i.key) for i in infos] == [(None, "k"), ("plain", None)]


async def test_memory_cache_lru_and_ttl() -> None:
    clock = TestClock()
    cache = MemoryCache(max_size=2, ttl=10.0, clock=clock)
    cache.set("a", CacheEntry(Ok(1)))
    cache.set("b", CacheEntry(Ok(2)))
    assert cache.get("a") is not None  # "a" is now most recently used
    cache.set("c", CacheEntry(Ok(3)))
    assert cache.get("b") is None and cache.get("a") is not None
    cache.set("short", CacheEntry(Ok(4)), ttl=1.0)
    clock.advance(1.0)
    assert cache.get("short") is None
    clock.advance(9.0)
    assert cache.get("a") is None and len(cache) <= 2
    with pytest.raises(ValueError, match="max_size"):
        MemoryCache(max_size=0)


async def test_step_ttl_is_passed_to_the_cache() -> None:
    clock = TestClock()
    cache = MemoryCache(clock=clock)
    counter = Counter()

    async def body(step: Step[str]) -> str:
        return await step(counter.op("t"), key="t", ttl=5.0)

    await run(body, cache=cache, clock=clock)
    clock.advance(6.0)
    await run(body, cache=cache, clock=clock)
    assert counter.calls == {"t": 2}


async def test_concurrent_runs_share_one_cache_safely() -> None:
    cache = MemoryCache()

    async def body(step: Step[str], n: int) -> int:
        await asyncio.sleep(0)
        return await step(lambda: Ok(n), key=f"n{n}")

    results = await asyncio.gather(*(run(body, n, cache=cache) for n in range(20)))
    assert results == [Ok(n) for n in range(20)]
    assert len(cache) == 20


# -- not caching errors (issue 10 item 3) -----------------------------------------------
class Charge:
    """Fails with a transient Err `failures` times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> Ok[str] | Err[str]:
        self.calls += 1
        return Err("gateway timeout") if self.calls <= self.failures else Ok("charged")


async def test_a_keyed_steps_exhausted_retries_are_cached_by_default() -> None:
    cache = MemoryCache()
    charge = Charge(3)

    async def body(step: Step[str]) -> str:
        return await step(charge, key="charge:42", retry=2)

    clock = TestClock()
    assert await run(body, cache=cache, clock=clock) == Err("gateway timeout")
    assert await run(body, cache=cache, clock=clock) == Err("gateway timeout")  # replayed
    assert charge.calls == 2


async def test_cache_errors_false_on_the_step_keeps_a_transient_err_out_of_the_cache() -> None:
    cache = MemoryCache()
    charge = Charge(2)
    events: list[str] = []

    async def body(step: Step[str]) -> str:
        return await step(charge, key="charge:42", retry=2, cache_errors=False)

    clock = TestClock()
    listen = {"on_event": lambda e, c: events.append(e.type)}
    assert await run(body, cache=cache, clock=clock, **listen) == Err("gateway timeout")
    assert "charge:42" not in cache
    assert "step_complete" in events  # still reported (and collected for resume)
    assert await run(body, cache=cache, clock=clock) == Ok("charged")  # ran again
    assert charge.calls == 3
    assert await run(body, cache=cache, clock=clock) == Ok("charged")  # an Ok is cached
    assert charge.calls == 3


async def test_a_cache_made_with_cache_errors_false_never_stores_an_err() -> None:
    cache = MemoryCache(cache_errors=False)
    charge = Charge(1)

    async def body(step: Step[str]) -> str:
        return await step(charge, key="charge:7")

    assert await run(body, cache=cache) == Err("gateway timeout")
    assert await run(body, cache=cache) == Ok("charged")
    assert await run(body, cache=cache) == Ok("charged")
    assert charge.calls == 2
    cache.set("direct", CacheEntry(Err("x")))
    assert "direct" not in cache


def test_run_sync_steps_take_cache_errors_too() -> None:
    from resultflow import SyncStep, run_sync

    cache = MemoryCache()
    calls: list[int] = []

    def flaky() -> Ok[str] | Err[str]:
        calls.append(1)
        return Err("busy") if len(calls) == 1 else Ok("done")

    def body(step: SyncStep[str]) -> str:
        return step(flaky, key="k", cache_errors=False)

    assert run_sync(body, cache=cache) == Err("busy")
    assert run_sync(body, cache=cache) == Ok("done")


async def test_a_kv_cache_with_cache_errors_false_stores_only_ok_results() -> None:
    from resultflow.persistence import KVCache, MemoryKV

    kv = MemoryKV()
    cache = KVCache(kv, ttl=3600, cache_errors=False)
    charge = Charge(1)

    async def body(step: Step[str]) -> str:
        return await step(charge, key="charge:9")

    assert await run(body, cache=cache) == Err("gateway timeout")
    assert await cache.get("charge:9") is None
    assert await run(body, cache=cache) == Ok("charged")
    entry = await KVCache(kv).get("charge:9")  # another process's view of the store
    assert entry is not None and entry.result == Ok("charged")
