"""Each public package's exported names are locked: a change to a surface is deliberate.

Adding, removing or renaming a public name must edit EXPECTED below in the same commit
(and the CHANGELOG), so a surface never changes by accident — a helper import leaking
into `__all__`, or a name lost in a move. Every exported name must also resolve at
runtime and carry a docstring as the API reference (griffe, used by mkdocstrings)
reads it: a class's or function's own docstring, or the string literal under a
module-level constant or type alias.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from types import ModuleType

import griffe
import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

# Optional dependencies a package needs at import time (it is skipped without them).
NEEDS = {
    "resultflow.otel": "opentelemetry",
    "resultflow.contrib.hypothesis": "hypothesis",
}

EXPECTED: dict[str, set[str]] = {
    "resultflow": {
        "__version__",
        "all_ok",
        "all_settled",
        "AmbiguousTagError",
        "any_ok",
        "ApprovalRejected",
        "AsyncStepCache",
        "CacheEntry",
        "Cancelled",
        "CircuitOpen",
        "clear_step",
        "Clock",
        "Condition",
        "Conditionals",
        "conditionals",
        "ConditionalSteps",
        "current_context",
        "Err",
        "EventSink",
        "first_ok",
        "from_optional",
        "gather_ok",
        "gather_settled",
        "is_err",
        "is_ok",
        "is_step_complete",
        "MemoryCache",
        "Ok",
        "partition",
        "PendingApproval",
        "RateLimited",
        "registered_tags",
        "Result",
        "ResultflowError",
        "ResumeEntry",
        "ResumeState",
        "run",
        "run_sync",
        "RunContext",
        "RunOptions",
        "safe",
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
        "SYSTEM_CLOCK",
        "SystemClock",
        "TaggedError",
        "Timeout",
        "try_async",
        "try_call",
        "UnexpectedError",
        "UnknownTagError",
        "unless",
        "unless_or",
        "UnwrapError",
        "when",
        "when_or",
        "Workflow",
        "workflow",
        "workflow_sync",
        "WorkflowEvent",
        "WorkflowTimeout",
    },
    "resultflow.reliability": {
        "Admission",
        "apply_policies",
        "Backoff",
        "breaker_presets",
        "BreakerConfig",
        "BreakerPresets",
        "BreakerRecord",
        "BreakerStats",
        "BreakerStore",
        "BreakerStoreError",
        "BucketSpec",
        "CircuitBreaker",
        "CircuitOpenError",
        "CircuitState",
        "CombinedLimiter",
        "CombinedLimiterStats",
        "ConcurrencyLimiter",
        "ConcurrencyStats",
        "EXPIRED",
        "Expired",
        "Guard",
        "limiter_presets",
        "LimiterPresets",
        "LimiterStore",
        "LimiterStoreError",
        "MemoryBreakerStore",
        "MemoryCircuit",
        "MemoryLimiterStore",
        "merge_policies",
        "OnRetry",
        "Policy",
        "PolicyApplier",
        "PolicyOverrides",
        "PolicyRegistry",
        "PresetOptions",
        "QueueStrategy",
        "RateLimitedError",
        "RateLimiter",
        "RateLimiterStats",
        "RateStrategy",
        "RedisBreakerStore",
        "RedisLimiterStore",
        "resolve_step_options",
        "retry_call",
        "retry_call_sync",
        "retry_policies",
        "RetryPolicy",
        "service_policies",
        "StateChangeCallback",
        "step_options",
        "StepOptionsBuilder",
        "StopStrategy",
        "Ticket",
        "Timeout",
        "timeout_policies",
        "Transition",
        "UnknownPolicyError",
        "Update",
        "WaitStrategy",
        "with_policies",
        "with_policy",
        "within",
    },
    "resultflow.saga": {
        "Compensation",
        "run_saga",
        "saga_workflow",
        "SagaErrors",
        "SagaStep",
    },
    "resultflow.durable": {
        "ChildFailed",
        "Client",
        "CLOSED_STATUSES",
        "DurableStep",
        "DurableStoreError",
        "DurableWorkflow",
        "Engine",
        "EventNotSet",
        "ExecutionCancelled",
        "ExecutionClosed",
        "ExecutionExists",
        "ExecutionHandle",
        "ExecutionInfo",
        "ExecutionNotFound",
        "ExecutionTerminated",
        "ExecutionTimedOut",
        "HistoryEvent",
        "InvalidInput",
        "InvalidState",
        "NonDeterminism",
        "ParentRef",
        "SignalTimedOut",
        "Status",
        "TaskClosed",
        "TaskFailed",
        "TaskHeartbeatTimedOut",
        "TaskTimedOut",
        "UnknownToken",
        "UnknownWorkflow",
        "WaitTimedOut",
        "Worker",
        "WorkflowInfo",
    },
    "resultflow.hitl": {
        "approval_check",
        "approval_handler",
        "approval_step",
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
        "clear_step",
        "Completed",
        "Failed",
        "HandlerResponse",
        "has_pending_approval",
        "HITLCollector",
        "HITLOrchestrator",
        "inject_approval",
        "inject_rejection",
        "is_pending_approval",
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
        "pending_approvals",
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
    },
    "resultflow.persistence": {
        "ClassPolicy",
        "Codec",
        "codec_limits",
        "CodecLimitError",
        "CodecLimits",
        "compose_migrations",
        "CorruptEntryError",
        "decode_value",
        "deserialize_entry",
        "deserialize_result",
        "deserialize_state",
        "dumps_state",
        "encode_value",
        "ExceptionInfo",
        "FileKV",
        "FORMAT_VERSION",
        "HydratingCache",
        "IncompatibleVersion",
        "JSONValue",
        "KVCache",
        "KVStore",
        "LoadedState",
        "loads_state",
        "MemoryKV",
        "migrate_state",
        "Migration",
        "MissingMigration",
        "NewerStateWarning",
        "Page",
        "parse_state",
        "PostgresKV",
        "RedisKV",
        "register_codec",
        "remove_keys",
        "rename_keys",
        "SerializationError",
        "serialize_entry",
        "serialize_result",
        "serialize_state",
        "set_codec_limits",
        "SQLiteKV",
        "StateDecodeError",
        "StateFormatError",
        "StateLoader",
        "StatePersistence",
        "StoreClosedError",
        "StoreError",
        "StoreUnavailableError",
        "transform_values",
        "unregister_codec",
        "versioned_loader",
        "VersionedState",
        "VersionError",
    },
    "resultflow.otel": {
        "attributes",
        "continue_trace",
        "describe_error",
        "INSTRUMENTATION_SCOPE",
        "Metrics",
        "OTelAdapter",
        "StepDuration",
        "trace_carrier",
        "traced",
    },
    "resultflow.devtools": {
        "colors_enabled",
        "console_logger",
        "describe_event",
        "Devtools",
        "diff_runs",
        "event_fields",
        "EVENT_LOGGER_NAME",
        "export_run",
        "format_duration",
        "import_run",
        "logging_sink",
        "mermaid_label",
        "NO_RUN_TEXT",
        "Node",
        "record_run",
        "render_diff",
        "render_mermaid",
        "render_timeline",
        "render_tree",
        "RunDiff",
        "RunImportError",
        "RunRecord",
        "RunRecorder",
        "RunStatus",
        "ScopeRecord",
        "ScopeStatus",
        "StepChange",
        "StepRecord",
        "StepStatus",
        "SyncEventSink",
        "timeline",
        "TimelineEntry",
    },
    "resultflow.testing": {
        "AssertionReport",
        "AsyncMockFn",
        "Call",
        "DurableTestEnv",
        "compare_snapshots",
        "delay_outcome",
        "durable_test_env",
        "err_outcome",
        "Invocation",
        "mock_fn",
        "MockFn",
        "ok_outcome",
        "raise_outcome",
        "real_outcome",
        "ScriptedOutcome",
        "ScriptExhausted",
        "ScriptItem",
        "Snapshot",
        "snapshot",
        "SnapshotDiff",
        "TestClock",
        "UnconfiguredMock",
        "WorkflowHarness",
    },
    "resultflow.contrib.hypothesis": {
        "check_result_laws",
        "errs",
        "oks",
        "results",
    },
    "resultflow.contrib.returns": {
        "from_returns",
        "to_returns",
    },
    "resultflow.cli": {
        "main",
    },
}


def _import(name: str) -> ModuleType:
    if name in NEEDS:
        pytest.importorskip(NEEDS[name], reason=f"{name} needs {NEEDS[name]}")
    return importlib.import_module(name)


@cache
def _griffe_package() -> griffe.Module:
    package = griffe.load("resultflow", search_paths=[str(SRC)], resolve_aliases=True)
    assert isinstance(package, griffe.Module)
    return package


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exported_names_are_the_expected_ones(name: str) -> None:
    module = _import(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    assert set(exported) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_exported_name_resolves_and_has_a_docstring(name: str) -> None:
    module = _import(name)
    surface = _griffe_package()
    for part in name.split(".")[1:]:
        surface = surface[part]
    undocumented = []
    for member in module.__all__:
        getattr(module, member)  # resolves at runtime (lazy imports included)
        docstring = surface[member].docstring
        if docstring is None or not docstring.value.strip():
            undocumented.append(member)
    assert undocumented == [], f"{name}: exported names without a docstring"


def test_every_public_package_is_locked() -> None:
    # A new public package (durable/, web/) or contrib module gets its entry in EXPECTED.
    root = SRC / "resultflow"
    packages = {
        f"resultflow.{path.name}"
        for path in root.iterdir()
        if (path / "__init__.py").exists() and not path.name.startswith("_")
    }
    packages.discard("resultflow.contrib")  # a namespace: each module in it is a surface
    contrib = {
        f"resultflow.contrib.{path.stem}"
        for path in (root / "contrib").glob("*.py")
        if not path.stem.startswith("_")
    }
    assert sorted((packages | contrib) - set(EXPECTED)) == []
