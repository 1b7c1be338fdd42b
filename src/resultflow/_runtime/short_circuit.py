"""The internal signal that stops a body at a failed step.

`await step(op)` on an Err raises `StepExit`, which `run` catches and turns back into
the Err. It derives from `BaseException` so that a user's `except Exception:` inside a
body cannot swallow it, and it carries the identity of the run that raised it, so a
run nested in another recognises only its own signal (also inside exception groups
raised by `asyncio.TaskGroup`).
"""

from __future__ import annotations

from typing import cast

from resultflow.result import Err

__all__ = ["StepExit", "find_exit"]


class StepExit(BaseException):
    """Raised by a failing step; carries the run's token and the Err to return."""

    __slots__ = ("result", "token")

    def __init__(self, token: object, result: Err[object]) -> None:
        super().__init__()
        self.token = token
        self.result = result

    def __repr__(self) -> str:
        return f"StepExit({self.result!r})"


def find_exit(exc: BaseException, token: object) -> StepExit | None:
    """Return this run's `StepExit` in `exc` (itself or inside an exception group)."""
    if isinstance(exc, StepExit):
        return exc if exc.token is token else None
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        for inner in group.exceptions:
            found = find_exit(inner, token)
            if found is not None:
                return found
    return None
