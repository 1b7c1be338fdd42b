"""`HITLOrchestrator`: run workflows that pause for approvals, and resume them on decision.

```python
orch = HITLOrchestrator(MemoryApprovalStore())
outcome = await orch.execute(refund, order_id)      # Paused(run_id, pending=["refund:42"])
outcomes = await orch.grant("refund:42", 120, actor="ann")  # [Completed(run_id, result)]
```

`execute(wf, *args)` runs `wf` (a `@workflow` / `@saga_workflow` `Workflow`, or a body
for `run`) with resume state and a `HITLCollector` it supplies. A run that exits with
`PendingApproval` is **paused**: its finished steps, arguments and pending approval keys
are saved in the `WorkflowStateStore`, and a pending record is created in the
`ApprovalStore` for each key (expiring after `default_expiry` seconds when set).
`grant` / `reject` / `cancel` record the decision and resume every paused run waiting
on that key; `resume(run_id)` resumes one run with whatever has been decided meanwhile.
A decision reads only the runs waiting on its key (the state store's index, see
`WaitingRuns`). A run it cannot resume — its snapshot is corrupt, comes from a newer
deployment, or names a workflow this process has not registered — is skipped, logged
on the `resultflow.hitl` logger and reported in the result's `skipped`; the other runs
are resumed all the same, and the skipped one stays stored for a later `resume`.
Resuming replays the finished steps from the saved state (they do not run again) and
writes each decision into the state, so the approval step takes it from there:
approved -> its value, rejected (also cancelled or expired) -> `Err(ApprovalRejected)`.

Workflows are found again by name (`Workflow.name`, or a body's `__qualname__`).
After a restart, call `register(wf)` for each workflow before resuming (or `execute`
anything with it, which registers it too). Completed and failed runs are removed from
the state store; their outcome is returned to the caller.

One process at a time runs a given run: before running or resuming it, the orchestrator
claims it in its state store (see `resultflow.hitl.lease`) for `claim_ttl` seconds,
renews the claim every third of that while the run runs, and releases it when the run
completes, fails or pauses. Within one process, callers wait their turn (a lock per run
id); a run claimed by another process makes `execute` and `resume` raise `RunBusyError`,
and `grant` / `reject` / `cancel` skip it. After releasing a paused run, the holder looks
again at the approvals it waits on: a decision that arrived while it held the claim (and
that the deciding process therefore skipped) resumes the run at once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import socket
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, Protocol, TypeAlias, TypeVar, cast, overload

from typing_extensions import TypeVarTuple

from resultflow._runtime.context import EventSink
from resultflow._runtime.pipeline import AnyResult
from resultflow._runtime.runner import RunOptions, Workflow, execute_run
from resultflow._runtime.step import Step
from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.errors import (
    ApprovalRejected,
    PendingApproval,
    ResultflowError,
    TaggedError,
    UnexpectedError,
)
from resultflow.events import WorkflowEvent
from resultflow.hitl._approval import (
    ApprovalOp,
    Approved,
    HITLCollector,
    approval_step,
    inject_approval,
    inject_rejection,
)
from resultflow.hitl._approval_store import (
    ApprovalAlreadyDecided,
    ApprovalDecision,
    ApprovalNotFound,
    ApprovalRecord,
    ApprovalStore,
    approval_check,
)
from resultflow.hitl._paused_runs import (
    ChecksArguments,
    MemoryStateStore,
    RunSnapshot,
    WaitingRuns,
    WorkflowStateStore,
)
from resultflow.hitl._run_claims import (
    DEFAULT_CLAIM_TTL,
    ClaimLostError,
    Lease,
    MemoryRunClaims,
    RunBusyError,
    RunClaims,
)
from resultflow.persistence._encoder import encode_value
from resultflow.persistence._errors import SerializationError
from resultflow.result import Err, Ok
from resultflow.resume import ResumeState

__all__ = [
    "ApprovalDecisionError",
    "ApprovalMismatch",
    "ClaimLostError",
    "Completed",
    "Failed",
    "HITLOrchestrator",
    "Outcome",
    "Paused",
    "ResumedRuns",
    "RunBusyError",
    "SkippedRun",
    "UnknownRunError",
    "UnknownWorkflowError",
]

T = TypeVar("T")
E = TypeVar("E")
T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
Ts = TypeVarTuple("Ts")

Runnable: TypeAlias = Workflow[Any, Any, Any] | Callable[..., Awaitable[object]]


class _TypedWorkflow(Protocol[*Ts, T_co, E_co]):
    """A `Workflow` seen through its call: positional arguments `*Ts`, `Ok[T]` or `Err[E]`.

    Matching a `Workflow[P, T, E]` against this protocol turns its parameters into a
    tuple of types, so `execute(wf, *args, run_id=...)` checks `args` like a direct call
    would (`P.args` alone cannot be combined with the keyword-only `run_id`).
    """

    @property
    def name(self) -> str: ...

    def __call__(self, *args: *Ts) -> Awaitable[Ok[T_co] | Err[E_co]]: ...


logger = logging.getLogger("resultflow.hitl")


@dataclass(frozen=True, slots=True)
class Completed(Generic[T_co]):
    """The run `run_id` finished; `result` is the workflow's (Ok) value."""

    run_id: str
    result: T_co


@dataclass(frozen=True, slots=True)
class Paused:
    """The run `run_id` waits for the approvals `pending` (keys)."""

    run_id: str
    pending: list[str]


@dataclass(frozen=True, slots=True)
class Failed(Generic[E_co]):
    """The run `run_id` ended with `error` (e.g. `ApprovalRejected`)."""

    run_id: str
    error: E_co


Outcome: TypeAlias = Completed[T] | Paused | Failed[E]
"""What executing or resuming a run gives."""


@dataclass(frozen=True, slots=True)
class SkippedRun:
    """A paused run that a decision could not resume; it stays stored as it was.

    `error` says why: `CorruptEntryError` (an unreadable snapshot), `StateMigrationError`
    (a state from a newer deployment), `UnknownWorkflowError` (a workflow this process
    has not registered), or whatever else resuming it raised.
    """

    run_id: str
    error: Exception


class ResumedRuns(list[Outcome[T, E]]):
    """The outcomes of the runs a decision resumed (a list), plus the runs it `skipped`.

    A list, so code that iterates or compares the outcomes keeps working; `skipped`
    lists the waiting runs that could not be resumed (each also logged).
    """

    def __init__(
        self, outcomes: Iterable[Outcome[T, E]] = (), skipped: Iterable[SkippedRun] = ()
    ) -> None:
        super().__init__(outcomes)
        self.skipped: list[SkippedRun] = list(skipped)


class ApprovalMismatch(TaggedError):
    """A paused run's recorded decision on approval `key` disagrees with the approval store.

    `recorded` is what the run's saved state says ("approved" or "rejected"), `stored`
    what the `ApprovalStore` says ("pending", "approved" with another value, ...). The
    saved state was edited, or written against another store: the run fails with this
    error instead of taking a decision no one made.
    """

    key: str
    recorded: str
    stored: str


class UnknownRunError(ResultflowError, LookupError):
    """No paused run has this id (it never paused, or it already finished)."""


class UnknownWorkflowError(ResultflowError, LookupError):
    """A paused run names a workflow this orchestrator has not registered."""


class ApprovalDecisionError(ResultflowError, LookupError):
    """`grant` / `reject` / `cancel` on a key the store does not know or already decided.

    `.error` is the store's `ApprovalNotFound` or `ApprovalAlreadyDecided`.
    """

    def __init__(self, key: str, error: ApprovalNotFound | ApprovalAlreadyDecided) -> None:
        super().__init__(f"cannot decide approval {key!r}: {error.message}")
        self.key = key
        self.error = error


class HITLOrchestrator:
    """Executes workflows that wait for human approvals, and resumes them on decision.

    `approvals` holds the approvals, `states` the paused runs (in memory by default),
    `default_expiry` (seconds) makes new pending approvals expire, `clock` dates them
    and paces `poll` and claim renewals. `on_event` receives every event of every run
    it drives. Runs are claimed in `states` when it implements `RunClaims` (both
    built-in stores do; otherwise only within this process) for `claim_ttl` seconds at a
    time, under the name `owner` (default: host, pid and a random suffix).
    """

    def __init__(
        self,
        approvals: ApprovalStore,
        states: WorkflowStateStore | None = None,
        default_expiry: float | None = None,
        clock: Clock | None = None,
        *,
        on_event: EventSink | None = None,
        claim_ttl: float = DEFAULT_CLAIM_TTL,
        owner: str | None = None,
    ) -> None:
        # Checked here, not when a run pauses: an infinite expiry would only fail once the
        # paused run is saved, leaving a run no one can approve.
        if default_expiry is not None and not _positive_finite(default_expiry):
            raise ValueError(
                f"default_expiry must be a positive, finite number of seconds or None, "
                f"not {default_expiry!r}"
            )
        if not _positive_finite(claim_ttl):
            raise ValueError(
                f"claim_ttl must be a positive, finite number of seconds, not {claim_ttl!r}"
            )
        self.approvals = approvals
        self.states: WorkflowStateStore = MemoryStateStore() if states is None else states
        self.default_expiry = default_expiry
        self.clock = clock or SYSTEM_CLOCK
        self.on_event = on_event
        self.claim_ttl = claim_ttl
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.claims: RunClaims = (
            self.states if isinstance(self.states, RunClaims) else MemoryRunClaims(self.clock)
        )
        self._workflows: dict[str, Runnable] = {}
        self._locks: dict[str, _RunLock] = {}

    # -- workflows -------------------------------------------------------------------------
    def register(self, wf: Runnable, name: str | None = None) -> str:
        """Make `wf` resumable under `name` (default: its workflow name); return the name."""
        label = name or _name_of(wf)
        self._workflows[label] = wf
        return label

    @overload
    def approval(self, key: str, reason: str | None = None) -> ApprovalOp[object]: ...

    @overload
    def approval(
        self, key: str, reason: str | None = None, *, value_type: type[T]
    ) -> ApprovalOp[T]: ...

    def approval(
        self, key: str, reason: str | None = None, *, value_type: type[Any] | None = None
    ) -> ApprovalOp[Any]:
        """An approval op whose check reads `key` from this orchestrator's store.

        With `value_type`, the step's value is typed (`ApprovalOp[T]`) and checked when
        the check answers: a granted value that is not a `value_type` fails the step
        (`UnexpectedError`). A decision the orchestrator writes into a resumed run's
        state reaches the step without its check, so it is not checked there: validate
        values where they come in (`approval_handler`, your `grant` caller).
        """
        check = approval_check(self.approvals, key)
        if value_type is None:
            return approval_step(key, check, pending_reason=reason)
        return approval_step(key, check, pending_reason=reason, value_type=value_type)

    # -- running ---------------------------------------------------------------------------
    @overload
    async def execute(
        self, wf: _TypedWorkflow[*Ts, T, E], /, *args: *Ts, run_id: str | None = None
    ) -> Completed[T] | Paused | Failed[E]: ...

    @overload
    async def execute(
        self,
        wf: Callable[[Step[E], *Ts], Awaitable[T]],
        /,
        *args: *Ts,
        run_id: str | None = None,
    ) -> Completed[T] | Paused | Failed[E | UnexpectedError]: ...

    async def execute(
        self, wf: object, /, *args: object, run_id: str | None = None
    ) -> Outcome[Any, Any]:
        """Run `wf(*args)` as run `run_id` (default: a new uuid); pause it on approvals.

        Raises `SerializationError` before anything runs when the state store could not
        save `args` (so a run never pauses with steps done and nothing saved),
        `ValueError` when `run_id` names a run that is already paused (resume it with
        `resume(run_id)` instead), and `RunBusyError` when another process is running or
        resuming run `run_id` right now.
        """
        if not callable(wf):
            raise TypeError(f"execute needs a workflow or a body, not {type(wf).__name__}")
        if isinstance(self.states, ChecksArguments):
            self.states.check_args(tuple(args))
        runnable = cast("Runnable", wf)
        name = self.register(runnable)
        run_id = run_id or str(uuid.uuid4())
        async with self._exclusive(run_id):
            async with self._lease(run_id) as lease:
                if await self.states.load(run_id) is not None:
                    raise ValueError(f"run {run_id!r} is paused already; use resume({run_id!r})")
                outcome = await self._drive(lease, name, runnable, tuple(args), run_id, {})
            return await self._recheck(run_id, outcome)

    @overload
    async def resume(self, run_id: str) -> Outcome[object, object]: ...

    @overload
    async def resume(
        self, run_id: str, workflow: _TypedWorkflow[*tuple[Any, ...], T, E]
    ) -> Outcome[T, E | ApprovalMismatch]: ...

    @overload
    async def resume(
        self, run_id: str, workflow: Callable[Concatenate[Step[E], ...], Awaitable[T]]
    ) -> Outcome[T, E | UnexpectedError | ApprovalMismatch]: ...

    async def resume(self, run_id: str, workflow: object = None) -> Outcome[Any, Any]:
        """Resume the paused run `run_id` with the decisions made so far.

        With `workflow` (registered by this call), the outcome is typed by it, and a run
        of another workflow raises `UnknownWorkflowError`. Raises `UnknownRunError` when
        no such run is paused, `UnknownWorkflowError` when its workflow is not
        registered, `CorruptEntryError` / `StateMigrationError` when its snapshot cannot
        be read, and `RunBusyError` when another process is running or resuming it right
        now (that process resumes it again if a decision arrives meanwhile).
        """
        only = self._register_typed(workflow)
        async with self._exclusive(run_id):
            outcome = await self._resume_claimed(run_id, only=only)
            assert outcome is not None
            return await self._recheck(run_id, outcome)

    def _register_typed(self, workflow: object) -> str | None:
        """Register a `workflow=` argument; its name (None when not given)."""
        if workflow is None:
            return None
        if not callable(workflow):
            raise TypeError(f"workflow must be a workflow or a body, not {workflow!r}")
        return self.register(cast("Runnable", workflow))

    async def paused_runs(self, key: str | None = None) -> list[str]:
        """Ids of the paused runs (only those waiting on approval `key`, when given).

        With `key`, a run the state store's index lists under `key` but whose snapshot
        cannot be read is included (it is paused, and most likely waits on `key`).
        """
        if key is None:
            return await self.states.list_runs()
        waiting: list[str] = []
        for run_id in await self._candidates(key):
            try:
                snapshot = await self.states.load(run_id)
            except Exception:
                if isinstance(self.states, WaitingRuns):
                    waiting.append(run_id)
                continue
            if snapshot is not None and key in snapshot.pending:
                waiting.append(run_id)
        return waiting

    async def resume_waiting(
        self, key: str, workflow: object = None
    ) -> ResumedRuns[object, object]:
        """Resume every paused run waiting on approval `key`; return their outcomes.

        Runs that cannot be resumed are skipped: logged, listed in `.skipped` of the
        result, and left stored. Runs held by another process are left to it (its
        holder looks for new decisions when it lets the run go). With `workflow`, only
        the runs of that workflow are resumed; the others stay paused.
        """
        only = self._register_typed(workflow)
        resumed: ResumedRuns[object, object] = ResumedRuns()
        for run_id in await self._candidates(key):
            try:
                async with self._exclusive(run_id):
                    outcome = await self._resume_claimed(run_id, waiting_on=key, only=only)
                    if outcome is None:
                        continue  # it no longer waits on `key`
                    resumed.append(await self._recheck(run_id, outcome))
            except (UnknownRunError, RunBusyError):
                continue  # resumed and finished meanwhile, or held elsewhere
            except Exception as exc:
                # Someone else's broken run must not cost the others their decision.
                logger.error(
                    "approval %r was decided but paused run %r could not be resumed; it "
                    "stays stored (resume it with orchestrator.resume(run_id) once fixed)",
                    key,
                    run_id,
                    exc_info=exc,
                )
                resumed.skipped.append(SkippedRun(run_id, exc))
        return resumed

    async def _candidates(self, key: str) -> list[str]:
        """The runs that may wait on `key`: the store's index, or every stored run."""
        if isinstance(self.states, WaitingRuns):
            return await self.states.runs_waiting(key)
        return await self.states.list_runs()

    # -- decisions -------------------------------------------------------------------------
    @overload
    async def grant(
        self, key: str, value: object, actor: str | None = None, resume: bool = True
    ) -> ResumedRuns[object, object]: ...

    @overload
    async def grant(
        self,
        key: str,
        value: object,
        actor: str | None = None,
        resume: bool = True,
        *,
        workflow: _TypedWorkflow[*tuple[Any, ...], T, E],
    ) -> ResumedRuns[T, E | ApprovalMismatch]: ...

    @overload
    async def grant(
        self,
        key: str,
        value: object,
        actor: str | None = None,
        resume: bool = True,
        *,
        workflow: Callable[Concatenate[Step[E], ...], Awaitable[T]],
    ) -> ResumedRuns[T, E | UnexpectedError | ApprovalMismatch]: ...

    async def grant(
        self,
        key: str,
        value: object,
        actor: str | None = None,
        resume: bool = True,
        *,
        workflow: object = None,
    ) -> ResumedRuns[Any, Any]:
        """Approve `key` with `value`; with `resume`, resume the runs waiting on it.

        Returns the outcomes of the resumed runs (`.skipped`: the waiting runs that could
        not be resumed, see `resume_waiting`). With `workflow`, only its runs are resumed
        and the outcomes are typed by it; runs of other workflows waiting on `key` stay
        paused (`resume_waiting(key)` resumes them). Raises `ApprovalDecisionError` when
        the store refuses (unknown or decided key).
        """
        decided = await self.approvals.grant(key, value, actor)
        return await self._after_decision(key, decided, resume, workflow)

    @overload
    async def reject(
        self, key: str, reason: str, actor: str | None = None, resume: bool = True
    ) -> ResumedRuns[object, object]: ...

    @overload
    async def reject(
        self,
        key: str,
        reason: str,
        actor: str | None = None,
        resume: bool = True,
        *,
        workflow: _TypedWorkflow[*tuple[Any, ...], T, E],
    ) -> ResumedRuns[T, E | ApprovalMismatch]: ...

    @overload
    async def reject(
        self,
        key: str,
        reason: str,
        actor: str | None = None,
        resume: bool = True,
        *,
        workflow: Callable[Concatenate[Step[E], ...], Awaitable[T]],
    ) -> ResumedRuns[T, E | UnexpectedError | ApprovalMismatch]: ...

    async def reject(
        self,
        key: str,
        reason: str,
        actor: str | None = None,
        resume: bool = True,
        *,
        workflow: object = None,
    ) -> ResumedRuns[Any, Any]:
        """Reject `key`; the resumed runs end with `ApprovalRejected` (see `grant`)."""
        decided = await self.approvals.reject(key, reason, actor)
        return await self._after_decision(key, decided, resume, workflow)

    @overload
    async def cancel(
        self, key: str, actor: str | None = None, resume: bool = True
    ) -> ResumedRuns[object, object]: ...

    @overload
    async def cancel(
        self,
        key: str,
        actor: str | None = None,
        resume: bool = True,
        *,
        workflow: _TypedWorkflow[*tuple[Any, ...], T, E],
    ) -> ResumedRuns[T, E | ApprovalMismatch]: ...

    @overload
    async def cancel(
        self,
        key: str,
        actor: str | None = None,
        resume: bool = True,
        *,
        workflow: Callable[Concatenate[Step[E], ...], Awaitable[T]],
    ) -> ResumedRuns[T, E | UnexpectedError | ApprovalMismatch]: ...

    async def cancel(
        self, key: str, actor: str | None = None, resume: bool = True, *, workflow: object = None
    ) -> ResumedRuns[Any, Any]:
        """Withdraw `key` (a rejection with reason "cancelled"); see `grant`."""
        decided = await self.approvals.cancel(key, actor)
        return await self._after_decision(key, decided, resume, workflow)

    async def poll(
        self, key: str, interval: float = 1.0, timeout: float | None = None
    ) -> ApprovalRecord | None:
        """Wait until `key` is decided; return its record (the pending one on timeout).

        Checks every `interval` seconds on the orchestrator's clock; None when the store
        has no approval `key`.
        """
        if not _positive_finite(interval):
            raise ValueError(
                f"interval must be a positive, finite number of seconds, not {interval!r}"
            )
        if timeout is not None and (isinstance(timeout, bool) or not timeout >= 0):
            raise ValueError(f"timeout must be a number of seconds (>= 0) or None, not {timeout!r}")
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        while True:
            record = await self.approvals.get(key)
            if record is None or not record.is_pending:
                return record
            wait = interval
            if deadline is not None:
                remaining = deadline - self.clock.monotonic()
                if remaining <= 0:
                    return record
                wait = min(interval, remaining)
            await self.clock.sleep(wait)

    # -- internals -------------------------------------------------------------------------
    async def _after_decision(
        self, key: str, decided: ApprovalDecision, resume: bool, workflow: object
    ) -> ResumedRuns[object, object]:
        if isinstance(decided, Err):
            raise ApprovalDecisionError(key, decided.error)
        return await self.resume_waiting(key, workflow) if resume else ResumedRuns()

    def _lease(self, run_id: str) -> Lease:
        return Lease(self.claims, run_id, self.owner, self.claim_ttl, self.clock)

    async def _resume_claimed(
        self, run_id: str, waiting_on: str | None = None, only: str | None = None
    ) -> Outcome[object, object] | None:
        """Claim `run_id`, then resume it from its snapshot (read after claiming).

        With `waiting_on`, a run that no longer waits on that key, or (with `only`) is
        not a run of workflow `only`, is left as it is (None). Without `waiting_on`, a
        run of another workflow than `only` raises `UnknownWorkflowError`.
        """
        async with self._lease(run_id) as lease:
            snapshot = await self.states.load(run_id)
            if snapshot is None:
                raise UnknownRunError(f"no paused run {run_id!r}")
            if waiting_on is not None and waiting_on not in snapshot.pending:
                return None
            if only is not None and snapshot.workflow != only:
                if waiting_on is not None:
                    return None
                raise UnknownWorkflowError(
                    f"run {run_id!r} is a run of workflow {snapshot.workflow!r}, not {only!r}"
                )
            wf = self._workflows.get(snapshot.workflow)
            if wf is None:
                raise UnknownWorkflowError(
                    f"run {run_id!r} needs the workflow {snapshot.workflow!r}; register it "
                    "with orchestrator.register(wf) first"
                )
            mismatch = await self._disagreement(snapshot.state)
            if mismatch is not None:
                logger.error(
                    "paused run %r records approval %r as %s but the approval store says %s: "
                    "the saved state was altered; the run fails with ApprovalMismatch",
                    run_id,
                    mismatch.key,
                    mismatch.recorded,
                    mismatch.stored,
                )
                await lease.confirm()
                await self.states.delete(run_id)
                return Failed(run_id, mismatch)
            state = await self._with_decisions(snapshot.state, snapshot.pending)
            return await self._drive(lease, snapshot.workflow, wf, snapshot.args, run_id, state)

    async def _recheck(
        self, run_id: str, outcome: Outcome[object, object]
    ) -> Outcome[object, object]:
        """After releasing a paused run, resume it if one of its approvals was decided.

        A process deciding an approval while this one held the claim skipped the run
        (`RunBusyError`); the decision is already stored, so it is seen here. The loop
        stops when the run pauses on the same keys again (a check that ignores the
        decision), or when another process holds or finished the run: that process
        does the same check when it lets go.
        """
        previous: list[str] | None = None
        while (
            isinstance(outcome, Paused)
            and outcome.pending != previous
            and await self._any_decided(outcome.pending)
        ):
            previous = outcome.pending
            try:
                resumed = await self._resume_claimed(run_id)
            except (RunBusyError, UnknownRunError):
                break
            assert resumed is not None
            outcome = resumed
        return outcome

    async def _any_decided(self, keys: list[str]) -> bool:
        for key in keys:
            record = await self.approvals.get(key)
            if record is not None and not record.is_pending:
                return True
        return False

    async def _drive(
        self,
        lease: Lease,
        name: str,
        wf: Runnable,
        args: tuple[object, ...],
        run_id: str,
        state: ResumeState,
    ) -> Outcome[object, object]:
        """Run until the run completes, fails, or pauses on approvals not yet decided.

        Each write to the state store first confirms the claim (`ClaimLostError` when
        another process took the run over), so a run taken over is not overwritten.
        """
        seen: tuple[str, ...] | None = None
        while True:
            collector = HITLCollector(state)
            result = await self._run_once(wf, args, run_id, state, collector)
            if isinstance(result, Ok):
                await lease.confirm()
                await self.states.delete(run_id)
                return Completed(run_id, result.value)
            error = result.error
            if not isinstance(error, PendingApproval):
                await lease.confirm()
                await self.states.delete(run_id)
                return Failed(run_id, error)
            await self._record_check_decisions(collector)
            pending = collector.pending() or [error.key]
            reasons = collector.pending_reasons()
            state = collector.state()
            snapshot = RunSnapshot(
                run_id=run_id,
                workflow=name,
                args=args,
                state=state,
                pending=tuple(pending),
                updated_at=self.clock.now(),
                pending_reasons={k: reasons.get(k, error.reason) for k in pending},
            )
            await lease.confirm()
            await self.states.save(snapshot)
            decided = await self._open_approvals(snapshot)
            # Decided before the run paused (or meanwhile): resume at once, unless the
            # same keys pause again (a check that ignores the injected decision).
            if not decided or snapshot.pending == seen:
                return Paused(run_id, pending)
            seen = snapshot.pending
            state = await self._with_decisions(state, snapshot.pending)

    async def _run_once(
        self,
        wf: Runnable,
        args: tuple[object, ...],
        run_id: str,
        state: ResumeState,
        collector: HITLCollector,
    ) -> AnyResult:
        if isinstance(wf, Workflow):
            flow = cast("Workflow[..., object, object]", wf)
            sink = _fan_out(collector, self.on_event, flow.options.get("on_event"))
            configured = flow.with_options(workflow_id=run_id, resume_state=state, on_event=sink)
            return await configured(*args)
        sink = _fan_out(collector, self.on_event, None)
        options: RunOptions = {"workflow_id": run_id, "resume_state": state, "on_event": sink}
        return await execute_run(wf, args, {}, None, options)

    async def _open_approvals(self, snapshot: RunSnapshot) -> bool:
        """Create the missing pending records; True when one is already decided."""
        expires_at = None if self.default_expiry is None else self.clock.now() + self.default_expiry
        decided = False
        for key in snapshot.pending:
            record = await self.approvals.get(key)
            if record is None:
                await self.approvals.create_pending(
                    key,
                    reason=snapshot.pending_reasons.get(key),
                    expires_at=expires_at,
                    meta={"run_id": snapshot.run_id, "workflow": snapshot.workflow},
                )
            elif not record.is_pending:
                decided = True
        return decided

    async def _record_check_decisions(self, collector: HITLCollector) -> None:
        """Record in the store the decisions that checks made, before the run is saved.

        An approval step whose check reads another system (not this store) may be
        decided there while the store still holds the pending record made when the run
        paused; recording it keeps the store in agreement with the saved state, which
        is what resuming verifies (`_disagreement`).
        """
        for key, status in collector.decided().items():
            record = await self.approvals.get(key)
            if record is None or not record.is_pending:
                continue
            if isinstance(status, Approved):
                await self.approvals.grant(key, status.value)
            else:
                await self.approvals.reject(key, status.reason or "rejected by its check")

    async def _disagreement(self, state: ResumeState) -> ApprovalMismatch | None:
        """The first approval decision in `state` that the approval store does not back.

        The saved state is not trusted to carry decisions: every step key that is also
        an approval key in the store (approval steps use the approval's key) must record
        what the store recorded — an `Ok(value)` only for `Approved(value)`, an
        `ApprovalRejected` only for a rejection. A pending entry is always fine: the step
        asks again (or takes the store's decision, written in just before resuming).
        """
        for key, entry in state.items():
            result = entry.result
            if isinstance(result, Ok):
                recorded = "approved"
            elif isinstance(result.error, ApprovalRejected):
                recorded = "rejected"
            else:
                continue
            record = await self.approvals.get(key)
            if record is None:
                continue  # not an approval: an ordinary step's result
            if isinstance(result, Ok) and isinstance(record.status, Approved):
                if _same_value(result.value, record.value):
                    continue
                return ApprovalMismatch(key=key, recorded=recorded, stored="approved (other value)")
            if recorded == "rejected" and record.state == "rejected":
                continue
            return ApprovalMismatch(key=key, recorded=recorded, stored=record.state)
        return None

    async def _with_decisions(self, state: ResumeState, pending: tuple[str, ...]) -> ResumeState:
        """Write the decisions made on `pending` approvals into `state`."""
        for key in pending:
            record = await self.approvals.get(key)
            if record is None or record.is_pending:
                continue
            if isinstance(record.status, Approved):
                state = inject_approval(state, key=key, value=record.status.value)
            else:
                state = inject_rejection(state, key=key, reason=record.reason)
        return state

    @asynccontextmanager
    async def _exclusive(self, run_id: str) -> AsyncGenerator[None]:
        """Hold the run's lock; the lock is dropped when no one holds or awaits it."""
        entry = self._locks.get(run_id)
        if entry is None:
            entry = self._locks[run_id] = _RunLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[run_id]


@dataclass
class _RunLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


def _same_value(recorded: object, stored: object) -> bool:
    """Equal, or equal once encoded (NaN, and values that compare by identity)."""
    if recorded is stored or recorded == stored:
        return True
    try:
        return encode_value(recorded) == encode_value(stored)
    except SerializationError:
        return False


def _positive_finite(seconds: object) -> bool:
    return (
        isinstance(seconds, int | float)
        and not isinstance(seconds, bool)
        and math.isfinite(seconds)
        and seconds > 0
    )


def _name_of(wf: Runnable) -> str:
    if isinstance(wf, Workflow):
        return wf.name
    return str(getattr(wf, "__qualname__", None) or repr(wf))


def _fan_out(
    collector: HITLCollector, *sinks: EventSink | None
) -> Callable[[WorkflowEvent, object], Awaitable[None]]:
    """One `on_event` sink feeding the collector first, then the other sinks."""
    others = [sink for sink in sinks if sink is not None]

    async def sink(event: WorkflowEvent, ctx: object) -> None:
        collector.handle_event(event, ctx)
        for other in others:
            outcome = other(event, ctx)
            if inspect.isawaitable(outcome):
                await outcome

    return sink
