"""Concurrent scopes: `step.all`, `parallel`, `race`, `all_settled` and `map`.

Each scope runs its ops as child tasks, each op a full step of its own (events, ids),
with the scope's id as their `parent_id`. Failing fast means cancelling the siblings
*and waiting for them*, so a scope never leaves a task running behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar, cast, overload

from resultflow._cancellation import cancel_and_wait
from resultflow._runtime.options import build_spec
from resultflow._runtime.pipeline import (
    AnyResult,
    RunState,
    StepBase,
    StepOp,
    StepSpec,
    current_scope,
)
from resultflow._runtime.step_ops import discard
from resultflow.events import ScopeEnded, ScopeKind, ScopeStarted
from resultflow.result import Err, Ok

__all__ = ["ConcurrentSteps", "run_all", "run_map", "run_race", "run_settled"]

T = TypeVar("T")
U = TypeVar("U")
F = TypeVar("F")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")
E_contra = TypeVar("E_contra", contravariant=True)


class _Scope:
    """One open scope: its id, timing and the events that bracket it."""

    __slots__ = ("id", "kind", "name", "parent_id", "run", "started")

    def __init__(self, run: RunState, kind: ScopeKind, name: str | None) -> None:
        self.run = run
        self.kind: ScopeKind = kind
        self.name = name
        self.id = run.ctx.new_step_id()
        self.parent_id = run.parent_id()
        self.started = run.ctx.clock.monotonic()

    async def open(self) -> None:
        ctx = self.run.ctx
        if ctx.on_event is not None:
            await ctx.emit(
                ScopeStarted(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    scope_id=self.id,
                    kind=self.kind,
                    name=self.name,
                    parent_id=self.parent_id,
                )
            )

    async def close(self, ok: bool) -> None:
        ctx = self.run.ctx
        if ctx.on_event is not None:
            await ctx.emit(
                ScopeEnded(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    scope_id=self.id,
                    kind=self.kind,
                    duration_s=ctx.clock.monotonic() - self.started,
                    ok=ok,
                    name=self.name,
                    parent_id=self.parent_id,
                )
            )

    def spawn(
        self, ops: Sequence[object], specs: Sequence[StepSpec]
    ) -> list[asyncio.Task[AnyResult]]:
        """Start every op as a step in a child task that sees this scope as its parent."""
        marker = current_scope.set((self.run.token, self.id))
        try:
            return [
                asyncio.ensure_future(self.run.execute(op, spec))
                for op, spec in zip(ops, specs, strict=True)
            ]
        finally:
            current_scope.reset(marker)


def _item_specs(
    run: RunState, ops: Sequence[object], name: str | None, labels: Sequence[str] | None = None
) -> list[StepSpec]:
    """The spec of each op of a scope: its label, and the run's default policies if any.

    Built before the scope opens, so a bad op (a bare coroutine under a default retry
    policy is a TypeError, as for `step(...)`) fails before any task starts; the
    coroutines among the ops are then closed.
    """
    names = list(labels) if labels is not None else [None] * len(ops)
    if labels is None and name:
        names = [f"{name}[{index}]" for index in range(len(ops))]
    if not run.defaults:
        return [StepSpec(name=label) for label in names]
    try:
        return [build_spec(run, op, name=label) for op, label in zip(ops, names, strict=True)]
    except BaseException:
        for op in ops:
            discard(op)
        raise


async def _abort(scope: _Scope, tasks: Sequence[asyncio.Task[AnyResult]]) -> None:
    """Cancel every task, wait for all of them, and close the scope as failed."""
    try:
        await cancel_and_wait(tasks)
    finally:
        await scope.close(ok=False)


async def _first_failure(tasks: list[asyncio.Task[AnyResult]]) -> Err[object] | None:
    """Wait until every task is Ok (None) or one is Err (returned); re-raise crashes."""
    pending: set[asyncio.Task[AnyResult]] = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in sorted(done, key=tasks.index):
            result = task.result()
            if type(result) is Err:
                return result
    return None


async def run_all(
    run: RunState,
    kind: ScopeKind,
    ops: Sequence[object],
    name: str | None,
    labels: Sequence[str] | None = None,
) -> list[AnyResult]:
    """Run ops concurrently; all Ok -> their results in order; else raise the exit."""
    specs = _item_specs(run, ops, name, labels)
    scope = _Scope(run, kind, name)
    await scope.open()
    tasks = scope.spawn(ops, specs)
    try:
        failure = await _first_failure(tasks)
    except BaseException:
        await _abort(scope, tasks)
        raise
    if failure is not None:
        await _abort(scope, tasks)
        raise run.exit(failure)
    await scope.close(ok=True)
    return [task.result() for task in tasks]


async def run_race(run: RunState, ops: Sequence[object], name: str | None) -> AnyResult:
    """Run ops concurrently; the first to finish decides; the rest are cancelled."""
    if not ops:
        raise ValueError("step.race needs at least one op")
    specs = _item_specs(run, ops, name)
    scope = _Scope(run, "race", name)
    await scope.open()
    tasks = scope.spawn(ops, specs)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        winner = min(done, key=tasks.index)
        await cancel_and_wait(tasks)
        result = winner.result()
    except BaseException:
        await _abort(scope, tasks)
        raise
    await scope.close(ok=type(result) is Ok)
    return result


async def run_settled(run: RunState, ops: Sequence[object], name: str | None) -> list[AnyResult]:
    """Run every op to the end and return all results in order."""
    specs = _item_specs(run, ops, name)
    scope = _Scope(run, "all_settled", name)
    await scope.open()
    tasks = scope.spawn(ops, specs)
    try:
        if tasks:
            await asyncio.wait(tasks)
        results = [task.result() for task in tasks]
    except BaseException:
        await _abort(scope, tasks)
        raise
    await scope.close(ok=all(type(r) is Ok for r in results))
    return results


async def run_map(
    run: RunState,
    items: Sequence[object],
    fn: Callable[[object], object],
    concurrency: int | None,
    name: str,
) -> list[AnyResult]:
    """`fn(item)` as a step per item, at most `concurrency` at once, fail fast."""
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    gate = asyncio.Semaphore(concurrency) if concurrency is not None else None

    labels = [f"{name}[{index}]" for index in range(len(items))]

    def op_for(item: object, label: str) -> Callable[[], object]:
        async def item_step() -> object:
            if gate is None:
                return await run.once(fn(item), label)
            async with gate:
                return await run.once(fn(item), label)

        return item_step

    ops = [op_for(item, label) for item, label in zip(items, labels, strict=True)]
    return await run_all(run, "map", ops, name, labels)


class ConcurrentSteps(StepBase[E_contra]):
    """The concurrent step variants: `all`, `parallel`, `race`, `all_settled`, `map`."""

    __slots__ = ()

    @overload
    async def all(self, a: StepOp[T1, E_contra], /, *, name: str | None = None) -> tuple[T1]: ...

    @overload
    async def all(
        self, a: StepOp[T1, E_contra], b: StepOp[T2, E_contra], /, *, name: str | None = None
    ) -> tuple[T1, T2]: ...

    @overload
    async def all(
        self,
        a: StepOp[T1, E_contra],
        b: StepOp[T2, E_contra],
        c: StepOp[T3, E_contra],
        /,
        *,
        name: str | None = None,
    ) -> tuple[T1, T2, T3]: ...

    @overload
    async def all(
        self,
        a: StepOp[T1, E_contra],
        b: StepOp[T2, E_contra],
        c: StepOp[T3, E_contra],
        d: StepOp[T4, E_contra],
        /,
        *,
        name: str | None = None,
    ) -> tuple[T1, T2, T3, T4]: ...

    @overload
    async def all(
        self,
        a: StepOp[T1, E_contra],
        b: StepOp[T2, E_contra],
        c: StepOp[T3, E_contra],
        d: StepOp[T4, E_contra],
        e: StepOp[T5, E_contra],
        /,
        *,
        name: str | None = None,
    ) -> tuple[T1, T2, T3, T4, T5]: ...

    @overload
    async def all(
        self,
        a: StepOp[T1, E_contra],
        b: StepOp[T2, E_contra],
        c: StepOp[T3, E_contra],
        d: StepOp[T4, E_contra],
        e: StepOp[T5, E_contra],
        f: StepOp[T6, E_contra],
        /,
        *,
        name: str | None = None,
    ) -> tuple[T1, T2, T3, T4, T5, T6]: ...

    @overload
    async def all(
        self, *ops: StepOp[object, E_contra], name: str | None = None
    ) -> tuple[object, ...]: ...

    async def all(self, *ops: object, name: str | None = None) -> tuple[object, ...]:
        """Run ops concurrently; the first Err cancels the rest and exits the body."""
        values = await run_all(self._run, "all", list(ops), name)
        return tuple(self._unwrap(r) for r in values)

    async def parallel(
        self, *, name: str | None = None, **ops: StepOp[object, E_contra]
    ) -> dict[str, object]:
        """Named `all`: returns `{name: value}`. Values are `object`: use `all` for types."""
        labels = list(ops)
        values = await run_all(self._run, "parallel", list(ops.values()), name, labels)
        return {label: self._unwrap(r) for label, r in zip(labels, values, strict=True)}

    async def race(self, *ops: StepOp[T, E_contra], name: str | None = None) -> T:
        """Run ops concurrently; the first to finish decides (Ok or Err), the rest are cancelled."""
        value: T = self._unwrap(await run_race(self._run, list(ops), name))
        return value

    async def all_settled(
        self: ConcurrentSteps[list[F]], *ops: StepOp[T, F], name: str | None = None
    ) -> list[T]:
        """Run every op to the end; if any failed, exit with `Err([errors...])` in order."""
        results = await run_settled(self._run, list(ops), name)
        errors = [r.error for r in results if type(r) is Err]
        if errors:
            raise self._run.exit(Err(errors))
        values: list[T] = [r.value for r in results if type(r) is Ok]  # type: ignore[misc]
        return values

    async def map(
        self,
        items: Iterable[U],
        fn: Callable[[U], StepOp[T, E_contra]],
        *,
        concurrency: int | None = None,
        name: str | None = None,
    ) -> list[T]:
        """`fn(item)` for each item, at most `concurrency` at once, in input order, fail fast."""
        make_op = cast("Callable[[object], object]", fn)
        values = await run_map(self._run, list(items), make_op, concurrency, name or "map")
        return [self._unwrap(r) for r in values]
