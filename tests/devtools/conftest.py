"""Hand-made event sequences for devtools tests, shaped like the runner's own, and the
real Mermaid parser (`parse_all`).

`checkout_events` is a failed run with every interesting case: a plain step, a keyed
step retried twice, a cache hit, a skipped conditional step, and a parallel scope
(`step.all`) whose second step fails. `checkout_rerun_events` is a later, successful
run of the same workflow, for diffs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from resultflow.errors import TaggedError
from resultflow.events import (
    ScopeEnded,
    ScopeStarted,
    StepCacheHit,
    StepCacheMiss,
    StepCompleted,
    StepFailed,
    StepRetrying,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    WorkflowEvent,
    WorkflowFailed,
    WorkflowStarted,
    WorkflowSucceeded,
)
from resultflow.result import Ok

T0 = 1_700_000_000.0


class PostsNotFound(TaggedError):
    """No posts for the user."""

    user_id: str


class CardDeclined(TaggedError):
    """The card was declined."""

    reason: str


class EventScript:
    """Builds the events of one run with shared workflow id and a time origin."""

    def __init__(self, workflow_id: str, t0: float = T0) -> None:
        self.workflow_id = workflow_id
        self.t0 = t0
        self.events: list[WorkflowEvent] = []

    def at(self, offset: float) -> float:
        return self.t0 + offset

    def add(self, event: WorkflowEvent) -> EventScript:
        self.events.append(event)
        return self

    def start(self, name: str | None, at: float = 0.0) -> EventScript:
        return self.add(WorkflowStarted(workflow_id=self.workflow_id, ts=self.at(at), name=name))

    def step(
        self,
        step_id: str,
        name: str | None,
        start: float,
        end: float,
        *,
        key: str | None = None,
        parent_id: str | None = None,
        error: object = None,
    ) -> EventScript:
        wf = self.workflow_id
        common = {"step_id": step_id, "name": name, "key": key, "parent_id": parent_id}
        self.add(StepStarted(workflow_id=wf, ts=self.at(start), **common))
        if error is None:
            done: WorkflowEvent = StepSucceeded(
                workflow_id=wf, ts=self.at(end), value="v", duration_s=end - start, **common
            )
        else:
            done = StepFailed(
                workflow_id=wf, ts=self.at(end), error=error, duration_s=end - start, **common
            )
        self.add(done)
        return self


def checkout_script(workflow_id: str = "wf-1", t0: float = T0) -> EventScript:
    """The failing checkout run described in the module docstring."""
    s = EventScript(workflow_id, t0)
    wf = workflow_id
    s.start("checkout")
    s.step("s1", "load-user", 0.0, 0.1)
    s.add(StepCacheMiss(workflow_id=wf, ts=s.at(0.1), step_id="s2", name="charge", key="charge:7"))
    s.add(StepStarted(workflow_id=wf, ts=s.at(0.1), step_id="s2", name="charge", key="charge:7"))
    declined = CardDeclined("busy")
    s.add(
        StepRetrying(
            workflow_id=wf,
            ts=s.at(0.2),
            step_id="s2",
            name="charge",
            key="charge:7",
            attempt=2,
            delay_s=0.05,
            error=declined,
        )
    )
    s.add(
        StepRetrying(
            workflow_id=wf,
            ts=s.at(0.35),
            step_id="s2",
            name="charge",
            key="charge:7",
            attempt=3,
            delay_s=0.05,
            error=declined,
        )
    )
    s.add(
        StepSucceeded(
            workflow_id=wf,
            ts=s.at(0.5),
            step_id="s2",
            name="charge",
            key="charge:7",
            duration_s=0.4,
        )
    )
    s.add(
        StepCompleted(
            workflow_id=wf, ts=s.at(0.5), step_id="s2", name="charge", key="charge:7", result=Ok(1)
        )
    )
    s.add(StepCacheHit(workflow_id=wf, ts=s.at(0.5), step_id="s3", name="price", key="price:7"))
    s.add(
        StepSkipped(
            workflow_id=wf, ts=s.at(0.5), step_id="s4", name="notify", reason="no email address"
        )
    )
    s.add(ScopeStarted(workflow_id=wf, ts=s.at(0.5), scope_id="s5", kind="all", name="fetch"))
    s.step("s6", "user", 0.5, 0.7, parent_id="s5")
    s.step("s7", "posts", 0.5, 0.8, parent_id="s5", error=PostsNotFound("7"))
    s.add(
        ScopeEnded(
            workflow_id=wf,
            ts=s.at(0.8),
            scope_id="s5",
            kind="all",
            name="fetch",
            duration_s=0.3,
            ok=False,
        )
    )
    s.add(WorkflowFailed(workflow_id=wf, ts=s.at(0.8), error=PostsNotFound("7"), duration_s=0.8))
    return s


def checkout_rerun_script(workflow_id: str = "wf-2", t0: float = T0 + 60) -> EventScript:
    """A later successful run: charge is fast, price executes, notify runs, audit is new."""
    s = EventScript(workflow_id, t0)
    wf = workflow_id
    s.start("checkout")
    s.step("s1", "load-user", 0.0, 0.105)
    s.step("s2", "charge", 0.105, 0.205, key="charge:7")
    s.step("s3", "price", 0.205, 0.215, key="price:7")
    s.step("s4", "notify", 0.215, 0.3)
    s.add(ScopeStarted(workflow_id=wf, ts=s.at(0.3), scope_id="s5", kind="all", name="fetch"))
    s.step("s6", "user", 0.3, 0.5, parent_id="s5")
    s.step("s7", "posts", 0.3, 0.45, parent_id="s5")
    s.add(
        ScopeEnded(
            workflow_id=wf,
            ts=s.at(0.5),
            scope_id="s5",
            kind="all",
            name="fetch",
            duration_s=0.2,
            ok=True,
        )
    )
    s.step("s8", "audit", 0.5, 0.6)
    s.add(WorkflowSucceeded(workflow_id=wf, ts=s.at(0.6), duration_s=0.6, value="receipt"))
    return s


@pytest.fixture
def checkout_events() -> list[WorkflowEvent]:
    return checkout_script().events


@pytest.fixture
def checkout_rerun_events() -> list[WorkflowEvent]:
    return checkout_rerun_script().events


@pytest.fixture
def event_script() -> type[EventScript]:
    """The `EventScript` builder, for tests that need their own sequence."""
    return EventScript


# -- the real Mermaid parser ------------------------------------------------------------
PARSER_DIR = Path(__file__).parent / "mermaid_parse"

ParseAll = Callable[[list[str]], list[dict[str, object]]]


@pytest.fixture(scope="module")
def parse_all() -> ParseAll:
    """Parse Mermaid texts with mermaid's own parser (node); skips without it."""
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not installed"
    elif not (PARSER_DIR / "node_modules" / "mermaid").is_dir():
        missing = f"mermaid is not installed: run `npm ci --prefix {PARSER_DIR}`"
    if missing is not None:
        if os.environ.get("RESULTFLOW_REQUIRE_MERMAID", "") not in ("", "0"):
            pytest.fail(f"RESULTFLOW_REQUIRE_MERMAID is set but {missing}")
        pytest.skip(missing)
    assert node is not None

    def parse(texts: list[str]) -> list[dict[str, object]]:
        completed = subprocess.run(
            [node, str(PARSER_DIR / "parse.mjs")],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        results: list[dict[str, object]] = json.loads(completed.stdout)
        assert len(results) == len(texts)
        return results

    return parse
