"""resultflow: typed workflows built from Result values.

The public names of the Result core and the runner are re-exported here; reliability,
sagas, persistence, observability and the durable engine live in their own modules.
"""

from resultflow._runtime.conditional import (
    Condition,
    Conditionals,
    ConditionalSteps,
    conditionals,
    unless,
    unless_or,
    when,
    when_or,
)
from resultflow._runtime.context import EventSink, RunContext, current_context
from resultflow._runtime.options import StepOptions
from resultflow._runtime.pipeline import StepInfo
from resultflow._runtime.runner import RunOptions, Workflow, run, workflow
from resultflow._runtime.step import Step, StepOp
from resultflow._runtime.sync_runner import SyncStep, SyncWorkflow, run_sync, workflow_sync
from resultflow._version import __version__
from resultflow.cache import AsyncStepCache, CacheEntry, MemoryCache, StepCache
from resultflow.clock import SYSTEM_CLOCK, Clock, SystemClock
from resultflow.combinators import (
    all_ok,
    all_settled,
    any_ok,
    first_ok,
    gather_ok,
    gather_settled,
    partition,
)
from resultflow.errors import (
    AmbiguousTagError,
    ApprovalRejected,
    Cancelled,
    CircuitOpen,
    PendingApproval,
    RateLimited,
    ResultflowError,
    SagaCompensationFailed,
    Skipped,
    StepTimeout,
    StoreError,
    TaggedError,
    UnexpectedError,
    UnknownTagError,
    WorkflowTimeout,
    registered_tags,
)
from resultflow.events import WorkflowEvent
from resultflow.reliability._timeout import Timeout
from resultflow.result import Err, Ok, Result, UnwrapError, is_err, is_ok
from resultflow.resume import ResumeEntry, ResumeState, StepCollector, clear_step, is_step_complete
from resultflow.wrapping import SafeDecorator, from_optional, safe, try_async, try_call

__all__ = [
    "AmbiguousTagError",
    "ApprovalRejected",
    "AsyncStepCache",
    "CacheEntry",
    "Cancelled",
    "CircuitOpen",
    "Clock",
    "Condition",
    "ConditionalSteps",
    "Conditionals",
    "Err",
    "EventSink",
    "MemoryCache",
    "Ok",
    "PendingApproval",
    "RateLimited",
    "ResultflowError",
    "Result",
    "ResumeEntry",
    "ResumeState",
    "RunContext",
    "RunOptions",
    "SYSTEM_CLOCK",
    "SafeDecorator",
    "SagaCompensationFailed",
    "Skipped",
    "Step",
    "StepCache",
    "StepCollector",
    "StepInfo",
    "StepOp",
    "StepOptions",
    "StepTimeout",
    "StoreError",
    "SyncStep",
    "SyncWorkflow",
    "SystemClock",
    "TaggedError",
    "Timeout",
    "UnexpectedError",
    "UnknownTagError",
    "UnwrapError",
    "Workflow",
    "WorkflowEvent",
    "WorkflowTimeout",
    "__version__",
    "all_ok",
    "all_settled",
    "any_ok",
    "clear_step",
    "conditionals",
    "current_context",
    "first_ok",
    "from_optional",
    "gather_ok",
    "gather_settled",
    "is_err",
    "is_ok",
    "is_step_complete",
    "partition",
    "registered_tags",
    "run",
    "run_sync",
    "safe",
    "try_async",
    "try_call",
    "unless",
    "unless_or",
    "when",
    "when_or",
    "workflow",
    "workflow_sync",
]
