"""OpenTelemetry for resultflow runs (the `otel` extra: `pip install 'resultflow[otel]'`).

- `OTelAdapter`: an `on_event` sink that records spans (`workflow <name>`,
  `scope <kind>`, `step <name>`) and metrics (`resultflow.step.duration`, ...).
- `traced(tracer, name)`: a user span around a run, so the run joins the caller's trace.
- `trace_carrier()` / `continue_trace(carrier)`: carry a trace across processes.
- `Metrics` / `StepDuration`: the in-memory summary `OTelAdapter.metrics()` returns.

Only `opentelemetry-api` is needed at run time; configure the SDK (or any other
implementation) in your application.
"""

from __future__ import annotations

try:
    from opentelemetry import metrics as _otel_metrics
    from opentelemetry import trace as _otel_trace
except ImportError as missing:  # tested by hiding the module in sys.modules
    raise ImportError(
        "resultflow.otel needs the OpenTelemetry API, which is not installed: "
        "pip install 'resultflow[otel]'"
    ) from missing
from resultflow.otel import attributes
from resultflow.otel._adapter import INSTRUMENTATION_SCOPE, OTelAdapter, describe_error
from resultflow.otel._metrics import Metrics, StepDuration
from resultflow.otel._tracing import continue_trace, trace_carrier, traced

__all__ = [
    "INSTRUMENTATION_SCOPE",
    "Metrics",
    "OTelAdapter",
    "StepDuration",
    "attributes",
    "continue_trace",
    "describe_error",
    "trace_carrier",
    "traced",
]

del _otel_metrics, _otel_trace  # only imported to check that the API is installed
