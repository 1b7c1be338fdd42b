"""Test tools for resultflow workflows: a harness, mocks, virtual time and snapshots.

- `WorkflowHarness` runs a workflow with scripted step outcomes (`ok_outcome`,
  `err_outcome`, `raise_outcome`, `delay_outcome`, `real_outcome`) and records every
  executed step as an `Invocation`; its `assert_*` helpers return an `AssertionReport`.
- `mock_fn` / `MockFn` / `AsyncMockFn`: typed stand-ins for the functions steps call.
- `TestClock`: virtual time, so retries, timeouts, sleeps, breakers and limiters run
  instantly.
- `snapshot` / `compare_snapshots`: a run's steps and result as JSON, and their diff.
- `DurableTestEnv` / `durable_test_env`: a durable engine in memory with a worker.
- A pytest plugin (loaded automatically) with the `rf_clock`, `rf_harness` and
  `rf_engine` fixtures.
"""

from resultflow.testing._clock import TestClock
from resultflow.testing._durable_env import DurableTestEnv, durable_test_env
from resultflow.testing._harness import ScriptExhausted, WorkflowHarness
from resultflow.testing._invocation import AssertionReport, Invocation
from resultflow.testing._mock import AsyncMockFn, Call, MockFn, UnconfiguredMock, mock_fn
from resultflow.testing._outcome import (
    ScriptedOutcome,
    ScriptItem,
    delay_outcome,
    err_outcome,
    ok_outcome,
    raise_outcome,
    real_outcome,
)
from resultflow.testing._snapshot import Snapshot, SnapshotDiff, compare_snapshots, snapshot

__all__ = [
    "AssertionReport",
    "AsyncMockFn",
    "Call",
    "DurableTestEnv",
    "Invocation",
    "MockFn",
    "ScriptExhausted",
    "ScriptedOutcome",
    "ScriptItem",
    "Snapshot",
    "SnapshotDiff",
    "TestClock",
    "UnconfiguredMock",
    "WorkflowHarness",
    "compare_snapshots",
    "delay_outcome",
    "durable_test_env",
    "err_outcome",
    "mock_fn",
    "ok_outcome",
    "raise_outcome",
    "real_outcome",
    "snapshot",
]
