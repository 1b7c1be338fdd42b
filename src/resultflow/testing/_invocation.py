"""What a `WorkflowHarness` records about each executed step, and the checks made on it.

An `Invocation` is one step that executed (cache hits never execute, so they are not
invocations). The `check_*` functions behind the harness's `assert_*` methods return an
`AssertionReport` instead of raising, so a test can assert on it (`assert report`) or
inspect `report.message`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from resultflow.result import Err, Ok

__all__ = [
    "AssertionReport",
    "Invocation",
    "check_called",
    "check_not_called",
    "check_steps",
    "op_arguments",
]


@dataclass(frozen=True, slots=True)
class AssertionReport:
    """The verdict of an `assert_*` helper: `passed` and a message saying why.

    A report is truthy only when it passed, so `assert harness.assert_steps([...])` works
    and pytest shows the message when it fails.
    """

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed


@dataclass(frozen=True, slots=True)
class Invocation:
    """One executed step, as the harness saw it.

    - `name`, `key`: the step's `name=` / `key=` (None when not given).
    - `args`: the inputs the op was built from, read before it ran: the call arguments of
      a bare coroutine op (`step(charge(user, 10))` -> `{"user": ..., "amount": 10}`), the
      bound arguments of a `functools.partial` (`{"0": ..., "amount": ...}`, positions as
      strings), or the variables a lambda or nested function captured (`step(lambda:
      charge(user, amount))` -> `{"user": ..., "amount": ...}`); empty for a plain Result
      or a function that captures nothing.
    - `result`: what the step returned — None only when it was cancelled before finishing
      (a `race` loser, a sibling of a failed `all`).
    - `duration_s`: elapsed harness-clock time; 0 with a `TestClock` unless the step slept.
    - `scripted`: True when a scripted outcome stood in for the real op.
    """

    name: str | None
    key: str | None
    args: Mapping[str, object]
    result: Ok[object] | Err[object] | None
    duration_s: float
    scripted: bool
    step_id: str = ""
    workflow_id: str | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """The step's name, else its key, else its step id (as the runner labels it)."""
        return self.name or self.key or self.step_id

    def matches(self, step: str) -> bool:
        """True when `step` is this invocation's name, key or label.

        An unnamed, unkeyed step is matched by its step id (its label), e.g. `"s3"`.
        """
        return step in (self.name, self.key, self.label)


def op_arguments(op: object) -> dict[str, object]:
    """The inputs `op` was built from (see `Invocation.args`); read it before the op runs."""
    if inspect.iscoroutine(op):
        return dict(inspect.getcoroutinelocals(op))
    if isinstance(op, functools.partial):
        bound: dict[str, object] = {str(i): arg for i, arg in enumerate(op.args)}
        bound.update(op.keywords)
        return bound
    code = getattr(op, "__code__", None)
    closure = getattr(op, "__closure__", None)
    if code is None or not closure:
        return {}
    names: tuple[str, ...] = getattr(code, "co_freevars", ())
    captured: dict[str, object] = {}
    for name, cell in zip(names, closure, strict=False):
        try:
            captured[name] = cell.cell_contents
        except ValueError:  # a cell not yet filled (a variable assigned later)
            continue
    return captured


def check_steps(invocations: Sequence[Invocation], expected: Sequence[str]) -> AssertionReport:
    """Pass when the executed steps, in order, are exactly `expected` (by name or key)."""
    labels = [inv.label for inv in invocations]
    for index, (inv, want) in enumerate(zip(invocations, expected, strict=False)):
        if not inv.matches(want):
            return AssertionReport(
                False,
                f"step #{index + 1} was {inv.label!r}, expected {want!r}; "
                f"executed steps: {labels}, expected: {list(expected)}",
            )
    if len(invocations) != len(expected):
        if len(invocations) > len(expected):
            extra = labels[len(expected) :]
            problem = f"{len(extra)} more step(s) than expected: {extra}"
        else:
            missing = list(expected[len(invocations) :])
            problem = f"missing step(s) at the end: {missing}"
        return AssertionReport(
            False, f"{problem}; executed steps: {labels}, expected: {list(expected)}"
        )
    return AssertionReport(True, f"steps executed as expected: {labels}")


def check_called(
    invocations: Sequence[Invocation], step: str, times: int | None = None
) -> AssertionReport:
    """Pass when `step` (a name or key) executed — exactly `times` times when given."""
    if times is not None and times < 0:
        raise ValueError(f"times must be >= 0, not {times}")
    count = sum(1 for inv in invocations if inv.matches(step))
    executed = [inv.label for inv in invocations]
    if times is None:
        if count:
            return AssertionReport(True, f"step {step!r} executed {_times(count)}")
        return AssertionReport(
            False, f"step {step!r} was never executed; executed steps: {executed}"
        )
    if count == times:
        return AssertionReport(True, f"step {step!r} executed {_times(count)}, as expected")
    return AssertionReport(
        False,
        f"step {step!r} executed {_times(count)}, expected {_times(times)}; "
        f"executed steps: {executed}",
    )


def check_not_called(invocations: Sequence[Invocation], step: str) -> AssertionReport:
    """Pass when `step` (a name or key) never executed."""
    count = sum(1 for inv in invocations if inv.matches(step))
    if count == 0:
        return AssertionReport(True, f"step {step!r} was not executed")
    return AssertionReport(
        False, f"step {step!r} executed {_times(count)}, expected it not to execute"
    )


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"
