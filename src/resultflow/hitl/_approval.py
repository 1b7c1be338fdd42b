"""Approval steps: pause a workflow until a human decides, then resume it.

```python
op = approval_step("refund:42", check=lambda: approvals_api.status("refund:42"))
amount = await step(op, key="refund:42")     # the same key for the step
```

`check()` (sync or async) returns `Pending()`, `Approved(value)` or `Rejected(reason)`.
The op turns that into `Err(PendingApproval(key, reason))`, `Ok(value)` or
`Err(ApprovalRejected(key, reason))`, and emits `approval_pending`,
`approval_granted` or `approval_rejected` through the run it belongs to.

Resuming: a pending approval is not a finished step. `HITLCollector.state()` keeps
the steps that ended with `Err(PendingApproval)` (so `has_pending_approval(state, key)`
and `pending_approvals(state)` read it), and a run resumed from that state skips such
entries: the approval step asks `check()` again. `inject_approval(state, key=...,
value=...)` writes the decision into a state instead, so the resumed run takes it
without asking.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar, cast, overload

from typing_extensions import TypeIs

from resultflow._runtime.context import current_context
from resultflow.cache import CacheEntry
from resultflow.errors import ApprovalRejected, PendingApproval
from resultflow.events import (
    ApprovalAwaited,
    ApprovalDenied,
    ApprovalGranted,
    StepCompleted,
    WorkflowEvent,
)
from resultflow.result import Err, Ok
from resultflow.resume import ResumeState, StepCollector, clear_step

__all__ = [
    "ApprovalOp",
    "ApprovalStatus",
    "Approved",
    "HITLCollector",
    "Pending",
    "Rejected",
    "approval_step",
    "clear_step",
    "has_pending_approval",
    "inject_approval",
    "inject_rejection",
    "is_pending_approval",
    "pending_approvals",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Pending:
    """No decision yet; `reason` (optional) says what is awaited."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Approved(Generic[T_co]):
    """Approved, with the `value` the approver supplied (the step's value)."""

    value: T_co


@dataclass(frozen=True, slots=True)
class Rejected:
    """Rejected; `reason` says why ("cancelled" and "expired" for those cases)."""

    reason: str | None = None


ApprovalStatus: TypeAlias = Pending | Approved[T] | Rejected
"""What an approval `check` returns."""

ApprovalOp: TypeAlias = Callable[[], Awaitable[Ok[T] | Err[PendingApproval | ApprovalRejected]]]
"""The op `approval_step` makes: pass it to `step(op, key=...)`."""


@overload
def approval_step(
    key: str,
    check: Callable[[], Awaitable[ApprovalStatus[T]]],
    pending_reason: str | None = None,
) -> ApprovalOp[T]: ...


@overload
def approval_step(
    key: str,
    check: Callable[[], ApprovalStatus[T]],
    pending_reason: str | None = None,
) -> ApprovalOp[T]: ...


@overload
def approval_step(
    key: str,
    check: Callable[[], Awaitable[ApprovalStatus[object]]] | Callable[[], ApprovalStatus[object]],
    pending_reason: str | None = None,
    *,
    value_type: type[T],
) -> ApprovalOp[T]: ...


def approval_step(
    key: str,
    check: Callable[[], object],
    pending_reason: str | None = None,
    *,
    value_type: type[Any] | None = None,
) -> ApprovalOp[Any]:
    """Make an op that asks `check()` for the decision on approval `key`.

    Use it as `await step(approval_step(key, check), key=key)`. A `Pending` status
    without its own reason reports `pending_reason`. A check that returns anything else
    is a bug: the step fails with an `UnexpectedError`. The op's value type comes from
    the check (`Approved[T]`), or from `value_type`, which is then also checked when the
    approval arrives: an approved value that is not a `value_type` (an `int` counts as a
    `float`) fails the step with an `UnexpectedError` instead of flowing on mistyped.
    """
    if not isinstance(cast("object", key), str) or not key:
        raise ValueError(f"an approval key must be a non-empty str, got {key!r}")
    if not callable(check):
        raise TypeError(f"check must be a zero-argument callable, not {type(check).__name__}")
    if value_type is not None and not isinstance(cast("object", value_type), type):
        raise TypeError(f"value_type must be a class, not {value_type!r}")

    async def approval() -> Ok[object] | Err[PendingApproval | ApprovalRejected]:
        status: object = check()
        if inspect.isawaitable(status):
            status = await status
        if value_type is not None:
            _check_value_type(key, status, value_type)
        return await _resolve(key, status, pending_reason)

    approval.__qualname__ = f"approval_step({key!r})"
    return approval


def _check_value_type(key: str, status: object, value_type: type[object]) -> None:
    """Raise TypeError when `status` approves a value that is not a `value_type`."""
    if not isinstance(status, Approved):
        return
    value = cast("Approved[object]", status).value
    # int is acceptable where float is expected (and int or float for complex), as in
    # type checking; bool is an int to isinstance, and so it is here.
    accepted: tuple[type[object], ...] = (value_type,)
    if value_type is float:
        accepted = (float, int)
    elif value_type is complex:
        accepted = (complex, float, int)
    if not isinstance(value, accepted):
        raise TypeError(
            f"approval {key!r} was granted with a {type(value).__name__}, "
            f"not a {value_type.__name__}: {value!r:.80}"
        )


async def _resolve(
    key: str, status: object, pending_reason: str | None
) -> Ok[object] | Err[PendingApproval | ApprovalRejected]:
    """Turn a status into the step's Result and tell the run's listener about it."""
    ctx = current_context()
    listening = ctx is not None and ctx.on_event is not None
    match status:
        case Approved():
            value = cast("Approved[object]", status).value
            if listening:
                assert ctx is not None
                await ctx.emit(
                    ApprovalGranted(
                        workflow_id=ctx.workflow_id,
                        ts=ctx.now(),
                        context=ctx.context,
                        key=key,
                        value=value,
                    )
                )
            return Ok(value)
        case Rejected(reason=reason):
            if listening:
                assert ctx is not None
                await ctx.emit(
                    ApprovalDenied(
                        workflow_id=ctx.workflow_id,
                        ts=ctx.now(),
                        context=ctx.context,
                        key=key,
                        reason=reason,
                    )
                )
            return Err(ApprovalRejected(key=key, reason=reason))
        case Pending(reason=reason):
            why = reason if reason is not None else pending_reason
            if listening:
                assert ctx is not None
                await ctx.emit(
                    ApprovalAwaited(
                        workflow_id=ctx.workflow_id,
                        ts=ctx.now(),
                        context=ctx.context,
                        key=key,
                        reason=why,
                    )
                )
            return Err(PendingApproval(key=key, reason=why))
        case _:
            raise TypeError(
                f"the check of approval {key!r} returned {type(status).__name__}, "
                "not Pending(), Approved(value) or Rejected(reason)"
            )


# -- inspecting and editing resume state -----------------------------------------------
def is_pending_approval(error: object) -> TypeIs[PendingApproval]:
    """True when `error` is a `PendingApproval` (the run paused, it did not fail)."""
    return isinstance(error, PendingApproval)


def has_pending_approval(state: ResumeState, key: str) -> bool:
    """True when `state[key]` is a step that ended with `Err(PendingApproval)`."""
    entry = state.get(key)
    return entry is not None and _is_pending_entry(entry)


def pending_approvals(state: ResumeState) -> list[str]:
    """The keys of `state` whose step ended with `Err(PendingApproval)`, in state order."""
    return [key for key, entry in state.items() if _is_pending_entry(entry)]


def inject_approval(state: ResumeState, *, key: str, value: object) -> dict[str, CacheEntry]:
    """A copy of `state` where the approval step `key` finished with `Ok(value)`.

    Resuming from it, the approval step returns `value` without asking its check.
    """
    updated = dict(state)
    updated[key] = CacheEntry(Ok(value), {"approval": "granted"})
    return updated


def inject_rejection(
    state: ResumeState, *, key: str, reason: str | None = None
) -> dict[str, CacheEntry]:
    """A copy of `state` where the approval step `key` ended with `Err(ApprovalRejected)`."""
    updated = dict(state)
    updated[key] = CacheEntry(
        Err(ApprovalRejected(key=key, reason=reason)), {"approval": "rejected"}
    )
    return updated


def _is_pending_entry(entry: CacheEntry) -> bool:
    result = entry.result
    return isinstance(result, Err) and isinstance(result.error, PendingApproval)


# -- collecting ------------------------------------------------------------------------------
class HITLCollector(StepCollector):
    """An `on_event` sink that collects resume state and the approvals a run waits for.

    `state()` holds the finished steps **and** the steps that ended with
    `Err(PendingApproval)`, as awaitly keeps them: `has_pending_approval(state, key)` and
    `pending_approvals(state)` read it. Resuming from it does not replay a pending
    approval (the runner skips those entries), so the step asks its check again, or takes
    a decision written by `inject_approval`. `pending()` lists the keys of the approvals
    still pending (`PendingApproval.key`, which is also the step's key when the step uses
    the approval's key), in the order met.
    """

    def __init__(self, initial: ResumeState | None = None) -> None:
        super().__init__(initial)
        self._pending: dict[str, str | None] = {}
        self._decided: dict[str, Approved[object] | Rejected] = {}

    def handle_event(self, event: WorkflowEvent, ctx: object = None) -> None:
        """Record finished steps and pending approvals; ignore the other events."""
        match event:
            case StepCompleted(key=str(), result=Err(error=PendingApproval() as error)):
                super().handle_event(event, ctx)
                self._pending[error.key] = error.reason
            case StepCompleted():
                super().handle_event(event, ctx)
                if event.key is not None and isinstance(event.result, Ok):
                    self._pending.pop(event.key, None)
            case ApprovalAwaited(key=key, reason=reason):
                self._pending[key] = reason
            case ApprovalGranted(key=key, value=value):
                self._pending.pop(key, None)
                self._decided[key] = Approved(value)
            case ApprovalDenied(key=key, reason=reason):
                self._pending.pop(key, None)
                self._decided[key] = Rejected(reason)
            case _:
                pass

    __call__ = handle_event

    def pending(self) -> list[str]:
        """Keys of the approvals the run is waiting for."""
        return list(self._pending)

    def pending_reasons(self) -> dict[str, str | None]:
        """The pending approvals with the reason each reported."""
        return dict(self._pending)

    def decided(self) -> dict[str, Approved[object] | Rejected]:
        """The approvals whose check answered with a decision during the run, by key."""
        return dict(self._decided)
