"""Joining a caller's trace: `traced`, and W3C trace context carriers.

`OTelAdapter` parents a run's workflow span on the OpenTelemetry context that is
current when the run starts. `traced` makes a user span current around a `run`, so the
whole run lands in the caller's trace. OpenTelemetry keeps the current context in
`contextvars`, which follow `await` and are copied into tasks, so a sync `with` around
`await run(...)` is enough.

`trace_carrier()` and `continue_trace(carrier)` move that context across a process
boundary (a queue, a durable execution's row) as W3C `traceparent` headers.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.trace import Span, Tracer
from opentelemetry.util.types import AttributeValue

__all__ = ["continue_trace", "trace_carrier", "traced"]


@contextmanager
def traced(
    tracer: Tracer, name: str, attributes: Mapping[str, AttributeValue] | None = None
) -> Generator[Span]:
    """Start the span `name` and make it current until the block ends.

    Workflow spans that `OTelAdapter` starts inside the block become its children, so a
    run joins the caller's trace. An exception leaving the block is recorded on the span
    and sets its status to ERROR (OpenTelemetry's default).

    ```python
    with traced(tracer, "checkout request", {"order.id": order_id}):
        result = await run(checkout, order_id, on_event=adapter.handle_event)
    ```
    """
    with tracer.start_as_current_span(name, attributes=attributes) as span:
        yield span


def trace_carrier() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, maybe `tracestate`).

    Store it next to work handed to another process; that process resumes the trace
    with `continue_trace(carrier)`. Empty when no span is current. Uses the globally
    configured propagator (W3C trace context and baggage unless configured otherwise).
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def continue_trace(carrier: Mapping[str, str]) -> Generator[None]:
    """Make the trace context stored in `carrier` current until the block ends.

    Runs started in the block get workflow spans parented on the span that produced
    the carrier, so one trace spans the client and the workers. A carrier without a
    valid `traceparent` leaves the current context as it is.
    """
    extracted = propagate.extract(dict(carrier), context=otel_context.get_current())
    token = otel_context.attach(extracted)
    try:
        yield
    finally:
        otel_context.detach(token)
