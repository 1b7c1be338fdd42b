"""The synchronous twins: `run_sync`, `SyncStep` and `@workflow_sync`.

Same semantics as `run` for sequential steps (keys, cache, resume state, retries that
sleep through `clock.sleep_sync`, events, hooks), for code bases without asyncio: both
drive the one run lifecycle (`_runtime.lifecycle.run_flow`), `run_sync` with the sync
driver. The concurrent and timeout variants exist only on the async `Step`. Listeners,
hooks and caches must be synchronous here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import (
    Any,
    Concatenate,
    Generic,
    Protocol,
    TypeVar,
    overload,
)

from typing_extensions import ParamSpec, TypeVarTuple, Unpack

from resultflow._runtime.drivers import SyncDriver, complete
from resultflow._runtime.lifecycle import run_flow
from resultflow._runtime.pipeline import AnyResult, RunBody
from resultflow._runtime.run_options import RunOptions, check_options
from resultflow._runtime.runner import new_run_state
from resultflow._runtime.sync_step import SyncStep
from resultflow.errors import UnexpectedError
from resultflow.result import Err, Ok

__all__ = ["SyncStep", "SyncWorkflow", "run_sync", "workflow_sync"]

T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")
T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
U_co = TypeVar("U_co", covariant=True)
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")


# -- run_sync ---------------------------------------------------------------------------
@overload
def run_sync(
    body: Callable[[SyncStep[E], *Ts], T],
    /,
    *args: *Ts,
    catch_unexpected: None = None,
    **options: Unpack[RunOptions],
) -> Ok[T] | Err[E | UnexpectedError]: ...


@overload
def run_sync(
    body: Callable[[SyncStep[E], *Ts], T],
    /,
    *args: *Ts,
    catch_unexpected: Callable[[Exception], U],
    **options: Unpack[RunOptions],
) -> Ok[T] | Err[E | U]: ...


def run_sync(
    body: Callable[..., object],
    /,
    *args: object,
    catch_unexpected: Callable[[Exception], object] | None = None,
    **options: Unpack[RunOptions],
) -> AnyResult:
    """Run a synchronous `body(step, *args)`; the twin of `run` without asyncio.

    Its steps go through the same lifecycle as `run`'s, so the same body written both
    ways emits the same events in the same order.

    Args:
        body: A plain function taking the `SyncStep` first, then `args`.
        *args: The body's arguments after `step`.
        catch_unexpected: Strict mode, as for `run`.
        **options: `run`'s options except the async-only `timeout`, `interceptor`,
            `policy` and `policies` (a TypeError); listeners, hooks, caches and
            resume loaders must be synchronous.

    Returns:
        `Ok(the body's return value)`, or the Err that stopped it.
    """
    return execute_run_sync(body, args, {}, catch_unexpected, options)


def execute_run_sync(
    body: Callable[..., object],
    args: tuple[object, ...],
    kwargs: dict[str, object],
    catch_unexpected: Callable[[Exception], object] | None,
    options: RunOptions,
) -> AnyResult:
    """The shared implementation of `run_sync` and `SyncWorkflow.__call__`: the sync driver."""
    check_options(options, "run_sync")
    for unsupported in ("timeout", "interceptor", "policy", "policies"):
        if unsupported in options:
            raise TypeError(f"run_sync does not support {unsupported}=; use the async run")
    state = new_run_state(body, catch_unexpected, options, SyncDriver)
    state.ctx.synchronous = True
    return complete(run_flow(state, options, RunBody(body, SyncStep[Any](state), args, kwargs)))


# -- workflow_sync -------------------------------------------------------------------------
class SyncWorkflow(Generic[P, T_co, E_co]):
    """A reusable synchronous workflow: `wf(*args)` returns `Result[T, E]`."""

    def __init__(
        self,
        body: Callable[..., object],
        *,
        catch_unexpected: Callable[[Exception], object] | None,
        options: RunOptions,
    ) -> None:
        self.body = body
        self.catch_unexpected = catch_unexpected
        self.options = options
        self.name = str(options.get("name") or getattr(body, "__qualname__", repr(body)))
        self.__doc__ = getattr(body, "__doc__", None)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Ok[T_co] | Err[E_co]:
        """Run the workflow with these arguments."""
        options: RunOptions = {"name": self.name, **self.options}
        return execute_run_sync(self.body, args, kwargs, self.catch_unexpected, options)  # type: ignore[return-value]

    def with_options(self, **options: Unpack[RunOptions]) -> SyncWorkflow[P, T_co, E_co]:
        """A copy with per-call options merged in."""
        merged: RunOptions = {**self.options, **options}
        return SyncWorkflow(self.body, catch_unexpected=self.catch_unexpected, options=merged)

    def __repr__(self) -> str:
        return f"<SyncWorkflow {self.name}>"


class _SyncDecorator(Protocol):
    def __call__(
        self, body: Callable[Concatenate[SyncStep[E], P], T], /
    ) -> SyncWorkflow[P, T, E | UnexpectedError]: ...


class _StrictSyncDecorator(Protocol[U_co]):
    def __call__(
        self, body: Callable[Concatenate[SyncStep[E], P], T], /
    ) -> SyncWorkflow[P, T, E | U_co]: ...


@overload
def workflow_sync(
    body: Callable[Concatenate[SyncStep[E], P], T], /
) -> SyncWorkflow[P, T, E | UnexpectedError]: ...


@overload
def workflow_sync(
    *, catch_unexpected: None = None, **options: Unpack[RunOptions]
) -> _SyncDecorator: ...


@overload
def workflow_sync(
    *, catch_unexpected: Callable[[Exception], U], **options: Unpack[RunOptions]
) -> _StrictSyncDecorator[U]: ...


def workflow_sync(
    body: Callable[..., object] | None = None,
    /,
    *,
    catch_unexpected: Callable[[Exception], object] | None = None,
    **options: Unpack[RunOptions],
) -> object:
    """The synchronous `@workflow`."""
    if body is not None:
        return SyncWorkflow[Any, Any, Any](body, catch_unexpected=None, options={})
    check_options(options, "workflow_sync")

    def decorate(fn: Callable[..., object]) -> SyncWorkflow[Any, Any, Any]:
        return SyncWorkflow[Any, Any, Any](fn, catch_unexpected=catch_unexpected, options=options)

    return decorate
