"""Step and workflow metrics: OpenTelemetry instruments plus an in-memory summary.

`MetricsRecorder` is the half of `OTelAdapter` that counts. It records each
measurement twice: on the OpenTelemetry instruments (when a meter is given) and in a
small in-memory tally that `OTelAdapter.metrics()` returns as a `Metrics` value, handy
in tests and in a REPL where no metrics pipeline is configured. The tally keeps the
counts of everything but only the latest `max_step_durations` step durations, so an
adapter living as long as a service does not grow without bound.

Metric points carry low-cardinality attributes only: the workflow's name, the step's
`name` (never its key, which is usually per entity, such as `user:42`), the outcome and
the error tag. The workflow id is on spans, not on metrics.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.metrics import Counter, Histogram, Meter
from opentelemetry.util.types import AttributeValue

from resultflow.otel import attributes as attr

__all__ = ["DEFAULT_MAX_STEP_DURATIONS", "Metrics", "MetricsRecorder", "StepDuration"]

DEFAULT_MAX_STEP_DURATIONS = 10_000
"""How many of the latest step durations `OTelAdapter.metrics()` keeps by default."""

# Seconds-scaled buckets (the SDK default is scaled for milliseconds).
DURATION_BUCKETS_S: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    30.0,
    60.0,
    300.0,
)


@dataclass(frozen=True, slots=True)
class StepDuration:
    """How long one executed step took; `name` is its name, else its key, else its id."""

    name: str
    duration_s: float
    ok: bool


@dataclass(frozen=True, slots=True)
class Metrics:
    """A snapshot of what an `OTelAdapter` has counted since it was made (or reset).

    The counts cover every step; `step_durations` holds the latest steps only (at most
    the adapter's `max_step_durations`), oldest first.
    """

    step_durations: list[StepDuration]
    retry_count: int
    error_count: int
    cache_hits: int
    cache_misses: int


class _Instruments:
    """The adapter's instruments on one meter."""

    __slots__ = (
        "cache_hits",
        "cache_misses",
        "step_duration",
        "step_errors",
        "step_retries",
        "workflow_duration",
    )

    def __init__(self, meter: Meter) -> None:
        self.step_duration: Histogram = meter.create_histogram(
            "resultflow.step.duration",
            unit="s",
            description="Duration of executed workflow steps (retries and waits included).",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
        )
        self.step_errors: Counter = meter.create_counter(
            "resultflow.step.errors", unit="{error}", description="Steps that ended with an Err."
        )
        self.step_retries: Counter = meter.create_counter(
            "resultflow.step.retries", unit="{retry}", description="Step retries scheduled."
        )
        self.cache_hits: Counter = meter.create_counter(
            "resultflow.cache.hits", unit="{hit}", description="Keyed steps answered from cache."
        )
        self.cache_misses: Counter = meter.create_counter(
            "resultflow.cache.misses", unit="{miss}", description="Keyed steps not in the cache."
        )
        self.workflow_duration: Histogram = meter.create_histogram(
            "resultflow.workflow.duration",
            unit="s",
            description="Duration of workflow runs.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
        )


# Instruments are created once per meter, however many adapters share that meter.
_INSTRUMENTS: weakref.WeakKeyDictionary[Meter, _Instruments] = weakref.WeakKeyDictionary()
_INSTRUMENTS_LOCK = threading.Lock()


def instruments_for(meter: Meter) -> _Instruments:
    """The adapter's instruments on `meter`, created on first use."""
    with _INSTRUMENTS_LOCK:
        found = _INSTRUMENTS.get(meter)
        if found is None:
            found = _INSTRUMENTS[meter] = _Instruments(meter)
        return found


class MetricsRecorder:
    """Records step and workflow measurements on instruments and in memory."""

    __slots__ = (
        "_base",
        "_cache_hits",
        "_cache_misses",
        "_durations",
        "_errors",
        "_instruments",
        "_lock",
        "_retries",
    )

    def __init__(
        self,
        meter: Meter | None,
        base: Mapping[str, AttributeValue],
        *,
        max_step_durations: int | None = DEFAULT_MAX_STEP_DURATIONS,
    ) -> None:
        if max_step_durations is not None and max_step_durations < 0:
            raise ValueError(f"max_step_durations must be >= 0 or None, not {max_step_durations}")
        self._instruments = None if meter is None else instruments_for(meter)
        self._base = dict(base)
        self._lock = threading.Lock()
        self._durations: deque[StepDuration] = deque(maxlen=max_step_durations)
        self._retries = 0
        self._errors = 0
        self._cache_hits = 0
        self._cache_misses = 0

    def step_finished(
        self,
        label: str,
        duration_s: float,
        *,
        step_name: str | None,
        workflow_name: str | None,
        error_tag: str | None,
    ) -> None:
        """An executed step ended: Ok when `error_tag` is None, else Err with that tag."""
        ok = error_tag is None
        with self._lock:
            self._durations.append(StepDuration(label, duration_s, ok))
            if not ok:
                self._errors += 1
        if self._instruments is None:
            return
        points = self._attributes(workflow_name, step_name)
        points[attr.STEP_OUTCOME] = "ok" if ok else "error"
        self._instruments.step_duration.record(duration_s, points)
        if error_tag is not None:
            del points[attr.STEP_OUTCOME]
            points[attr.ERROR_TAG] = error_tag
            self._instruments.step_errors.add(1, points)

    def retried(self, *, step_name: str | None, workflow_name: str | None) -> None:
        """A step failed and will be tried again."""
        with self._lock:
            self._retries += 1
        if self._instruments is not None:
            points = self._attributes(workflow_name, step_name)
            self._instruments.step_retries.add(1, points)

    def cache_hit(self, *, step_name: str | None, workflow_name: str | None) -> None:
        """A keyed step was answered from the cache."""
        with self._lock:
            self._cache_hits += 1
        if self._instruments is not None:
            points = self._attributes(workflow_name, step_name)
            self._instruments.cache_hits.add(1, points)

    def cache_miss(self, *, step_name: str | None, workflow_name: str | None) -> None:
        """A keyed step was looked up in the cache and not found."""
        with self._lock:
            self._cache_misses += 1
        if self._instruments is not None:
            points = self._attributes(workflow_name, step_name)
            self._instruments.cache_misses.add(1, points)

    def workflow_finished(
        self, duration_s: float, *, workflow_name: str | None, outcome: str
    ) -> None:
        """A run ended with `outcome` (`ok`, `error` or `cancelled`)."""
        if self._instruments is not None:
            points = self._attributes(workflow_name, None)
            points[attr.WORKFLOW_OUTCOME] = outcome
            self._instruments.workflow_duration.record(duration_s, points)

    def snapshot(self) -> Metrics:
        """The in-memory tally as a `Metrics` value (a copy)."""
        with self._lock:
            return Metrics(
                step_durations=list(self._durations),
                retry_count=self._retries,
                error_count=self._errors,
                cache_hits=self._cache_hits,
                cache_misses=self._cache_misses,
            )

    def reset(self) -> None:
        """Forget the in-memory tally (the OpenTelemetry instruments keep their sums)."""
        with self._lock:
            self._durations.clear()
            self._retries = self._errors = self._cache_hits = self._cache_misses = 0

    def _attributes(
        self, workflow_name: str | None, step_name: str | None
    ) -> dict[str, AttributeValue]:
        points = dict(self._base)
        if workflow_name is not None:
            points[attr.WORKFLOW_NAME] = workflow_name
        if step_name is not None:
            points[attr.STEP_NAME] = step_name
        return points
