"""The recorded shape of one run: `RunRecord` with its `StepRecord` and `ScopeRecord` nodes.

A run is a tree: steps and scopes at the top level, and inside every concurrent scope
(`all`, `parallel`, `race`, `all_settled`, `map`) the steps and scopes it ran. The
records are plain frozen dataclasses, so every renderer (tree, Mermaid, timeline, diff)
and the JSON export read the same data whether it came from live events, an imported
file or a durable execution's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "Node",
    "RunRecord",
    "RunStatus",
    "ScopeRecord",
    "ScopeStatus",
    "StepRecord",
    "StepStatus",
]

RunStatus: TypeAlias = Literal["running", "success", "error", "cancelled", "skipped"]
"""Where a recorded run stands: still running, or how it ended."""
StepStatus: TypeAlias = Literal["running", "success", "error", "cached", "skipped", "aborted"]
"""Where a recorded step stands (`aborted`: it was cancelled before it had a result)."""
ScopeStatus: TypeAlias = Literal["running", "success", "error"]
"""Where a recorded scope (`step.all`, `step.race`, ...) stands."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    """One step of a run: when it ran, how it ended, and what happened on the way.

    `status` is `"cached"` for a step answered from the cache (it did not execute),
    `"skipped"` for a conditional step that did not run and `"aborted"` for a step
    cancelled because a sibling failed. `start_ts` / `end_ts` are wall-clock epoch
    seconds from the events' `ts`; `end_ts` is None while the step runs. A saga's
    compensation is recorded as a step with `compensation=True`.
    """

    step_id: str
    name: str | None = None
    key: str | None = None
    parent_id: str | None = None
    status: StepStatus = "running"
    start_ts: float
    end_ts: float | None = None
    duration_s: float | None = None
    cache_hit: bool = False
    retries: int = 0
    timed_out: bool = False
    error: str | None = None
    error_tag: str | None = None
    reason: str | None = None
    compensation: bool = False

    @property
    def label(self) -> str:
        """The name shown for this step: its name, else its key, else its step id."""
        base = self.name or self.key or self.step_id
        return f"compensate {base}" if self.compensation else base


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopeRecord:
    """One concurrent scope of a run; its children are the nodes whose parent it is."""

    scope_id: str
    kind: str
    name: str | None = None
    parent_id: str | None = None
    status: ScopeStatus = "running"
    start_ts: float
    end_ts: float | None = None
    duration_s: float | None = None

    @property
    def label(self) -> str:
        """The name shown for this scope: `kind` or `kind name`."""
        return f"{self.kind} {self.name}" if self.name else self.kind


Node: TypeAlias = StepRecord | ScopeRecord
"""A node of a run's tree."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One run: its outcome and its nodes in the order they first appeared.

    `nodes` holds steps and scopes together so the order of a run is kept across both;
    `children(parent_id)` rebuilds the tree (a node whose parent is unknown to the run is
    shown at the top level rather than lost).
    """

    workflow_id: str
    name: str | None = None
    status: RunStatus = "running"
    started_at: float
    ended_at: float | None = None
    duration_s: float | None = None
    error: str | None = None
    error_tag: str | None = None
    nodes: tuple[Node, ...] = ()

    @property
    def label(self) -> str:
        """The name shown for this run: its name, else its workflow id."""
        return self.name or self.workflow_id

    @property
    def steps(self) -> tuple[StepRecord, ...]:
        """Every step (compensations included) in order of first appearance."""
        return tuple(node for node in self.nodes if isinstance(node, StepRecord))

    @property
    def scopes(self) -> tuple[ScopeRecord, ...]:
        """Every scope in order of first appearance."""
        return tuple(node for node in self.nodes if isinstance(node, ScopeRecord))

    def children(self, parent_id: str | None = None) -> tuple[Node, ...]:
        """The nodes directly under the scope `parent_id` (None: the top level)."""
        return self.tree().get(parent_id, ())

    def tree(self) -> dict[str | None, tuple[Node, ...]]:
        """Map each scope id (None for the top level) to the nodes drawn directly in it.

        A parent id naming a step rather than a scope places the node next to that
        step; an id the run never saw places it at the top level, so nothing is lost.
        """
        scopes = {scope.scope_id for scope in self.scopes}
        step_parents = {step.step_id: step.parent_id for step in self.steps}
        placed = {id(node): _drawn_in(node, scopes, step_parents) for node in self.nodes}
        reachable = _reachable_scopes(self.nodes, placed)
        grouped: dict[str | None, list[Node]] = {}
        for node in self.nodes:
            parent = placed[id(node)]
            # A cycle of parent ids (only possible in hand-made data) is cut at the top.
            grouped.setdefault(parent if parent in reachable else None, []).append(node)
        return {parent: tuple(nodes) for parent, nodes in grouped.items()}

    def end_or_last_ts(self) -> float:
        """When the run ended, else the latest time any of its nodes reached."""
        if self.ended_at is not None:
            return self.ended_at
        times = [self.started_at]
        for node in self.nodes:
            times.append(node.start_ts)
            if node.end_ts is not None:
                times.append(node.end_ts)
        return max(times)


def _drawn_in(node: Node, scopes: set[str], step_parents: dict[str, str | None]) -> str | None:
    own_id = node.scope_id if isinstance(node, ScopeRecord) else node.step_id
    parent = node.parent_id
    seen = {own_id}
    while parent is not None and parent not in scopes and parent not in seen:
        seen.add(parent)
        parent = step_parents.get(parent)
    return parent if parent in scopes and parent not in seen else None


def _reachable_scopes(nodes: tuple[Node, ...], placed: dict[int, str | None]) -> set[str | None]:
    by_parent: dict[str | None, list[str]] = {}
    for node in nodes:
        if isinstance(node, ScopeRecord):
            by_parent.setdefault(placed[id(node)], []).append(node.scope_id)
    reachable: set[str | None] = {None}
    frontier: list[str | None] = [None]
    while frontier:
        for scope_id in by_parent.get(frontier.pop(), []):
            if scope_id not in reachable:
                reachable.add(scope_id)
                frontier.append(scope_id)
    return reachable
