"""`OTelAdapter`: turns the events of resultflow runs into OpenTelemetry spans and metrics.

Pass `adapter.handle_event` as a run's `on_event` sink. Each run gets a `workflow <name>`
span, each executed step a `step <label>` span and each concurrent scope a
`scope <name>` span (`scope <kind>` when the scope has no name). A step that retries
also gets one `attempt <n>` child span per attempt, with the attempt's own duration
and error. Parents come from the ids the events carry (`parent_id` is the
enclosing scope, else the workflow), never from whichever span happens to be current,
so steps running concurrently nest correctly. Span start and end times are the events'
`ts`, so spans follow the run's clock (a `TestClock` gives virtual times).

While a workflow, scope or step span is open it is also made the current OpenTelemetry
span in the task that emitted its start event, so spans your own code creates inside a
step (an instrumented HTTP client, a database driver) become children of that step, and
a run started inside another run's step nests under it. A workflow span's parent is the
context current when the run starts: a `traced` block, `continue_trace`, or nothing.

Per-run state is keyed by `workflow_id` and dropped when the run ends; spans still open
then (a step abandoned by a crash) are ended with `resultflow.step.aborted=true`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from contextvars import Token

from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from resultflow._version import __version__
from resultflow.errors import TaggedError, UnexpectedError
from resultflow.events import (
    ApprovalAwaited,
    ApprovalDenied,
    ApprovalGranted,
    CompensationFailed,
    CompensationStarted,
    CompensationSucceeded,
    ScopeEnded,
    ScopeStarted,
    StepAborted,
    StepCacheHit,
    StepCacheMiss,
    StepEventBase,
    StepFailed,
    StepRetrying,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
    WorkflowCancelled,
    WorkflowEvent,
    WorkflowFailed,
    WorkflowStarted,
    WorkflowSucceeded,
)
from resultflow.otel import attributes as attr
from resultflow.otel._metrics import DEFAULT_MAX_STEP_DURATIONS, Metrics, MetricsRecorder

__all__ = ["OTelAdapter", "describe_error"]

INSTRUMENTATION_SCOPE = "resultflow"
"""The name of the tracer and the meter the adapter uses."""

Attributes = dict[str, AttributeValue]


class OTelAdapter:
    """An `on_event` sink that records runs as OpenTelemetry spans and metrics.

    ```python
    adapter = OTelAdapter(tracer_provider=provider, service_name="checkout")
    result = await run(checkout, order_id, on_event=adapter.handle_event)
    ```

    Providers default to the global ones (`trace.set_tracer_provider`, ...), looked up
    lazily, so an adapter made before the SDK is configured still reports to it.

    - `step_spans=False`: only workflow spans; step-level span events (retries, cache
      hits, timeouts) then go on the workflow span and carry the step's id and name.
    - `record_metrics=False`: no OpenTelemetry instruments (the in-memory tally that
      `metrics()` returns is still kept).
    - `record_retries=False`: no `resultflow.retry` span events.
    - `mark_errors=False`: Err results leave span statuses unset and add no error
      attributes.
    - `service_name` becomes the `service.name` attribute; `attributes` are added to
      every span and metric point.
    - `max_step_durations`: how many of the latest step durations `metrics()` keeps
      (None: all of them; the counts always cover every step).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        *,
        service_name: str | None = None,
        step_spans: bool = True,
        record_metrics: bool = True,
        record_retries: bool = True,
        mark_errors: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        max_step_durations: int | None = DEFAULT_MAX_STEP_DURATIONS,
    ) -> None:
        base: Attributes = dict(attributes or {})
        if service_name is not None:
            base[attr.SERVICE_NAME] = service_name
        self._base = base
        self._tracer = trace.get_tracer(
            INSTRUMENTATION_SCOPE, __version__, tracer_provider=tracer_provider
        )
        meter = (
            otel_metrics.get_meter(INSTRUMENTATION_SCOPE, __version__, meter_provider)
            if record_metrics
            else None
        )
        self._metrics = MetricsRecorder(meter, base, max_step_durations=max_step_durations)
        self._step_spans = step_spans
        self._record_retries = record_retries
        self._mark_errors = mark_errors
        self._runs: dict[str, _RunTrace] = {}
        self._lock = threading.Lock()

    # -- public API -------------------------------------------------------------------
    def handle_event(self, event: WorkflowEvent, ctx: object = None) -> None:
        """Record one event of a run (the `on_event` sink; `ctx` is not used)."""
        with self._lock:
            self._dispatch(event)

    def metrics(self) -> Metrics:
        """What this adapter has counted so far: step durations, retries, errors, cache."""
        return self._metrics.snapshot()

    def reset_metrics(self) -> None:
        """Forget the in-memory tally behind `metrics()`."""
        self._metrics.reset()

    @property
    def open_runs(self) -> int:
        """How many runs have a workflow span still open (0 once every run has ended)."""
        with self._lock:
            return len(self._runs)

    # -- dispatch ---------------------------------------------------------------------
    def _dispatch(self, event: WorkflowEvent) -> None:
        match event:
            case WorkflowStarted():
                self._workflow_started(event)
            case WorkflowSucceeded():
                self._workflow_ended(event, "ok", None)
            case WorkflowFailed():
                self._workflow_ended(event, "error", event.error)
            case WorkflowCancelled():
                self._workflow_ended(event, "cancelled", None)
            case StepStarted():
                self._step_started(event)
            case StepSucceeded():
                self._step_ended(event, None)
            case StepFailed():
                self._step_ended(event, event.error)
            case StepAborted():
                self._step_aborted(event)
            case StepRetrying():
                self._step_retrying(event)
            case StepTimedOut():
                self._step_timed_out(event)
            case StepCacheHit():
                self._cache_hit(event)
            case StepCacheMiss():
                run = self._runs.get(event.workflow_id)
                self._metrics.cache_miss(step_name=event.name, workflow_name=_name_of(run))
            case StepSkipped():
                self._step_skipped(event)
            case ScopeStarted():
                self._scope_started(event)
            case ScopeEnded():
                self._scope_ended(event)
            case CompensationStarted() | CompensationSucceeded() | CompensationFailed():
                self._compensation(event)
            case ApprovalAwaited() | ApprovalGranted() | ApprovalDenied():
                self._approval(event)
            case _:
                pass  # hooks and step_complete add nothing to the trace

    # -- workflows --------------------------------------------------------------------
    def _workflow_started(self, event: WorkflowStarted) -> None:
        stale = self._runs.pop(event.workflow_id, None)
        if stale is not None:  # the same workflow_id started again before it ended
            self._close_run(stale, event.ts, "restarted")
        name = event.name
        common: Attributes = {**self._base, attr.WORKFLOW_ID: event.workflow_id}
        if name is not None:
            common[attr.WORKFLOW_NAME] = name
        # No explicit parent: the context current now (traced(), continue_trace(), an
        # enclosing step of another run) is the parent, or the span starts a new trace.
        span = self._tracer.start_span(
            f"workflow {name}" if name else "workflow",
            attributes=common,
            start_time=_ns(event.ts),
        )
        self._runs[event.workflow_id] = _RunTrace(name, common, _enter(span, event.ts))

    def _workflow_ended(
        self,
        event: WorkflowSucceeded | WorkflowFailed | WorkflowCancelled,
        outcome: str,
        error: object,
    ) -> None:
        run = self._runs.pop(event.workflow_id, None)
        self._metrics.workflow_finished(
            event.duration_s, workflow_name=_name_of(run), outcome=outcome
        )
        if run is None:
            return
        root = run.root.span
        if self._mark_errors and outcome == "error":
            already_recorded = any(seen is error for seen in run.recorded)
            _mark_error(root, error, event.ts, record_exception=not already_recorded)
        elif self._mark_errors and outcome == "cancelled":
            root.set_attribute(attr.ERROR_TYPE, "cancelled")
            root.set_status(Status(StatusCode.ERROR, "cancelled"))
        self._close_run(run, event.ts, "workflow ended")

    def _close_run(self, run: _RunTrace, ts: float, reason: str) -> None:
        # Children were opened after their parents: end the newest first.
        for leftover in reversed(list(run.spans.values())):
            leftover.span.set_attributes({attr.STEP_ABORTED: True, attr.STEP_ABORT_REASON: reason})
            leftover.span.end(end_time=_ns(ts))
        run.spans.clear()
        _leave(run.root, ts)

    # -- steps ------------------------------------------------------------------------
    def _step_started(self, event: StepStarted) -> None:
        run = self._runs.get(event.workflow_id)
        if run is None or not self._step_spans:
            return
        label = _label(event)
        attributes = {
            **run.common,
            attr.STEP_ID: event.step_id,
            attr.STEP_NAME: label,
            attr.STEP_ATTEMPT: 1,
        }
        if event.key is not None:
            attributes[attr.STEP_KEY] = event.key
        if event.note is not None:
            attributes[attr.STEP_NOTE] = event.note
        span = self._tracer.start_span(
            f"step {label}",
            context=run.parent_context(event.parent_id),
            attributes=attributes,
            start_time=_ns(event.ts),
        )
        run.spans[event.step_id] = _enter(span, event.ts)

    def _step_ended(self, event: StepSucceeded | StepFailed, error: object) -> None:
        run = self._runs.get(event.workflow_id)
        failed = isinstance(event, StepFailed)
        self._metrics.step_finished(
            _label(event),
            event.duration_s,
            step_name=event.name,
            workflow_name=_name_of(run),
            error_tag=describe_error(error)[0] if failed else None,
        )
        if run is None:
            return
        attempt = run.spans.pop(_attempt_slot(event.step_id), None)
        if attempt is not None:  # the last attempt of a retried step ends with it
            if failed and self._mark_errors:
                # The step span records the exception; the attempt keeps status and tags.
                _mark_error(attempt.span, error, event.ts, record_exception=False)
            _leave(attempt, event.ts)
        opened = run.spans.pop(event.step_id, None)
        if opened is None:
            return
        if failed and self._mark_errors:
            _mark_error(opened.span, error, event.ts, record_exception=True)
            run.recorded.append(error)
        _leave(opened, event.ts)

    def _step_aborted(self, event: StepAborted) -> None:
        run = self._runs.get(event.workflow_id)
        if run is None:
            return
        aborted: Attributes = {
            attr.STEP_ABORTED: True,
            attr.STEP_ABORT_REASON: event.reason or "aborted",
        }
        for slot in (_attempt_slot(event.step_id), event.step_id):
            opened = run.spans.pop(slot, None)
            if opened is not None:
                opened.span.set_attributes(aborted)
                _leave(opened, event.ts)

    def _step_retrying(self, event: StepRetrying) -> None:
        run = self._runs.get(event.workflow_id)
        self._metrics.retried(step_name=event.name, workflow_name=_name_of(run))
        if run is None:
            return
        step_span = run.spans.get(event.step_id)
        if step_span is not None:
            step_span.span.set_attribute(attr.STEP_ATTEMPT, event.attempt)
            self._next_attempt(run, event, step_span)
        if not self._record_retries:
            return
        details: Attributes = {
            attr.STEP_ATTEMPT: event.attempt,
            attr.RETRY_DELAY_S: event.delay_s,
            attr.ERROR_TAG: describe_error(event.error)[0],
        }
        self._step_event(run, event, attr.RETRY_EVENT, details)

    def _next_attempt(self, run: _RunTrace, event: StepRetrying, step_span: _OpenSpan) -> None:
        """End the failed attempt's span and open the next one (after the delay).

        Attempt spans exist only for steps that retry: the first retry opens the span of
        attempt 1 after the fact, from the step's start to the failure.
        """
        slot = _attempt_slot(event.step_id)
        failed = run.spans.pop(slot, None)
        if failed is None:
            failed = _OpenSpan(
                self._attempt_span(run, event, step_span, event.attempt - 1, step_span.started),
                None,
                None,
                step_span.started,
            )
        if self._mark_errors:
            _mark_error(failed.span, event.error, event.ts, record_exception=True)
            run.recorded.append(event.error)
        _leave(failed, event.ts)
        starts = event.ts + event.delay_s
        span = self._attempt_span(run, event, step_span, event.attempt, starts)
        run.spans[slot] = _enter(span, starts)

    def _attempt_span(
        self,
        run: _RunTrace,
        event: StepRetrying,
        step_span: _OpenSpan,
        attempt: int,
        starts: float,
    ) -> Span:
        attributes = {
            **run.common,
            attr.STEP_ID: event.step_id,
            attr.STEP_NAME: _label(event),
            attr.STEP_ATTEMPT: attempt,
        }
        if event.key is not None:
            attributes[attr.STEP_KEY] = event.key
        return self._tracer.start_span(
            f"attempt {attempt}",
            context=trace.set_span_in_context(step_span.span),
            attributes=attributes,
            start_time=_ns(starts),
        )

    def _step_timed_out(self, event: StepTimedOut) -> None:
        run = self._runs.get(event.workflow_id)
        if run is not None:
            details: Attributes = {attr.TIMEOUT_S: event.seconds, attr.STEP_ATTEMPT: event.attempt}
            self._step_event(run, event, attr.TIMEOUT_EVENT, details)

    def _cache_hit(self, event: StepCacheHit) -> None:
        run = self._runs.get(event.workflow_id)
        self._metrics.cache_hit(step_name=event.name, workflow_name=_name_of(run))
        if run is not None:  # the step did not execute: no span of its own
            self._step_event(run, event, attr.CACHE_HIT_EVENT, {attr.CACHE_HIT: True})

    def _step_skipped(self, event: StepSkipped) -> None:
        run = self._runs.get(event.workflow_id)
        if run is not None:
            details: Attributes = {attr.SKIP_REASON: event.reason or ""}
            self._step_event(run, event, attr.SKIPPED_EVENT, details)

    def _step_event(
        self, run: _RunTrace, event: StepEventBase, name: str, details: Attributes
    ) -> None:
        """Add a span event to the step's span, else to its scope's or the run's span."""
        opened = run.spans.get(event.step_id)
        if opened is None:
            details = {**details, attr.STEP_ID: event.step_id, attr.STEP_NAME: _label(event)}
            if event.key is not None:
                details[attr.STEP_KEY] = event.key
            opened = run.spans.get(event.parent_id or "") or run.root
        opened.span.add_event(name, details, timestamp=_ns(event.ts))

    # -- scopes, compensations, approvals ---------------------------------------------
    def _scope_started(self, event: ScopeStarted) -> None:
        run = self._runs.get(event.workflow_id)
        if run is None or not self._step_spans:
            return
        attributes = {**run.common, attr.SCOPE_ID: event.scope_id, attr.SCOPE_KIND: event.kind}
        if event.name is not None:
            attributes[attr.SCOPE_NAME] = event.name
        span = self._tracer.start_span(
            f"scope {event.name or event.kind}",
            context=run.parent_context(event.parent_id),
            attributes=attributes,
            start_time=_ns(event.ts),
        )
        run.spans[event.scope_id] = _enter(span, event.ts)

    def _scope_ended(self, event: ScopeEnded) -> None:
        run = self._runs.get(event.workflow_id)
        opened = None if run is None else run.spans.pop(event.scope_id, None)
        if opened is None:
            return
        if not event.ok and self._mark_errors:
            label = f"{event.kind} {event.name}" if event.name else event.kind
            opened.span.set_status(Status(StatusCode.ERROR, f"scope {label} failed"))
        _leave(opened, event.ts)

    def _compensation(
        self, event: CompensationStarted | CompensationSucceeded | CompensationFailed
    ) -> None:
        run = self._runs.get(event.workflow_id)
        if run is None or not self._step_spans:
            return
        slot = f"compensation:{event.step_id or event.name}"
        if isinstance(event, CompensationStarted):
            attributes = {**run.common, attr.STEP_NAME: event.name}
            if event.step_id is not None:
                attributes[attr.STEP_ID] = event.step_id
            span = self._tracer.start_span(
                f"compensate {event.name}",
                context=run.parent_context(None),
                attributes=attributes,
                start_time=_ns(event.ts),
            )
            run.spans[slot] = _enter(span, event.ts)
            return
        opened = run.spans.pop(slot, None)
        if opened is None:
            return
        if isinstance(event, CompensationFailed) and self._mark_errors:
            _mark_error(opened.span, event.error, event.ts, record_exception=True)
        _leave(opened, event.ts)

    def _approval(self, event: ApprovalAwaited | ApprovalGranted | ApprovalDenied) -> None:
        run = self._runs.get(event.workflow_id)
        if run is None:
            return
        details: Attributes = {attr.APPROVAL_KEY: event.key}
        if not isinstance(event, ApprovalGranted) and event.reason is not None:
            details[attr.APPROVAL_REASON] = event.reason
        run.root.span.add_event(f"resultflow.{event.type}", details, timestamp=_ns(event.ts))


def describe_error(error: object) -> tuple[str, str, str]:
    """`(tag, message, error.type)` of an error value, as the adapter records them.

    A `TaggedError` gives its `tag` and `message`; its `error.type` is the tag, except
    for an `UnexpectedError`, whose `error.type` is the exception's type. Any other
    value gives its type name, `str(value)` and its (qualified, for exceptions) type.
    """
    if isinstance(error, UnexpectedError):
        return error.tag, error.message, error.exception_type
    if isinstance(error, TaggedError):
        return error.tag, error.message, error.tag
    kind = type(error)
    if isinstance(error, BaseException) and kind.__module__ != "builtins":
        return kind.__name__, str(error), f"{kind.__module__}.{kind.__qualname__}"
    return kind.__name__, str(error), kind.__qualname__


# -- run state ----------------------------------------------------------------------
class _OpenSpan:
    """A span the adapter started, with the context token that made it current.

    `token` is None for a span that was never made current (a past attempt's span).
    """

    __slots__ = ("owner", "span", "started", "token")

    def __init__(
        self, span: Span, token: Token[Context] | None, owner: object, started: float
    ) -> None:
        self.span = span
        self.token = token
        self.owner = owner
        self.started = started


class _RunTrace:
    """The open spans of one run, keyed by step and scope ids."""

    __slots__ = ("common", "name", "recorded", "root", "spans")

    def __init__(self, name: str | None, common: Attributes, root: _OpenSpan) -> None:
        self.name = name
        self.common = common
        self.root = root
        self.spans: dict[str, _OpenSpan] = {}
        # Errors whose exception a step span already recorded, so the workflow span
        # does not record the same exception a second time.
        self.recorded: list[object] = []

    def parent_context(self, parent_id: str | None) -> Context:
        """A context holding the span of scope `parent_id`, else the workflow span."""
        parent = self.spans.get(parent_id) if parent_id is not None else None
        return trace.set_span_in_context((parent or self.root).span)


def _enter(span: Span, started: float) -> _OpenSpan:
    """Make `span` current in this task (or thread) and remember how to undo that."""
    token = otel_context.attach(trace.set_span_in_context(span))
    return _OpenSpan(span, token, _owner(), started)


def _leave(opened: _OpenSpan, ts: float) -> None:
    """End the span; restore the previous context if this is the task that set it.

    An end event emitted from another task (a listener that re-dispatches events, for
    example) cannot reset a context variable of the task that set it; that task's
    context then simply ends with it.
    """
    if opened.token is not None and opened.owner == _owner():
        otel_context.detach(opened.token)
    opened.span.end(end_time=_ns(ts))


def _owner() -> object:
    """The asyncio task running now, else the thread (for `run_sync`)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running event loop
        task = None
    return task if task is not None else threading.get_ident()


def _attempt_slot(step_id: str) -> str:
    """Where a retried step's current attempt span is kept among the run's spans."""
    return f"{step_id}#attempt"


def _label(event: StepEventBase) -> str:
    return event.name or event.key or event.step_id


def _name_of(run: _RunTrace | None) -> str | None:
    return None if run is None else run.name


def _ns(ts: float) -> int:
    return int(ts * 1_000_000_000)


def _mark_error(span: Span, error: object, ts: float, *, record_exception: bool) -> None:
    tag, message, error_type = describe_error(error)
    span.set_attributes(
        {attr.ERROR_TAG: tag, attr.ERROR_MESSAGE: message, attr.ERROR_TYPE: error_type}
    )
    # "StepTimeout: StepTimeout(name=..., ...)" says the tag twice: a message that
    # already starts with the tag (a default message) stands alone.
    description = message if message.startswith(tag) else f"{tag}: {message}"
    span.set_status(Status(StatusCode.ERROR, description))
    if record_exception and isinstance(error, UnexpectedError):
        cause = error.cause
        if isinstance(cause, BaseException):
            span.record_exception(cause, timestamp=_ns(ts))
        else:  # a deserialized error: only the description survived
            span.add_event(
                "exception",
                {"exception.type": error.exception_type, "exception.message": error.message},
                timestamp=_ns(ts),
            )
