"""Human in the loop: approval steps, approval stores, an orchestrator and an HTTP handler.

- `approval_step(key, check)` makes a step that pauses the run with
  `Err(PendingApproval)` until `check()` says `Approved(value)` or `Rejected(reason)`.
- `HITLCollector` collects resume state and the pending approvals of a run;
  `inject_approval` writes a decision into a state before resuming.
- `ApprovalStore` (`MemoryApprovalStore`, `KVApprovalStore`) records pending approvals
  and decisions; `WorkflowStateStore` (`MemoryStateStore`, `KVStateStore`) the paused runs.
- `HITLOrchestrator` executes workflows, pauses them and resumes them on decisions.
- `approval_handler` turns approve / reject / cancel requests into store decisions.
"""

from resultflow.hitl._approval import (
    ApprovalOp,
    ApprovalStatus,
    Approved,
    HITLCollector,
    Pending,
    Rejected,
    approval_step,
    clear_step,
    has_pending_approval,
    inject_approval,
    inject_rejection,
    is_pending_approval,
    pending_approvals,
)
from resultflow.hitl._approval_store import (
    ApprovalAlreadyDecided,
    ApprovalDecision,
    ApprovalNotFound,
    ApprovalRecord,
    ApprovalState,
    ApprovalStore,
    KVApprovalStore,
    MemoryApprovalStore,
    approval_check,
)
from resultflow.hitl._handler import (
    ApprovalAction,
    ApprovalHandler,
    HandlerResponse,
    approval_handler,
)
from resultflow.hitl._orchestrator import (
    ApprovalDecisionError,
    ApprovalMismatch,
    Completed,
    Failed,
    HITLOrchestrator,
    Outcome,
    Paused,
    ResumedRuns,
    SkippedRun,
    UnknownRunError,
    UnknownWorkflowError,
)
from resultflow.hitl._paused_runs import (
    ChecksArguments,
    KVStateStore,
    MemoryStateStore,
    RunSnapshot,
    StateMigrationError,
    WaitingRuns,
    WorkflowStateStore,
)
from resultflow.hitl._run_claims import (
    ClaimLostError,
    KVRunClaims,
    Lease,
    MemoryRunClaims,
    RunBusyError,
    RunClaims,
    ServerClock,
)

__all__ = [
    "ApprovalAction",
    "ApprovalAlreadyDecided",
    "ApprovalDecision",
    "ApprovalDecisionError",
    "ApprovalHandler",
    "ApprovalMismatch",
    "ApprovalNotFound",
    "ApprovalOp",
    "ApprovalRecord",
    "ApprovalState",
    "ApprovalStatus",
    "ApprovalStore",
    "Approved",
    "ChecksArguments",
    "ClaimLostError",
    "Completed",
    "Failed",
    "HITLCollector",
    "HITLOrchestrator",
    "HandlerResponse",
    "KVApprovalStore",
    "KVRunClaims",
    "KVStateStore",
    "Lease",
    "MemoryApprovalStore",
    "MemoryRunClaims",
    "MemoryStateStore",
    "Outcome",
    "Paused",
    "Pending",
    "Rejected",
    "ResumedRuns",
    "RunBusyError",
    "RunClaims",
    "RunSnapshot",
    "ServerClock",
    "SkippedRun",
    "StateMigrationError",
    "UnknownRunError",
    "UnknownWorkflowError",
    "WaitingRuns",
    "WorkflowStateStore",
    "approval_check",
    "approval_handler",
    "approval_step",
    "clear_step",
    "has_pending_approval",
    "inject_approval",
    "inject_rejection",
    "is_pending_approval",
    "pending_approvals",
]
