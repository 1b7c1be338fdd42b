"""Resume state: the finished keyed steps of a run, fed back in to skip them next time.

`ResumeState` maps step keys to `ResumeEntry(result, meta)`. Collect it from a run's
events with `StepCollector`, persist it (see `resultflow.persistence`), and pass it back
as `run(..., resume_state=state)`: steps whose key is in it return the stored result
without executing, Err results included — except a pending approval
(`Err(PendingApproval)`): that step is not finished, so it runs (asks again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

from typing_extensions import TypeIs

from resultflow.cache import CacheEntry
from resultflow.events import StepCompleted, WorkflowEvent

__all__ = ["ResumeEntry", "ResumeState", "StepCollector", "clear_step", "is_step_complete"]

ResumeEntry: TypeAlias = CacheEntry
"""One finished step: `result` and `meta` (the same shape a `StepCache` stores)."""

ResumeState: TypeAlias = Mapping[str, CacheEntry]
"""Finished keyed steps by key."""


def is_step_complete(event: WorkflowEvent) -> TypeIs[StepCompleted]:
    """True for the `step_complete` event that a keyed step emits when it finishes."""
    return isinstance(event, StepCompleted)


def clear_step(state: ResumeState, key: str) -> dict[str, CacheEntry]:
    """Return a copy of `state` without `key`, so that step runs again on resume."""
    return {k: v for k, v in state.items() if k != key}


class StepCollector:
    """An `on_event` sink that records every finished keyed step as resume state."""

    def __init__(self, initial: ResumeState | None = None) -> None:
        self._state: dict[str, CacheEntry] = dict(initial or {})

    def handle_event(self, event: WorkflowEvent, ctx: object = None) -> None:
        """Record `step_complete` events; ignore the rest."""
        if isinstance(event, StepCompleted) and event.key is not None:
            self._state[event.key] = CacheEntry(event.result, event.meta)

    __call__ = handle_event

    def state(self) -> dict[str, CacheEntry]:
        """A copy of the collected resume state."""
        return dict(self._state)

    def keys(self) -> list[str]:
        """Keys of the collected steps, in completion order."""
        return list(self._state)
