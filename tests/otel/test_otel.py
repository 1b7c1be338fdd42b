"""OTelAdapter, traced and the trace carriers, checked with the OpenTelemetry SDK.

Every test drives real runs (or, for events no runner path emits yet, hand-made events)
into an adapter wired to a fresh TracerProvider with an InMemorySpanExporter and a
MeterProvider with an InMemoryMetricReader, then asserts span names, parents, times,
statuses, attributes, span events and metric points.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from resultflow import (
    Err,
    MemoryCache,
    Ok,
    SagaCompensationFailed,
    Step,
    StepTimeout,
    SyncStep,
    TaggedError,
    UnexpectedError,
    run,
    run_sync,
    workflow,
)
from resultflow.events import (
    ApprovalAwaited,
    CompensationFailed,
    CompensationStarted,
    StepStarted,
    StepSucceeded,
    WorkflowStarted,
    WorkflowSucceeded,
)
from resultflow.otel import (
    Metrics,
    OTelAdapter,
    StepDuration,
    continue_trace,
    describe_error,
    trace_carrier,
    traced,
)
from resultflow.otel import attributes as attr
from resultflow.otel._metrics import DEFAULT_MAX_STEP_DURATIONS, instruments_for
from resultflow.reliability._retry import RetryPolicy
from resultflow.saga import SagaStep, run_saga
from resultflow.testing._clock import TestClock

T0 = 1_700_000_000.0  # TestClock's default wall-clock start
NS = 1_000_000_000


class PaymentDeclined(TaggedError):
    """A test error with a tag of its own."""

    tag: ClassVar[str] = "otel_test.PaymentDeclined"
    reason: str


@dataclass
class Telemetry:
    """A fresh SDK pipeline per test (no global providers are touched)."""

    exporter: InMemorySpanExporter
    tracer_provider: TracerProvider
    reader: InMemoryMetricReader
    meter_provider: MeterProvider

    def adapter(self, **options: object) -> OTelAdapter:
        return OTelAdapter(self.tracer_provider, self.meter_provider, **options)  # type: ignore[arg-type]

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, f"{name!r}: {[s.name for s in self.spans()]}"
        return found[0]

    def span_by_id(self, span_id: int) -> ReadableSpan:
        (found,) = [
            s for s in self.spans() if s.context is not None and s.context.span_id == span_id
        ]
        return found

    def parent_name(self, span: ReadableSpan) -> str | None:
        if span.parent is None:
            return None
        by_id = {s.context.span_id: s.name for s in self.spans() if s.context is not None}
        return by_id[span.parent.span_id]

    def points(self, metric: str) -> list[NumberDataPoint | HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        found: list[NumberDataPoint | HistogramDataPoint] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        found.extend(item.data.data_points)  # type: ignore[arg-type]
        return found

    def histogram(self, metric: str) -> list[HistogramDataPoint]:
        found = self.points(metric)
        assert all(isinstance(p, HistogramDataPoint) for p in found)
        return [p for p in found if isinstance(p, HistogramDataPoint)]

    def counter_sum(self, metric: str, **match: object) -> int | float:
        total: int | float = 0
        for point in self.points(metric):
            assert isinstance(point, NumberDataPoint)
            labels = dict(point.attributes or {})
            if all(labels.get(k.replace("__", ".")) == v for k, v in match.items()):
                total += point.value
        return total


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Telemetry(exporter, tracer_provider, reader, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def events_of(span: ReadableSpan, name: str) -> list[dict[str, object]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == name]


def duration_ns(span: ReadableSpan) -> int:
    assert span.start_time is not None and span.end_time is not None
    return span.end_time - span.start_time


def attributes_of(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


# -- the extra ------------------------------------------------------------------------
def test_import_without_the_api_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "resultflow.otel" or name.startswith("resultflow.otel."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"pip install 'resultflow\[otel\]'"):
        importlib.import_module("resultflow.otel")


# -- span tree ------------------------------------------------------------------------
async def test_concurrent_steps_are_children_of_their_scope(otel: Telemetry) -> None:
    clock = TestClock()
    adapter = otel.adapter()

    async def slow(value: int, seconds: float) -> Ok[int]:
        await clock.sleep(seconds)
        return Ok(value)

    async def body(step: Step[str]) -> int:
        first = await step(lambda: slow(1, 0.5), name="load")
        left, right = await step.all(lambda: slow(2, 3.0), lambda: slow(3, 1.0), name="fetch")
        return first + left + right

    result = await run(
        body, on_event=adapter.handle_event, name="body", clock=clock, workflow_id="wf-tree"
    )

    assert result == Ok(6)
    names = sorted(s.name for s in otel.spans())
    # A named scope's span carries the user's name; its kind is an attribute.
    assert names == ["scope fetch", "step fetch[0]", "step fetch[1]", "step load", "workflow body"]
    workflow_span = otel.span("workflow body")
    scope_span = otel.span("scope fetch")
    assert workflow_span.parent is None
    assert otel.parent_name(otel.span("step load")) == "workflow body"
    assert otel.parent_name(scope_span) == "workflow body"
    assert otel.parent_name(otel.span("step fetch[0]")) == "scope fetch"
    assert otel.parent_name(otel.span("step fetch[1]")) == "scope fetch"
    assert {s.context.trace_id for s in otel.spans() if s.context} == {
        workflow_span.context.trace_id if workflow_span.context else 0
    }
    # Times are the run's (virtual) clock: the two fetches overlap inside the scope.
    assert workflow_span.start_time == int(T0 * NS)
    assert workflow_span.end_time == int((T0 + 3.5) * NS)
    assert (scope_span.start_time, scope_span.end_time) == (
        int((T0 + 0.5) * NS),
        int((T0 + 3.5) * NS),
    )
    fast = otel.span("step fetch[1]")
    assert (fast.start_time, fast.end_time) == (int((T0 + 0.5) * NS), int((T0 + 1.5) * NS))
    assert attributes_of(workflow_span) == {
        attr.WORKFLOW_ID: "wf-tree",
        attr.WORKFLOW_NAME: "body",
    }
    assert attributes_of(scope_span)[attr.SCOPE_KIND] == "all"
    assert attributes_of(scope_span)[attr.SCOPE_NAME] == "fetch"
    assert attributes_of(otel.span("step load")) == {
        attr.WORKFLOW_ID: "wf-tree",
        attr.WORKFLOW_NAME: "body",
        attr.STEP_ID: "s1",
        attr.STEP_NAME: "load",
        attr.STEP_ATTEMPT: 1,
    }
    assert all(s.status.status_code is StatusCode.UNSET for s in otel.spans())
    assert adapter.open_runs == 0
    assert not trace.get_current_span().get_span_context().is_valid


async def test_steps_inside_a_steps_op_are_child_spans_of_that_step(otel: Telemetry) -> None:
    adapter = otel.adapter()

    async def body(step: Step[str]) -> int:
        async def checkout() -> Ok[int]:
            price = await step(lambda: Ok(40), name="price")
            (tax,) = await step.all(lambda: Ok(2), name="taxes")
            return Ok(price + tax)

        return await step(checkout, name="checkout")

    assert await run(body, on_event=adapter.handle_event, name="body") == Ok(42)
    assert otel.parent_name(otel.span("step checkout")) == "workflow body"
    assert otel.parent_name(otel.span("step price")) == "step checkout"
    assert otel.parent_name(otel.span("scope taxes")) == "step checkout"
    assert otel.parent_name(otel.span("step taxes[0]")) == "scope taxes"


async def test_one_run_with_parallel_steps_a_retry_a_cache_hit_a_timeout_and_a_failure(
    otel: Telemetry,
) -> None:
    """The whole picture of one run: span tree, statuses, attributes, events, metrics."""
    clock = TestClock()
    adapter = otel.adapter(service_name="shop")
    charges: Iterator[Ok[str] | Err[PaymentDeclined]] = iter(
        [Err(PaymentDeclined(reason="busy")), Ok("ch_1")]
    )
    quote_delays = iter([5.0, 0.5])  # the first attempt outlives its 1 s timeout

    async def fetch(value: int, seconds: float) -> Ok[int]:
        await clock.sleep(seconds)
        return Ok(value)

    async def quote() -> Ok[int]:
        await clock.sleep(next(quote_delays))
        return Ok(12)

    async def body(step: Step[PaymentDeclined | StepTimeout | str]) -> str:
        await step.all(lambda: fetch(1, 0.2), lambda: fetch(2, 0.4), name="load")
        await step(
            lambda: next(charges), retry=RetryPolicy(2, initial=1.0, jitter=False), name="pay"
        )
        await step(lambda: Ok("ann"), key="user:7", name="user")
        await step(lambda: Ok("ann"), key="user:7", name="user")  # a cache hit
        again = RetryPolicy(2, initial=0.1, jitter=False, retry_on_timeout=True)
        await step(quote, timeout=1.0, retry=again, name="quote")
        return await step(Err("out of stock"), name="ship")

    result = await run(
        body, on_event=adapter.handle_event, name="order", clock=clock, cache=MemoryCache()
    )

    assert result == Err("out of stock")
    tree = sorted((otel.parent_name(s) or "", s.name) for s in otel.spans())
    assert tree == [
        ("", "workflow order"),
        ("scope load", "step load[0]"),
        ("scope load", "step load[1]"),
        ("step pay", "attempt 1"),
        ("step pay", "attempt 2"),
        ("step quote", "attempt 1"),
        ("step quote", "attempt 2"),
        ("workflow order", "scope load"),
        ("workflow order", "step pay"),
        ("workflow order", "step quote"),
        ("workflow order", "step ship"),
        ("workflow order", "step user"),
    ]
    statuses = {
        (otel.parent_name(s), s.name): s.status.status_code
        for s in otel.spans()
        if s.name.startswith("attempt")
    }
    assert statuses == {
        ("step pay", "attempt 1"): StatusCode.ERROR,
        ("step pay", "attempt 2"): StatusCode.UNSET,
        ("step quote", "attempt 1"): StatusCode.ERROR,
        ("step quote", "attempt 2"): StatusCode.UNSET,
    }
    statuses = {s.name: s.status.status_code for s in otel.spans() if s.name[:7] != "attempt"}
    assert statuses == {
        "workflow order": StatusCode.ERROR,
        "scope load": StatusCode.UNSET,
        "step load[0]": StatusCode.UNSET,
        "step load[1]": StatusCode.UNSET,
        "step pay": StatusCode.UNSET,
        "step user": StatusCode.UNSET,
        "step quote": StatusCode.UNSET,
        "step ship": StatusCode.ERROR,
    }
    pay, quote_span = otel.span("step pay"), otel.span("step quote")
    assert events_of(pay, attr.RETRY_EVENT) == [
        {attr.STEP_ATTEMPT: 2, attr.RETRY_DELAY_S: 1.0, attr.ERROR_TAG: PaymentDeclined.tag}
    ]
    assert events_of(quote_span, attr.TIMEOUT_EVENT) == [
        {attr.TIMEOUT_S: 1.0, attr.STEP_ATTEMPT: 1}
    ]
    assert [e[attr.ERROR_TAG] for e in events_of(quote_span, attr.RETRY_EVENT)] == ["StepTimeout"]
    assert attributes_of(quote_span)[attr.STEP_ATTEMPT] == 2
    assert duration_ns(quote_span) == int(1.6 * NS)  # 1 s timeout + 0.1 s wait + 0.5 s
    assert events_of(otel.span("workflow order"), attr.CACHE_HIT_EVENT) == [
        {
            attr.CACHE_HIT: True,
            attr.STEP_ID: "s6",
            attr.STEP_NAME: "user",
            attr.STEP_KEY: "user:7",
        }
    ]
    for name in ("step ship", "workflow order"):
        failed = attributes_of(otel.span(name))
        assert (failed[attr.ERROR_TAG], failed[attr.ERROR_MESSAGE], failed[attr.ERROR_TYPE]) == (
            "str",
            "out of stock",
            "str",
        )
    assert all(attributes_of(s)[attr.SERVICE_NAME] == "shop" for s in otel.spans())
    assert otel.span("workflow order").end_time == int((T0 + 0.4 + 1.0 + 1.6) * NS)

    assert otel.counter_sum("resultflow.step.retries") == 2
    assert otel.counter_sum("resultflow.step.errors", resultflow__step__name="ship") == 1
    assert otel.counter_sum("resultflow.cache.hits", resultflow__step__name="user") == 1
    assert otel.counter_sum("resultflow.cache.misses", resultflow__step__name="user") == 1
    durations = {
        dict(p.attributes or {})[attr.STEP_NAME]: (p.count, p.sum)
        for p in otel.histogram("resultflow.step.duration")
    }
    assert durations["load[1]"] == (1, pytest.approx(0.4))
    assert durations["pay"] == (1, pytest.approx(1.0))
    assert durations["quote"] == (1, pytest.approx(1.6))
    (workflow_point,) = otel.histogram("resultflow.workflow.duration")
    assert workflow_point.sum == pytest.approx(3.0)
    assert dict(workflow_point.attributes or {})[attr.WORKFLOW_OUTCOME] == "error"
    assert adapter.metrics().retry_count == 2
    assert adapter.open_runs == 0


async def test_step_span_name_falls_back_to_key_then_id(otel: Telemetry) -> None:
    adapter = otel.adapter()

    async def body(step: Step[str]) -> int:
        a = await step(Ok(1))
        b = await step(lambda: Ok(2), key="user:42")
        return a + b

    assert await run(body, on_event=adapter.handle_event, name="body") == Ok(3)
    assert sorted(s.name for s in otel.spans()) == ["step s1", "step user:42", "workflow body"]
    keyed = attributes_of(otel.span("step user:42"))
    assert keyed[attr.STEP_KEY] == "user:42"
    assert keyed[attr.STEP_NAME] == "user:42"


async def test_a_step_running_once_despite_a_retry_policy_says_so_on_its_span(
    otel: Telemetry,
) -> None:
    from resultflow.reliability import retry_policies

    adapter = otel.adapter()

    async def fetch() -> Ok[int]:
        return Ok(1)

    async def body(step: Step[str]) -> int:
        return await step(fetch(), name="fetch") + await step(fetch, name="callable")

    result = await run(
        body, on_event=adapter.handle_event, name="body", policies=[retry_policies.standard]
    )
    assert result == Ok(2)
    note = attributes_of(otel.span("step fetch"))[attr.STEP_NOTE]
    assert isinstance(note, str) and note.startswith("runs once")
    assert attr.STEP_NOTE not in attributes_of(otel.span("step callable"))


class _Shop:
    @staticmethod
    async def pay(step: Step[str]) -> int:
        return await step(Ok(2))


async def test_workflow_span_name_is_the_workflow_name_else_the_qualname(
    otel: Telemetry,
) -> None:
    adapter = otel.adapter()

    @workflow(name="place-order", on_event=adapter.handle_event)
    async def place(step: Step[str]) -> int:
        return await step(Ok(1), name="one")

    assert await place() == Ok(1)
    assert await run(_Shop.pay, on_event=adapter.handle_event) == Ok(2)
    assert sorted(s.name for s in otel.spans()) == [
        "step one",
        "step s1",
        "workflow _Shop.pay",
        "workflow place-order",
    ]
    assert attributes_of(otel.span("workflow place-order"))[attr.WORKFLOW_NAME] == "place-order"


async def test_aborted_sibling_in_a_failed_scope(otel: Telemetry) -> None:
    clock = TestClock()
    adapter = otel.adapter()

    async def fail_soon() -> Err[str]:
        await clock.sleep(1.0)
        return Err("card expired")

    async def never_done() -> Ok[int]:
        await clock.sleep(60.0)
        return Ok(1)

    async def body(step: Step[str]) -> tuple[object, ...]:
        return await step.all(fail_soon, never_done, name="pay")

    result = await run(body, on_event=adapter.handle_event, name="body", clock=clock)

    assert result == Err("card expired")
    failed, aborted = otel.span("step pay[0]"), otel.span("step pay[1]")
    assert failed.status.status_code is StatusCode.ERROR
    assert attributes_of(failed)[attr.ERROR_TAG] == "str"
    assert attributes_of(failed)[attr.ERROR_MESSAGE] == "card expired"
    assert attributes_of(aborted)[attr.STEP_ABORTED] is True
    assert attributes_of(aborted)[attr.STEP_ABORT_REASON] == "CancelledError"
    assert aborted.end_time == int((T0 + 1.0) * NS)
    assert aborted.status.status_code is StatusCode.UNSET
    scope_span = otel.span("scope pay")
    assert scope_span.status.status_code is StatusCode.ERROR
    assert scope_span.status.description == "scope all pay failed"
    assert otel.span("workflow body").status.status_code is StatusCode.ERROR


# -- retries, cache, timeouts -----------------------------------------------------------
async def test_retries_are_span_events_with_attempt_and_delay(otel: Telemetry) -> None:
    clock = TestClock()
    adapter = otel.adapter()
    calls = 0

    async def flaky() -> Ok[str] | Err[PaymentDeclined]:
        nonlocal calls
        calls += 1
        return Ok("paid") if calls == 3 else Err(PaymentDeclined(reason=f"try {calls}"))

    async def body(step: Step[PaymentDeclined]) -> str:
        policy = RetryPolicy(attempts=3, initial=1.0, jitter=False)
        return await step(flaky, retry=policy, name="charge")

    result = await run(body, on_event=adapter.handle_event, name="body", clock=clock)

    assert result == Ok("paid")
    charge = otel.span("step charge")
    retries = events_of(charge, attr.RETRY_EVENT)
    assert retries == [
        {attr.STEP_ATTEMPT: 2, attr.RETRY_DELAY_S: 1.0, attr.ERROR_TAG: PaymentDeclined.tag},
        {attr.STEP_ATTEMPT: 3, attr.RETRY_DELAY_S: 2.0, attr.ERROR_TAG: PaymentDeclined.tag},
    ]
    assert [e.timestamp for e in charge.events] == [int(T0 * NS), int((T0 + 1.0) * NS)]
    assert attributes_of(charge)[attr.STEP_ATTEMPT] == 3
    assert duration_ns(charge) == 3 * NS
    assert charge.status.status_code is StatusCode.UNSET
    assert adapter.metrics().retry_count == 2
    assert otel.counter_sum("resultflow.step.retries", resultflow__step__name="charge") == 2


async def test_each_retry_attempt_is_a_child_span_with_its_duration_and_error(
    otel: Telemetry,
) -> None:
    clock = TestClock()
    adapter = otel.adapter()
    calls = 0

    async def flaky() -> Ok[str] | Err[PaymentDeclined]:
        nonlocal calls
        calls += 1
        await clock.sleep(0.5)
        return Ok("paid") if calls == 3 else Err(PaymentDeclined(reason=f"try {calls}"))

    async def body(step: Step[PaymentDeclined]) -> str:
        policy = RetryPolicy(attempts=3, initial=1.0, jitter=False)  # waits 1 s, then 2 s
        return await step(flaky, retry=policy, name="charge", key="charge:1")

    result = await run(body, on_event=adapter.handle_event, name="body", clock=clock)

    assert result == Ok("paid")
    charge = otel.span("step charge")
    attempts = sorted(
        (s for s in otel.spans() if s.name.startswith("attempt")), key=lambda s: s.name
    )
    assert [(s.name, otel.parent_name(s)) for s in attempts] == [
        ("attempt 1", "step charge"),
        ("attempt 2", "step charge"),
        ("attempt 3", "step charge"),
    ]
    times = [(s.start_time, s.end_time) for s in attempts]
    assert times == [
        (int(T0 * NS), int((T0 + 0.5) * NS)),
        (int((T0 + 1.5) * NS), int((T0 + 2.0) * NS)),
        (int((T0 + 4.0) * NS), int((T0 + 4.5) * NS)),
    ]
    assert (charge.start_time, charge.end_time) == (int(T0 * NS), int((T0 + 4.5) * NS))
    for number, span in enumerate(attempts, start=1):
        attributes = attributes_of(span)
        assert attributes[attr.STEP_ATTEMPT] == number
        assert (attributes[attr.STEP_NAME], attributes[attr.STEP_KEY]) == ("charge", "charge:1")
    first, second, last = (attributes_of(s) for s in attempts)
    assert [s.status.status_code for s in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert (first[attr.ERROR_TAG], first[attr.ERROR_MESSAGE]) == (
        PaymentDeclined.tag,
        PaymentDeclined(reason="try 1").message,
    )
    assert second[attr.ERROR_MESSAGE] == PaymentDeclined(reason="try 2").message
    assert attr.ERROR_TAG not in last
    # The span events stay, under their documented names.
    assert [e.name for e in charge.events] == ["resultflow.retry", "resultflow.retry"]
    assert charge.status.status_code is StatusCode.UNSET


async def test_a_step_that_does_not_retry_has_no_attempt_spans(otel: Telemetry) -> None:
    clock = TestClock()
    adapter = otel.adapter()

    async def slow() -> Ok[int]:
        await clock.sleep(5.0)
        return Ok(1)

    async def body(step: Step[StepTimeout]) -> int:
        await step(lambda: Ok(1), name="fast", retry=RetryPolicy(attempts=3, jitter=False))
        return await step(slow, name="quote", timeout=1.0)

    result = await run(body, on_event=adapter.handle_event, name="body", clock=clock)

    assert result == Err(StepTimeout(name="quote", seconds=1.0))
    assert sorted(s.name for s in otel.spans()) == ["step fast", "step quote", "workflow body"]
    quote = otel.span("step quote")
    assert [e.name for e in quote.events] == ["resultflow.timeout"]
    # "StepTimeout: StepTimeout(...)" said the tag twice.
    assert quote.status.description == "StepTimeout(name='quote', seconds=1.0)"
    assert otel.span("workflow body").status.description == quote.status.description


async def test_a_scope_without_a_name_is_named_by_its_kind(otel: Telemetry) -> None:
    adapter = otel.adapter()

    async def body(step: Step[str]) -> int:
        (a,) = await step.all(lambda: Ok(1))
        return a

    assert await run(body, on_event=adapter.handle_event, name="body") == Ok(1)
    assert otel.parent_name(otel.span("step s2")) == "scope all"


async def test_service_name_on_the_sdk_resource_is_what_backends_group_by() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    adapter = OTelAdapter(tracer_provider=provider, record_metrics=False)

    async def body(step: Step[str]) -> int:
        return await step(lambda: Ok(1), name="one")

    assert await run(body, on_event=adapter.handle_event, name="body") == Ok(1)
    spans = exporter.get_finished_spans()
    assert {s.resource.attributes["service.name"] for s in spans} == {"checkout"}
    assert all(attr.SERVICE_NAME not in (s.attributes or {}) for s in spans)
    provider.shutdown()


async def test_record_retries_false_keeps_counting(otel: Telemetry) -> None:
    adapter = otel.adapter(record_retries=False)
    outcomes: Iterator[Ok[int] | Err[str]] = iter([Err("x"), Ok(1)])

    async def body(step: Step[str]) -> int:
        policy = RetryPolicy(attempts=2, initial=0.5, jitter=False)
        return await step(lambda: next(outcomes), retry=policy, name="op")

    assert await run(body, on_event=adapter.handle_event, name="body", clock=TestClock()) == Ok(1)
    assert events_of(otel.span("step op"), attr.RETRY_EVENT) == []
    assert attributes_of(otel.span("step op"))[attr.STEP_ATTEMPT] == 2
    assert adapter.metrics().retry_count == 1


async def test_cache_hit_is_a_span_event_on_the_parent(otel: Telemetry) -> None:
    adapter = otel.adapter()
    executions = 0

    async def load() -> Ok[str]:
        nonlocal executions
        executions += 1
        return Ok("alice")

    async def body(step: Step[str]) -> str:
        first = await step(load, key="user:1", name="load user")
        second = await step(load, key="user:1", name="load user")
        return first + second

    result = await run(body, on_event=adapter.handle_event, name="body", cache=MemoryCache())

    assert result == Ok("alicealice")
    assert executions == 1
    assert [s.name for s in otel.spans()].count("step load user") == 1
    hits = events_of(otel.span("workflow body"), attr.CACHE_HIT_EVENT)
    assert hits == [
        {
            attr.CACHE_HIT: True,
            attr.STEP_ID: "s2",
            attr.STEP_NAME: "load user",
            attr.STEP_KEY: "user:1",
        }
    ]
    assert attr.CACHE_HIT == "resultflow.cache_hit"
    metrics = adapter.metrics()
    assert (metrics.cache_hits, metrics.cache_misses) == (1, 1)
    assert otel.counter_sum("resultflow.cache.hits", resultflow__step__name="load user") == 1
    assert otel.counter_sum("resultflow.cache.misses") == 1


async def test_timeout_marks_the_step_and_the_run(otel: Telemetry) -> None:
    clock = TestClock()
    adapter = otel.adapter()

    async def slow() -> Ok[int]:
        await clock.sleep(5.0)
        return Ok(1)

    async def body(step: Step[StepTimeout]) -> int:
        return await step(slow, timeout=1.0, name="slow call")

    result = await run(body, on_event=adapter.handle_event, name="body", clock=clock)

    assert result == Err(StepTimeout(name="slow call", seconds=1.0))
    step_span = otel.span("step slow call")
    assert events_of(step_span, attr.TIMEOUT_EVENT) == [{attr.TIMEOUT_S: 1.0, attr.STEP_ATTEMPT: 1}]
    assert step_span.status.status_code is StatusCode.ERROR
    assert attributes_of(step_span)[attr.ERROR_TAG] == "StepTimeout"
    assert attributes_of(step_span)[attr.ERROR_TYPE] == "StepTimeout"
    assert duration_ns(step_span) == 1 * NS
    workflow_span = otel.span("workflow body")
    assert workflow_span.status.status_code is StatusCode.ERROR
    assert attributes_of(workflow_span)[attr.ERROR_TAG] == "StepTimeout"
    assert adapter.metrics().error_count == 1


# -- errors -----------------------------------------------------------------------------
async def test_err_sets_status_tag_message_and_error_type(otel: Telemetry) -> None:
    adapter = otel.adapter()

    async def body(step: Step[PaymentDeclined]) -> str:
        await step(lambda: Ok("reserved"), name="reserve")
        return await step(lambda: Err(PaymentDeclined(reason="insufficient funds")), name="pay")

    result = await run(body, on_event=adapter.handle_event, name="body")

    assert result == Err(PaymentDeclined(reason="insufficient funds"))
    pay = otel.span("step pay")
    assert pay.status.status_code is StatusCode.ERROR
    message = PaymentDeclined(reason="insufficient funds").message
    # The default message already names the class: the description does not repeat it.
    assert (
        pay.status.description == message == f"{PaymentDeclined.tag}(reason='insufficient funds')"
    )
    assert attributes_of(pay)[attr.ERROR_TAG] == PaymentDeclined.tag
    assert attributes_of(pay)[attr.ERROR_TYPE] == PaymentDeclined.tag
    assert attributes_of(pay)[attr.ERROR_MESSAGE] == message
    assert events_of(pay, "exception") == []  # an Err value is not an exception
    assert otel.span("step reserve").status.status_code is StatusCode.UNSET
    metrics = adapter.metrics()
    assert metrics.error_count == 1
    assert [(d.name, d.ok) for d in metrics.step_durations] == [("reserve", True), ("pay", False)]
    assert (
        otel.counter_sum("resultflow.step.errors", resultflow__error__tag=PaymentDeclined.tag) == 1
    )


async def test_unexpected_error_records_the_exception_once(otel: Telemetry) -> None:
    adapter = otel.adapter()

    def explode() -> Ok[int]:
        raise ValueError("bad payload")

    async def body(step: Step[str]) -> int:
        return await step(explode, name="parse")

    result = await run(body, on_event=adapter.handle_event, name="body")

    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    parse = otel.span("step parse")
    assert attributes_of(parse)[attr.ERROR_TAG] == "UnexpectedError"
    assert attributes_of(parse)[attr.ERROR_TYPE] == "ValueError"
    recorded = events_of(parse, "exception")
    assert len(recorded) == 1
    assert recorded[0]["exception.type"] == "ValueError"
    assert recorded[0]["exception.message"] == "bad payload"
    assert "Traceback" in str(recorded[0]["exception.stacktrace"])
    workflow_span = otel.span("workflow body")
    assert workflow_span.status.status_code is StatusCode.ERROR
    assert attributes_of(workflow_span)[attr.ERROR_TYPE] == "ValueError"
    assert events_of(workflow_span, "exception") == []  # already on the step span


async def test_body_exception_is_recorded_on_the_workflow_span(otel: Telemetry) -> None:
    adapter = otel.adapter()

    async def body(step: Step[str]) -> int:
        raise KeyError("missing")

    result = await run(body, on_event=adapter.handle_event, name="body")

    assert isinstance(result, Err)
    workflow_span = otel.span("workflow body")
    assert [e["exception.type"] for e in events_of(workflow_span, "exception")] == ["KeyError"]
    assert attributes_of(workflow_span)[attr.ERROR_TYPE] == "KeyError"


async def test_mark_errors_false_leaves_statuses_unset(otel: Telemetry) -> None:
    adapter = otel.adapter(mark_errors=False)

    async def body(step: Step[str]) -> int:
        return await step(Err("nope"), name="fail")

    assert await run(body, on_event=adapter.handle_event, name="body") == Err("nope")
    assert all(s.status.status_code is StatusCode.UNSET for s in otel.spans())
    assert attr.ERROR_TAG not in attributes_of(otel.span("step fail"))
    assert adapter.metrics().error_count == 1


def test_describe_error() -> None:
    assert describe_error(PaymentDeclined(reason="r")) == (
        PaymentDeclined.tag,
        PaymentDeclined(reason="r").message,
        PaymentDeclined.tag,
    )
    unexpected = UnexpectedError.from_exception(asyncio.InvalidStateError("x"))
    assert describe_error(unexpected) == (
        "UnexpectedError",
        "x",
        "asyncio.exceptions.InvalidStateError",
    )
    assert describe_error("not found") == ("str", "not found", "str")
    assert describe_error(OSError("disk")) == ("OSError", "disk", "OSError")
    assert describe_error(asyncio.InvalidStateError("y"))[2] == (
        "asyncio.exceptions.InvalidStateError"
    )


# -- context propagation ----------------------------------------------------------------
async def test_traced_joins_the_callers_trace(otel: Telemetry) -> None:
    adapter = otel.adapter()
    tracer = otel.tracer_provider.get_tracer("app")

    async def body(step: Step[str]) -> int:
        return await step(Ok(1), name="one")

    with traced(tracer, "handle request", {"http.route": "/orders"}) as user_span:
        result = await run(body, on_event=adapter.handle_event, name="body")
        assert trace.get_current_span() is user_span

    assert result == Ok(1)
    request = otel.span("handle request")
    workflow_span = otel.span("workflow body")
    assert attributes_of(request) == {"http.route": "/orders"}
    assert request.context is not None and workflow_span.context is not None
    assert workflow_span.context.trace_id == request.context.trace_id
    assert workflow_span.parent is not None
    assert workflow_span.parent.span_id == request.context.span_id
    assert otel.parent_name(otel.span("step one")) == "workflow body"


def test_traced_records_an_escaping_exception(otel: Telemetry) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    with pytest.raises(RuntimeError), traced(tracer, "job"):
        raise RuntimeError("crash")
    job = otel.span("job")
    assert job.status.status_code is StatusCode.ERROR
    assert [e["exception.type"] for e in events_of(job, "exception")] == ["RuntimeError"]


async def test_user_spans_and_nested_runs_inside_a_step_nest_under_it(otel: Telemetry) -> None:
    adapter = otel.adapter()
    tracer = otel.tracer_provider.get_tracer("app")

    async def inner(step: Step[str]) -> int:
        return await step(Ok(2), name="inner step")

    async def query() -> Ok[int] | Err[str | UnexpectedError]:
        with tracer.start_as_current_span("SELECT orders"):
            pass
        return await run(inner, on_event=adapter.handle_event, name="inner")

    async def outer(step: Step[str | UnexpectedError]) -> int:
        with tracer.start_as_current_span("in body"):
            pass
        return await step(query, name="query")

    assert await run(outer, on_event=adapter.handle_event, name="outer") == Ok(2)
    assert otel.parent_name(otel.span("in body")) == "workflow outer"
    assert otel.parent_name(otel.span("SELECT orders")) == "step query"
    assert otel.parent_name(otel.span("workflow inner")) == "step query"
    assert otel.parent_name(otel.span("step inner step")) == "workflow inner"
    assert len({s.context.trace_id for s in otel.spans() if s.context}) == 1
    assert adapter.open_runs == 0


async def test_trace_carrier_continues_a_trace_elsewhere(otel: Telemetry) -> None:
    adapter = otel.adapter()
    tracer = otel.tracer_provider.get_tracer("app")

    async def body(step: Step[str]) -> int:
        return await step(Ok(1), name="work")

    assert trace_carrier() == {}
    with traced(tracer, "enqueue") as client_span:
        carrier = trace_carrier()
    assert set(carrier) >= {"traceparent"}

    with continue_trace(carrier):
        assert await run(body, on_event=adapter.handle_event, name="body") == Ok(1)
    assert not trace.get_current_span().get_span_context().is_valid

    workflow_span = otel.span("workflow body")
    client = client_span.get_span_context()
    assert workflow_span.context is not None and workflow_span.parent is not None
    assert workflow_span.context.trace_id == client.trace_id
    assert workflow_span.parent.span_id == client.span_id


def test_continue_trace_with_an_empty_carrier_keeps_the_current_span(otel: Telemetry) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    with traced(tracer, "outer") as outer, continue_trace({"traceparent": "garbage"}):
        assert trace.get_current_span() is outer


# -- cancellation and leftovers ---------------------------------------------------------
async def test_cancelled_run_ends_its_spans(otel: Telemetry) -> None:
    adapter = otel.adapter()
    started = asyncio.Event()

    async def hang() -> Ok[int]:
        started.set()
        await asyncio.Event().wait()
        return Ok(1)

    async def body(step: Step[str]) -> int:
        return await step(hang, name="hang")

    task = asyncio.ensure_future(run(body, on_event=adapter.handle_event, name="body"))
    await started.wait()
    assert adapter.open_runs == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert adapter.open_runs == 0
    workflow_span = otel.span("workflow body")
    assert workflow_span.status.status_code is StatusCode.ERROR
    assert workflow_span.status.description == "cancelled"
    assert attributes_of(workflow_span)[attr.ERROR_TYPE] == "cancelled"
    assert attributes_of(otel.span("step hang"))[attr.STEP_ABORTED] is True
    assert [p.attributes for p in otel.histogram("resultflow.workflow.duration")] == [
        {attr.WORKFLOW_NAME: "body", attr.WORKFLOW_OUTCOME: "cancelled"}
    ]


def test_steps_open_at_workflow_end_are_ended_as_aborted(otel: Telemetry) -> None:
    adapter = otel.adapter()
    adapter.handle_event(WorkflowStarted(workflow_id="wf-1", ts=10.0, name="manual"))
    adapter.handle_event(StepStarted(workflow_id="wf-1", ts=10.0, step_id="s1", name="left open"))
    adapter.handle_event(WorkflowSucceeded(workflow_id="wf-1", ts=12.0, duration_s=2.0))
    # Events of a run the adapter never saw start are counted but make no spans.
    adapter.handle_event(StepSucceeded(workflow_id="other", ts=1.0, step_id="s1", duration_s=1))

    left_open = otel.span("step left open")
    assert attributes_of(left_open)[attr.STEP_ABORTED] is True
    assert attributes_of(left_open)[attr.STEP_ABORT_REASON] == "workflow ended"
    assert left_open.end_time == 12 * NS
    assert otel.parent_name(left_open) == "workflow manual"
    assert sorted(s.name for s in otel.spans()) == ["step left open", "workflow manual"]
    assert adapter.open_runs == 0
    assert [d.name for d in adapter.metrics().step_durations] == ["s1"]


def test_compensations_and_approvals(otel: Telemetry) -> None:
    adapter = otel.adapter()
    adapter.handle_event(WorkflowStarted(workflow_id="w", ts=1.0, name="saga"))
    adapter.handle_event(CompensationStarted(workflow_id="w", ts=2.0, name="refund", step_id="s3"))
    adapter.handle_event(
        CompensationFailed(
            workflow_id="w", ts=3.0, name="refund", step_id="s3", duration_s=1.0, error="gone"
        )
    )
    adapter.handle_event(ApprovalAwaited(workflow_id="w", ts=4.0, key="manager", reason="big"))
    adapter.handle_event(WorkflowSucceeded(workflow_id="w", ts=5.0, duration_s=4.0))

    refund = otel.span("compensate refund")
    assert otel.parent_name(refund) == "workflow saga"
    assert (refund.start_time, refund.end_time) == (2 * NS, 3 * NS)
    assert refund.status.status_code is StatusCode.ERROR
    assert attributes_of(refund)[attr.STEP_ID] == "s3"
    assert events_of(otel.span("workflow saga"), "resultflow.approval_pending") == [
        {attr.APPROVAL_KEY: "manager", attr.APPROVAL_REASON: "big"}
    ]


# -- options ----------------------------------------------------------------------------
async def test_without_step_spans_step_events_go_on_the_workflow_span(otel: Telemetry) -> None:
    adapter = otel.adapter(step_spans=False)
    outcomes: Iterator[Ok[int] | Err[str]] = iter([Err("x"), Ok(1)])

    async def body(step: Step[str]) -> tuple[object, ...]:
        policy = RetryPolicy(attempts=2, initial=0.5, jitter=False)
        value = await step(lambda: next(outcomes), retry=policy, name="op")
        return (value, *await step.all(Ok(2), Ok(3)))

    assert await run(body, on_event=adapter.handle_event, name="body", clock=TestClock()) == Ok(
        (1, 2, 3)
    )
    assert [s.name for s in otel.spans()] == ["workflow body"]
    assert events_of(otel.span("workflow body"), attr.RETRY_EVENT) == [
        {
            attr.STEP_ATTEMPT: 2,
            attr.RETRY_DELAY_S: 0.5,
            attr.ERROR_TAG: "str",
            attr.STEP_ID: "s1",
            attr.STEP_NAME: "op",
        }
    ]
    assert len(adapter.metrics().step_durations) == 3


async def test_service_name_and_attributes_on_every_span_and_point(otel: Telemetry) -> None:
    adapter = otel.adapter(service_name="checkout", attributes={"deployment.environment": "test"})

    async def body(step: Step[str]) -> tuple[int, int]:
        return await step.all(Ok(1), Ok(2))

    assert await run(body, on_event=adapter.handle_event, name="body") == Ok((1, 2))
    assert len(otel.spans()) == 4
    for span in otel.spans():
        assert attributes_of(span)[attr.SERVICE_NAME] == "checkout"
        assert attributes_of(span)["deployment.environment"] == "test"
    for point in otel.points("resultflow.step.duration"):
        assert dict(point.attributes or {})[attr.SERVICE_NAME] == "checkout"


async def test_record_metrics_false_creates_no_points(otel: Telemetry) -> None:
    adapter = otel.adapter(record_metrics=False)

    async def body(step: Step[str]) -> int:
        return await step(Ok(1), name="one")

    assert await run(body, on_event=adapter.handle_event, name="body", clock=TestClock()) == Ok(1)
    assert otel.points("resultflow.step.duration") == []
    assert otel.points("resultflow.workflow.duration") == []
    assert adapter.metrics().step_durations == [StepDuration("one", 0.0, True)]


# -- metrics ----------------------------------------------------------------------------
async def test_metric_points_and_in_memory_metrics(otel: Telemetry) -> None:
    clock = TestClock()
    adapter = otel.adapter()
    outcomes: Iterator[Ok[str] | Err[PaymentDeclined]] = iter(
        [Err(PaymentDeclined(reason="x")), Ok("paid")]
    )

    async def charge() -> Ok[str] | Err[PaymentDeclined]:
        await clock.sleep(0.25)
        return next(outcomes)

    async def body(step: Step[PaymentDeclined | str]) -> str:
        await step(lambda: Ok(1), key="cart", name="cart")
        await step(lambda: Ok(1), key="cart", name="cart")
        policy = RetryPolicy(attempts=2, initial=1.0, jitter=False)
        paid = await step(charge, retry=policy, name="charge")
        await step(Err("shipping down"), name="ship")
        return paid

    result = await run(
        body, on_event=adapter.handle_event, name="body", cache=MemoryCache(), clock=clock
    )

    assert result == Err("shipping down")
    assert adapter.metrics() == Metrics(
        step_durations=[
            StepDuration("cart", 0.0, True),
            StepDuration("charge", 1.5, True),
            StepDuration("ship", 0.0, False),
        ],
        retry_count=1,
        error_count=1,
        cache_hits=1,
        cache_misses=1,
    )
    durations = {
        dict(p.attributes or {})[attr.STEP_NAME]: p
        for p in otel.histogram("resultflow.step.duration")
    }
    assert set(durations) == {"cart", "charge", "ship"}
    assert (durations["charge"].count, durations["charge"].sum) == (1, 1.5)
    assert dict(durations["charge"].attributes or {}) == {
        attr.WORKFLOW_NAME: "body",
        attr.STEP_NAME: "charge",
        attr.STEP_OUTCOME: "ok",
    }
    assert dict(durations["ship"].attributes or {})[attr.STEP_OUTCOME] == "error"
    assert durations["charge"].explicit_bounds[durations["charge"].bucket_counts.index(1)] >= 1.5
    assert otel.counter_sum("resultflow.step.errors") == 1
    assert otel.counter_sum("resultflow.step.errors", resultflow__step__name="ship") == 1
    assert otel.counter_sum("resultflow.step.retries") == 1
    assert otel.counter_sum("resultflow.cache.hits") == 1
    assert otel.counter_sum("resultflow.cache.misses") == 1
    (workflow_point,) = otel.histogram("resultflow.workflow.duration")
    assert (workflow_point.count, workflow_point.sum) == (1, 1.5)
    assert dict(workflow_point.attributes or {})[attr.WORKFLOW_OUTCOME] == "error"

    adapter.reset_metrics()
    assert adapter.metrics() == Metrics([], 0, 0, 0, 0)
    assert otel.counter_sum("resultflow.cache.hits") == 1  # instruments keep their sums


async def test_a_long_lived_adapter_keeps_only_the_latest_step_durations(
    otel: Telemetry,
) -> None:
    adapter = otel.adapter(max_step_durations=2)

    async def body(step: Step[str]) -> int:
        await step(Ok(1), name="first")
        await step(Ok(2), name="second")
        await step(Ok(3), name="third")
        return await step(Err("boom"), name="fourth")

    for _ in range(3):
        assert await run(body, on_event=adapter.handle_event, clock=TestClock()) == Err("boom")
    metrics = adapter.metrics()
    assert metrics.step_durations == [
        StepDuration("third", 0.0, True),
        StepDuration("fourth", 0.0, False),
    ]
    assert metrics.error_count == 3  # counts still cover every step
    (point,) = [
        p
        for p in otel.histogram("resultflow.step.duration")
        if dict(p.attributes or {})[attr.STEP_NAME] == "first"
    ]
    assert point.count == 3
    default = otel.adapter(record_metrics=False)
    for n in range(DEFAULT_MAX_STEP_DURATIONS + 5):
        default.handle_event(
            StepSucceeded(workflow_id="w", ts=1.0, step_id=f"s{n}", duration_s=0.5)
        )
    kept = default.metrics().step_durations
    assert len(kept) == DEFAULT_MAX_STEP_DURATIONS
    assert kept[0].name == "s5"
    assert otel.adapter(max_step_durations=None).metrics() == Metrics([], 0, 0, 0, 0)
    with pytest.raises(ValueError, match="max_step_durations"):
        otel.adapter(max_step_durations=-1)


async def test_instruments_are_created_once_per_meter(otel: Telemetry) -> None:
    meter = otel.meter_provider.get_meter("resultflow")
    assert instruments_for(meter) is instruments_for(meter)
    first, second = otel.adapter(), otel.adapter()

    async def body(step: Step[str]) -> int:
        return await step(Ok(1), name="one")

    for adapter in (first, second):
        assert await run(body, on_event=adapter.handle_event, name="body", clock=TestClock()) == Ok(
            1
        )
    (point,) = otel.histogram("resultflow.step.duration")
    assert point.count == 2
    assert first.metrics().step_durations == second.metrics().step_durations


async def test_the_adapter_works_as_a_sink_of_concurrent_runs(otel: Telemetry) -> None:
    clock = TestClock()
    adapter = otel.adapter()

    async def body(step: Step[str], seconds: float) -> float:
        async def wait() -> Ok[float]:
            await clock.sleep(seconds)
            return Ok(seconds)

        return await step(wait, name=f"wait {seconds}")

    runs: Sequence[Ok[float] | Err[str | UnexpectedError]] = await asyncio.gather(
        *(
            run(
                body,
                s,
                on_event=adapter.handle_event,
                name="body",
                clock=clock,
                workflow_id=f"w{s}",
            )
            for s in (1.0, 2.0, 3.0)
        )
    )

    assert runs == [Ok(1.0), Ok(2.0), Ok(3.0)]
    for seconds in (1.0, 2.0, 3.0):
        step_span = otel.span(f"step wait {seconds}")
        parent = otel.span_by_id(step_span.parent.span_id) if step_span.parent else None
        assert parent is not None
        assert attributes_of(parent)[attr.WORKFLOW_ID] == f"w{seconds}"
    assert adapter.open_runs == 0


# -- run_sync -----------------------------------------------------------------------------
def test_run_sync_in_threads(otel: Telemetry) -> None:
    adapter = otel.adapter()
    tracer = otel.tracer_provider.get_tracer("app")

    def lookup(n: int) -> Ok[int]:
        with tracer.start_as_current_span(f"query {n}"):
            return Ok(n * 10)

    def body(step: SyncStep[str], n: int) -> int:
        return step(lambda: lookup(n), name=f"lookup {n}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda n: run_sync(
                    body, n, on_event=adapter.handle_event, name=f"sync {n}", clock=TestClock()
                ),
                [1, 2, 3],
            )
        )

    assert results == [Ok(10), Ok(20), Ok(30)]
    for n in (1, 2, 3):
        assert otel.parent_name(otel.span(f"query {n}")) == f"step lookup {n}"
        assert otel.parent_name(otel.span(f"step lookup {n}")) == f"workflow sync {n}"
        assert otel.span(f"workflow sync {n}").parent is None
    assert adapter.open_runs == 0
    assert not trace.get_current_span().get_span_context().is_valid


async def test_saga_compensations_are_spans_under_the_workflow(otel: Telemetry) -> None:
    adapter = otel.adapter()
    released: list[str] = []

    def release(hold: str) -> None:
        released.append(hold)

    def unrefundable(_: str) -> Err[str]:
        return Err("refund window closed")

    async def body(saga: SagaStep[PaymentDeclined]) -> str:
        await saga.step(lambda: Ok("hold-1"), name="reserve", compensate=release)
        await saga.step(lambda: Ok("auth-1"), name="authorize", compensate=unrefundable)
        return await saga.step(lambda: Err(PaymentDeclined(reason="limit")), name="capture")

    result = await run_saga(body, on_event=adapter.handle_event, name="order", clock=TestClock())

    assert isinstance(result, Err) and isinstance(result.error, SagaCompensationFailed)
    assert released == ["hold-1"]
    release_span = otel.span("compensate reserve")
    refund_span = otel.span("compensate authorize")
    assert otel.parent_name(release_span) == "workflow order"
    assert otel.parent_name(refund_span) == "workflow order"
    assert release_span.status.status_code is StatusCode.UNSET
    assert refund_span.status.status_code is StatusCode.ERROR
    assert attributes_of(refund_span)[attr.ERROR_MESSAGE] == "refund window closed"
    assert otel.span("step capture").status.status_code is StatusCode.ERROR
    workflow_span = otel.span("workflow order")
    assert attributes_of(workflow_span)[attr.ERROR_TAG] == "SagaCompensationFailed"
    assert adapter.open_runs == 0
