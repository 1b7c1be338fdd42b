"""`run` and `@workflow`: execute a body whose steps unwrap Results or exit early.

```python
async def transfer(step: Step[NotFound | Declined], src: str, amount: int) -> Receipt:
    user = await step(lambda: get_user(src), key=f"user:{src}")
    return await step(lambda: charge(user, amount), name="charge")

result = await run(transfer, "alice", 10)   # Result[Receipt, NotFound | Declined | UnexpectedError]
```

Nothing raises out of `run` except `asyncio.CancelledError` (after a
`workflow_cancelled` event), `KeyboardInterrupt` / `SystemExit`, and an exception from
the user's own `catch_unexpected` mapper.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import (
    Any,
    Concatenate,
    Generic,
    Protocol,
    TypeVar,
    overload,
)

from typing_extensions import ParamSpec, TypeVarTuple, Unpack

from resultflow._runtime.context import RunContext
from resultflow._runtime.drivers import AsyncDriver
from resultflow._runtime.lifecycle import run_flow
from resultflow._runtime.pipeline import AnyResult, Driver, RunBody, RunState
from resultflow._runtime.run_options import ResumeSource, RunHook, RunOptions, check_options
from resultflow._runtime.step import Step
from resultflow.clock import SYSTEM_CLOCK
from resultflow.errors import UnexpectedError
from resultflow.result import Err, Ok

__all__ = [
    "ResumeSource",
    "RunHook",
    "RunOptions",
    "Workflow",
    "check_options",
    "run",
    "workflow",
]

T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")
T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
U_co = TypeVar("U_co", covariant=True)
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")


# -- run ----------------------------------------------------------------------------
@overload
async def run(
    body: Callable[[Step[E], *Ts], Awaitable[T]],
    /,
    *args: *Ts,
    catch_unexpected: None = None,
    **options: Unpack[RunOptions],
) -> Ok[T] | Err[E | UnexpectedError]: ...


@overload
async def run(
    body: Callable[[Step[E], *Ts], Awaitable[T]],
    /,
    *args: *Ts,
    catch_unexpected: Callable[[Exception], U],
    **options: Unpack[RunOptions],
) -> Ok[T] | Err[E | U]: ...


async def run(
    body: Callable[..., Awaitable[object]],
    /,
    *args: object,
    catch_unexpected: Callable[[Exception], object] | None = None,
    **options: Unpack[RunOptions],
) -> AnyResult:
    """Run `body(step, *args)`; return `Ok(its value)` or the Err that stopped it.

    Nothing raises out of `run` except cancellation (after a `workflow_cancelled`
    event), `KeyboardInterrupt` / `SystemExit`, and an exception from the
    `catch_unexpected` mapper itself.

    Args:
        body: An `async def` taking the `Step` first, then `args`.
        *args: The body's arguments after `step` (checked against its signature).
        catch_unexpected: Strict mode: `f(exc)` makes the Err of an exception a step,
            the body or a hook raised, instead of `UnexpectedError`.
        **options: Keyword-only options (`RunOptions`): `workflow_id`, `name`,
            `on_event`, `cache`, `resume_state`, `context` / `create_context`, the
            hooks `should_run`, `on_before_start`, `on_before_step`, `on_after_step`,
            `clock`, `policy` / `policies`, `timeout` (whole run, seconds) and
            `interceptor`.

    Returns:
        `Ok(the body's return value)`, or the Err of the step that stopped it, or
        `Err(UnexpectedError)` (`Err(catch_unexpected(exc))` in strict mode).
    """
    return await execute_run(body, args, {}, catch_unexpected, options)


async def execute_run(
    body: Callable[..., Awaitable[object]],
    args: tuple[object, ...],
    kwargs: dict[str, object],
    catch_unexpected: Callable[[Exception], object] | None,
    options: RunOptions,
) -> AnyResult:
    """The shared implementation of `run` and `Workflow.__call__`: the async driver."""
    check_options(options, "run")
    state = new_run_state(body, catch_unexpected, options)
    call = RunBody(body, Step[Any](state), args, kwargs, options.get("timeout"))
    return await run_flow(state, options, call)


def new_run_state(
    body: object,
    catch_unexpected: Callable[[Exception], object] | None,
    options: RunOptions,
    driver: Callable[[RunState], Driver] = AsyncDriver,
) -> RunState:
    """The state of a new run of `body` (its context, clock, listener, driver), before hooks."""
    ctx = RunContext(
        options.get("workflow_id") or str(uuid.uuid4()),
        context=options.get("context"),
        clock=options.get("clock") or SYSTEM_CLOCK,
        on_event=options.get("on_event"),
        name=options.get("name") or getattr(body, "__qualname__", None),
    )
    return RunState(ctx, driver=driver, catch_unexpected=catch_unexpected)


# -- workflow -------------------------------------------------------------------------
class Workflow(Generic[P, T_co, E_co]):
    """A reusable, typed workflow: `await wf(*args)` returns `Result[T, E]`."""

    def __init__(
        self,
        body: Callable[..., Awaitable[object]],
        *,
        catch_unexpected: Callable[[Exception], object] | None,
        options: RunOptions,
    ) -> None:
        self.body = body
        self.catch_unexpected = catch_unexpected
        self.options = options
        self.name = str(options.get("name") or getattr(body, "__qualname__", repr(body)))
        self.__doc__ = getattr(body, "__doc__", None)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Ok[T_co] | Err[E_co]:
        """Run the workflow with these arguments."""
        options: RunOptions = {"name": self.name, **self.options}
        return await execute_run(self.body, args, kwargs, self.catch_unexpected, options)  # type: ignore[return-value]

    def with_options(self, **options: Unpack[RunOptions]) -> Workflow[P, T_co, E_co]:
        """A copy with per-call options (workflow_id, resume_state, on_event, ...) merged in."""
        merged: RunOptions = {**self.options, **options}
        return Workflow(self.body, catch_unexpected=self.catch_unexpected, options=merged)

    def __repr__(self) -> str:
        return f"<Workflow {self.name}>"


class _WorkflowDecorator(Protocol):
    def __call__(
        self, body: Callable[Concatenate[Step[E], P], Awaitable[T]], /
    ) -> Workflow[P, T, E | UnexpectedError]: ...


class _StrictWorkflowDecorator(Protocol[U_co]):
    def __call__(
        self, body: Callable[Concatenate[Step[E], P], Awaitable[T]], /
    ) -> Workflow[P, T, E | U_co]: ...


@overload
def workflow(
    body: Callable[Concatenate[Step[E], P], Awaitable[T]], /
) -> Workflow[P, T, E | UnexpectedError]: ...


@overload
def workflow(
    *, catch_unexpected: None = None, **options: Unpack[RunOptions]
) -> _WorkflowDecorator: ...


@overload
def workflow(
    *, catch_unexpected: Callable[[Exception], U], **options: Unpack[RunOptions]
) -> _StrictWorkflowDecorator[U]: ...


def workflow(
    body: Callable[..., Awaitable[object]] | None = None,
    /,
    *,
    catch_unexpected: Callable[[Exception], object] | None = None,
    **options: Unpack[RunOptions],
) -> object:
    """Turn a body into a reusable typed workflow (`@workflow` or `@workflow(name=...)`).

    Arguments after `step` are checked at the call site: `await checkout(order_id)`.
    """
    if body is not None:
        return Workflow[Any, Any, Any](body, catch_unexpected=None, options={})
    check_options(options, "workflow")

    def decorate(fn: Callable[..., Awaitable[object]]) -> Workflow[Any, Any, Any]:
        return Workflow[Any, Any, Any](fn, catch_unexpected=catch_unexpected, options=options)

    return decorate
