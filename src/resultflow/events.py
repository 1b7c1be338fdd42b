"""Workflow events: one frozen dataclass per event type, and the `WorkflowEvent` union.

Every event has a `type` discriminator (a stable wire name such as `"step_start"`)
and the common fields `workflow_id`, `ts` (wall-clock epoch seconds) and `context`.
Step events add `step_id`, `name`, `key` and `parent_id` (the enclosing scope's id,
or None at the top level), so a renderer can rebuild the tree of a run.

Events are only built when a listener is attached (`on_event=`), so an unobserved run
pays nothing for them.
"""

from __future__ import annotations

import dataclasses
import operator
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

from resultflow.result import Err, Ok

__all__ = [
    "ApprovalAwaited",
    "ApprovalDenied",
    "ApprovalGranted",
    "CompensationFailed",
    "CompensationStarted",
    "CompensationSucceeded",
    "EventBase",
    "HookAfterStep",
    "HookAfterStepError",
    "HookBeforeStart",
    "HookBeforeStartError",
    "HookBeforeStepError",
    "HookShouldRun",
    "HookShouldRunError",
    "ScopeEnded",
    "ScopeKind",
    "ScopeStarted",
    "StepAborted",
    "StepCacheHit",
    "StepCacheMiss",
    "StepCompleted",
    "StepEventBase",
    "StepFailed",
    "StepRetriesExhausted",
    "StepRetrying",
    "StepSkipped",
    "StepStarted",
    "StepSucceeded",
    "StepTimedOut",
    "WorkflowCancelled",
    "WorkflowEvent",
    "WorkflowFailed",
    "WorkflowSkipped",
    "WorkflowStarted",
    "WorkflowSucceeded",
]

ScopeKind: TypeAlias = Literal["all", "parallel", "race", "all_settled", "map"]
"""Which step combinator opened a scope (`step.all`, `step.parallel`, ...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBase:
    """Fields every event carries."""

    workflow_id: str
    ts: float
    context: object = None


# -- how event classes are built ---------------------------------------------------
# Every event class is a frozen, slotted, keyword-only dataclass. `dataclass` would
# compile five methods per class with `exec` when this module is imported (about a
# third of `import resultflow`), although most programs never build most events. So
# the event classes below are made by `_frozen_event`: `dataclass` with only the
# exec-free parts (fields, slots, the frozen `__setattr__`), then an `__init__` that
# is generated on the class's first construction, and `__repr__`/`__eq__`/`__hash__`
# that read the fields. Type checkers see the plain `dataclass` decorator.
_EventT = TypeVar("_EventT")
_FROZEN_EVENT: object = EventBase.__dict__["__dataclass_params__"]
"""What every event class behaves as: init, repr, eq, frozen (and a hash)."""
_FIELD_GETTERS: dict[type[EventBase], Callable[[EventBase], tuple[Any, ...]]] = {}


def _fast_init(cls: type[EventBase]) -> Callable[..., None]:
    """Build an `__init__` for a frozen, slotted event class that writes its slots directly.

    A frozen dataclass's generated `__init__` assigns every field through
    `object.__setattr__`, which costs about twice as much as writing the slot's member
    descriptor. Events are built on the hot path of every observed step, so each event
    class gets an equivalent `__init__` (same keyword-only signature and defaults) that
    uses the descriptors. Instances stay frozen: assignment still raises.
    """
    namespace: dict[str, object] = {"MISSING": dataclasses.MISSING}
    params: list[str] = []
    body: list[str] = []
    for item in dataclasses.fields(cls):
        name = item.name
        namespace[f"set_{name}"] = getattr(cls, name).__set__
        if not item.init:
            namespace[f"default_{name}"] = item.default
            body.append(f"    set_{name}(self, default_{name})")
        elif item.default is not dataclasses.MISSING:
            namespace[f"default_{name}"] = item.default
            params.append(f"{name}=default_{name}")
            body.append(f"    set_{name}(self, {name})")
        elif item.default_factory is not dataclasses.MISSING:
            namespace[f"factory_{name}"] = item.default_factory
            params.append(f"{name}=MISSING")
            body.append(f"    set_{name}(self, factory_{name}() if {name} is MISSING else {name})")
        else:
            params.append(name)
            body.append(f"    set_{name}(self, {name})")
    source = f"def __init__(self, *, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # generated from field names only, like dataclasses itself
    init = namespace["__init__"]
    assert isinstance(init, types.FunctionType)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _first_init(self: EventBase, **fields: object) -> None:
    """Generate the class's fast `__init__`, install it, and build this event with it."""
    cls = type(self)
    init = _fast_init(cls)
    setattr(cls, "__init__", init)  # noqa: B010 - replacing a method on purpose
    init(self, **fields)


def _field_values(event: EventBase) -> tuple[Any, ...]:
    """The event's field values in definition order (what eq, hash and repr compare)."""
    cls = type(event)
    getter = _FIELD_GETTERS.get(cls)
    if getter is None:
        names = [item.name for item in dataclasses.fields(cls)]
        by_name = operator.attrgetter(*names)
        getter = _FIELD_GETTERS[cls] = lambda value: tuple(by_name(value))
    return getter(event)


def _event_eq(self: EventBase, other: object) -> object:
    """Dataclass equality: same class and equal fields."""
    if not isinstance(other, EventBase) or other.__class__ is not self.__class__:
        return NotImplemented
    return _field_values(self) == _field_values(other)


def _event_hash(self: EventBase) -> int:
    """Dataclass hash of a frozen class: the hash of the field values."""
    return hash(_field_values(self))


def _event_repr(self: EventBase) -> str:
    """Dataclass repr: `StepStarted(workflow_id='w', ts=1.0, ...)`."""
    names = [item.name for item in dataclasses.fields(self)]
    values = _field_values(self)
    shown = ", ".join(f"{name}={value!r}" for name, value in zip(names, values, strict=True))
    return f"{type(self).__qualname__}({shown})"


def _frozen_event(cls: type[_EventT]) -> type[_EventT]:
    """Make `cls` a frozen, slotted, keyword-only dataclass without compiling its methods."""
    made = dataclass(frozen=True, slots=True, kw_only=True, init=False, repr=False, eq=False)(cls)
    setattr(made, "__dataclass_params__", _FROZEN_EVENT)  # noqa: B010 - it is all of those
    setattr(made, "__init__", _first_init)  # noqa: B010
    setattr(made, "__repr__", _event_repr)  # noqa: B010
    setattr(made, "__eq__", _event_eq)  # noqa: B010
    setattr(made, "__hash__", _event_hash)  # noqa: B010
    return made


if TYPE_CHECKING:
    from dataclasses import dataclass as _event_dataclass
else:

    def _event_dataclass(**_options: object) -> Callable[[type[_EventT]], type[_EventT]]:
        """`@dataclass(frozen=True, slots=True, kw_only=True)` as `_frozen_event` makes it."""
        return _frozen_event


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class StepEventBase(EventBase):
    """Fields every `step_*` event carries."""

    step_id: str
    name: str | None = None
    key: str | None = None
    parent_id: str | None = None


# -- workflow lifecycle -------------------------------------------------------------
@_event_dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowStarted(EventBase):
    """A run began (after its hooks allowed it)."""

    type: Literal["workflow_start"] = field(default="workflow_start", init=False)
    name: str | None = None


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowSucceeded(EventBase):
    """A run returned a value."""

    type: Literal["workflow_success"] = field(default="workflow_success", init=False)
    duration_s: float
    value: object = None


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowFailed(EventBase):
    """A run ended with an Err."""

    type: Literal["workflow_error"] = field(default="workflow_error", init=False)
    error: object
    duration_s: float


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowCancelled(EventBase):
    """A run ended without a result because an exception passed through `run`.

    That is asyncio cancellation (`reason` is None; the CancelledError propagates), or
    KeyboardInterrupt, SystemExit, another non-`Exception` BaseException, or an exception
    raised by the `catch_unexpected` mapper (`reason` names it).
    """

    type: Literal["workflow_cancelled"] = field(default="workflow_cancelled", init=False)
    duration_s: float
    reason: str | None = None


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowSkipped(EventBase):
    """A hook declined the run; no `workflow_start` was emitted."""

    type: Literal["workflow_skipped"] = field(default="workflow_skipped", init=False)
    reason: str


# -- steps --------------------------------------------------------------------------
@_event_dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted(StepEventBase):
    """A step began executing.

    `note` says what a reader should know about how it runs, when something is
    unusual: e.g. that it runs once although a policy asked for retries (a coroutine
    object cannot be awaited twice).
    """

    type: Literal["step_start"] = field(default="step_start", init=False)
    note: str | None = None


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class StepSucceeded(StepEventBase):
    """A step returned Ok."""

    type: Literal["step_success"] = field(default="step_success", init=False)
    value: object = None
    duration_s: float = 0.0


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class StepFailed(StepEventBase):
    """A step returned Err (or raised, as UnexpectedError)."""

    type: Literal["step_error"] = field(default="step_error", init=False)
    error: object = None
    duration_s: float = 0.0


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class StepCompleted(StepEventBase):
    """A keyed step finished; `result` and `meta` are what a resume needs."""

    type: Literal["step_complete"] = field(default="step_complete", init=False)
    result: Ok[object] | Err[object]
    meta: Mapping[str, object] = field(default_factory=dict[str, object])


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class StepCacheHit(StepEventBase):
    """A keyed step was answered from the cache and did not execute."""

    type: Literal["step_cache_hit"] = field(default="step_cache_hit", init=False)


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class StepCacheMiss(StepEventBase):
    """A keyed step was not in the cache and will execute."""

    type: Literal["step_cache_miss"] = field(default="step_cache_miss", init=False)


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class StepRetrying(StepEventBase):
    """A step failed and will be tried again after `delay_s`."""

    type: Literal["step_retry"] = field(default="step_retry", init=False)
    attempt: int
    delay_s: float
    error: object = None


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class StepRetriesExhausted(StepEventBase):
    """A step failed on its last allowed attempt."""

    type: Literal["step_retries_exhausted"] = field(default="step_retries_exhausted", init=False)
    attempts: int
    error: object = None


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class StepTimedOut(StepEventBase):
    """A step (or one attempt of it) ran past its timeout and was cancelled."""

    type: Literal["step_timeout"] = field(default="step_timeout", init=False)
    seconds: float
    attempt: int = 1


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class StepSkipped(StepEventBase):
    """A conditional step did not run."""

    type: Literal["step_skipped"] = field(default="step_skipped", init=False)
    reason: str | None = None


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class StepAborted(StepEventBase):
    """A running step ended without a result.

    It was cancelled (a sibling in its scope failed, or the run was cancelled or timed
    out), or a step nested in its op exited the run; `reason` says which.
    """

    type: Literal["step_aborted"] = field(default="step_aborted", init=False)
    reason: str | None = None


# -- hooks --------------------------------------------------------------------------
@_event_dataclass(frozen=True, slots=True, kw_only=True)
class HookShouldRun(EventBase):
    """The `should_run` hook answered `result`."""

    type: Literal["hook_should_run"] = field(default="hook_should_run", init=False)
    duration_s: float
    result: object


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class HookShouldRunError(EventBase):
    """The `should_run` hook raised `error`."""

    type: Literal["hook_should_run_error"] = field(default="hook_should_run_error", init=False)
    duration_s: float
    error: object


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class HookBeforeStart(EventBase):
    """The `on_before_start` hook answered `result`."""

    type: Literal["hook_before_start"] = field(default="hook_before_start", init=False)
    duration_s: float
    result: object


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class HookBeforeStartError(EventBase):
    """The `on_before_start` hook raised `error`."""

    type: Literal["hook_before_start_error"] = field(default="hook_before_start_error", init=False)
    duration_s: float
    error: object


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class HookAfterStep(EventBase):
    """The `on_after_step` hook ran for the keyed step `key`."""

    type: Literal["hook_after_step"] = field(default="hook_after_step", init=False)
    key: str
    duration_s: float
    result: object


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class HookAfterStepError(EventBase):
    """The `on_after_step` hook raised `error` for the keyed step `key`."""

    type: Literal["hook_after_step_error"] = field(default="hook_after_step_error", init=False)
    key: str
    duration_s: float
    error: object


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class HookBeforeStepError(EventBase):
    """The `on_before_step` hook raised `error`; the step did not run."""

    type: Literal["hook_before_step_error"] = field(default="hook_before_step_error", init=False)
    step_id: str
    duration_s: float
    error: object


# -- scopes -------------------------------------------------------------------------
@_event_dataclass(frozen=True, slots=True, kw_only=True)
class ScopeStarted(EventBase):
    """A concurrent scope (`all`, `parallel`, `race`, `all_settled`, `map`) began."""

    type: Literal["scope_start"] = field(default="scope_start", init=False)
    scope_id: str
    kind: ScopeKind
    name: str | None = None
    parent_id: str | None = None


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class ScopeEnded(EventBase):
    """A concurrent scope ended; `ok` tells whether it produced a value."""

    type: Literal["scope_end"] = field(default="scope_end", init=False)
    scope_id: str
    kind: ScopeKind
    duration_s: float
    ok: bool
    name: str | None = None
    parent_id: str | None = None


# -- sagas ----------------------------------------------------------------------------
@_event_dataclass(frozen=True, slots=True, kw_only=True)
class CompensationStarted(EventBase):
    """A saga began undoing the step `name`."""

    type: Literal["compensation_start"] = field(default="compensation_start", init=False)
    name: str
    step_id: str | None = None


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class CompensationSucceeded(EventBase):
    """A saga undid the step `name`."""

    type: Literal["compensation_success"] = field(default="compensation_success", init=False)
    name: str
    duration_s: float
    step_id: str | None = None


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class CompensationFailed(EventBase):
    """Undoing the step `name` failed with `error`; the other compensations still run."""

    type: Literal["compensation_error"] = field(default="compensation_error", init=False)
    name: str
    duration_s: float
    error: object
    step_id: str | None = None


# -- approvals ------------------------------------------------------------------------
@_event_dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalAwaited(EventBase):
    """An approval step found its approval still pending."""

    type: Literal["approval_pending"] = field(default="approval_pending", init=False)
    key: str
    reason: str | None = None


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalGranted(EventBase):
    """An approval step found its approval granted."""

    type: Literal["approval_granted"] = field(default="approval_granted", init=False)
    key: str
    value: object = None


@_event_dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalDenied(EventBase):
    """An approval step found its approval rejected."""

    type: Literal["approval_rejected"] = field(default="approval_rejected", init=False)
    key: str
    reason: str | None = None


WorkflowEvent: TypeAlias = (
    WorkflowStarted
    | WorkflowSucceeded
    | WorkflowFailed
    | WorkflowCancelled
    | WorkflowSkipped
    | StepStarted
    | StepSucceeded
    | StepFailed
    | StepCompleted
    | StepCacheHit
    | StepCacheMiss
    | StepRetrying
    | StepRetriesExhausted
    | StepTimedOut
    | StepSkipped
    | StepAborted
    | HookShouldRun
    | HookShouldRunError
    | HookBeforeStart
    | HookBeforeStartError
    | HookAfterStep
    | HookAfterStepError
    | HookBeforeStepError
    | ScopeStarted
    | ScopeEnded
    | CompensationStarted
    | CompensationSucceeded
    | CompensationFailed
    | ApprovalAwaited
    | ApprovalGranted
    | ApprovalDenied
)
"""Every event a run can emit; `match` on it is exhaustiveness-checked."""
