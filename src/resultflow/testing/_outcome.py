"""Scripted step outcomes: what a `WorkflowHarness` makes a step return instead of running it.

```python
harness.script([ok_outcome({"id": "u1"}), err_outcome(Declined(reason="card"))])
harness.script_step("notify", raise_outcome(ConnectionError("smtp down")))
harness.script_step("charge", delay_outcome(5.0, ok_outcome("receipt-1")))
harness.script_step("sleep", real_outcome())   # let every `step.sleep` run for real
```

A plain `Ok(...)` / `Err(...)` is accepted wherever an outcome is, as a shorthand for
`ok_outcome` / `err_outcome`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

from resultflow.result import Err, Ok

__all__ = [
    "ScriptedOutcome",
    "OutcomeKind",
    "ScriptItem",
    "as_outcome",
    "delay_outcome",
    "err_outcome",
    "ok_outcome",
    "raise_outcome",
    "real_outcome",
]

OutcomeKind: TypeAlias = Literal["return", "raise", "real"]
"""`return` a Result, `raise` an exception from the step, or run the `real` op."""


@dataclass(frozen=True, slots=True)
class ScriptedOutcome:
    """What one scripted step does: return a Result, raise, or run for real; maybe after a delay.

    Build outcomes with `ok_outcome`, `err_outcome`, `raise_outcome`, `real_outcome` and
    `delay_outcome` rather than by hand: they keep `kind` and its payload consistent.
    (Not to be confused with `resultflow.hitl.Outcome`, how a human-in-the-loop run
    ended; this one only scripts a step in a test.)
    """

    kind: OutcomeKind
    result: Ok[object] | Err[object] | None = None
    exception: Exception | None = None
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind == "return" and self.result is None:
            raise ValueError("a 'return' outcome needs a result")
        if self.kind == "raise" and self.exception is None:
            raise ValueError("a 'raise' outcome needs an exception")
        if not math.isfinite(self.delay_s) or self.delay_s < 0:
            raise ValueError(f"delay_s must be a finite number >= 0, not {self.delay_s!r}")

    def describe(self) -> str:
        """A short human-readable form, for reports and error messages."""
        if self.kind == "return":
            text = repr(self.result)
        elif self.kind == "raise":
            text = f"raise {self.exception!r}"
        else:
            text = "run the real op"
        return f"{text} after {self.delay_s:g}s" if self.delay_s else text


ScriptItem: TypeAlias = ScriptedOutcome | Ok[object] | Err[object]
"""What `script` and `script_step` accept: a `ScriptedOutcome`, or a Result as a shorthand."""


def ok_outcome(value: object) -> ScriptedOutcome:
    """The step returns `Ok(value)` without running its op."""
    return ScriptedOutcome("return", result=Ok(value))


def err_outcome(error: object) -> ScriptedOutcome:
    """The step returns `Err(error)` without running its op (the body stops there)."""
    return ScriptedOutcome("return", result=Err(error))


def raise_outcome(exception: Exception) -> ScriptedOutcome:
    """The step raises `exception`: the run turns it into `Err(UnexpectedError)`.

    Exactly what the runner does when a real op raises, including `catch_unexpected`
    when `harness.run` was given one.
    """
    if not isinstance(exception, Exception):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"raise_outcome needs an Exception instance, not {exception!r}")
    return ScriptedOutcome("raise", exception=exception)


def real_outcome() -> ScriptedOutcome:
    """The step runs its real op (a placeholder in an ordered script, or a name override)."""
    return ScriptedOutcome("real")


def delay_outcome(seconds: float, outcome: ScriptItem) -> ScriptedOutcome:
    """`outcome`, after `seconds` of the harness clock's (virtual) time have passed.

    The delay sleeps on the harness clock, so it moves a `TestClock` forward and counts
    toward a run's `timeout=`. A scripted outcome stands in for the whole step, so a
    step's own `timeout=` and `retry=` do not apply to it.
    """
    base = as_outcome(outcome)
    return replace(base, delay_s=base.delay_s + seconds)


def as_outcome(item: ScriptItem) -> ScriptedOutcome:
    """Normalise a script item: a bare `Ok` / `Err` becomes a 'return' outcome."""
    if isinstance(item, ScriptedOutcome):
        return item
    if isinstance(item, Ok | Err):  # pyright: ignore[reportUnnecessaryIsInstance]
        return ScriptedOutcome("return", result=item)
    raise TypeError(
        "a script item must be a ScriptedOutcome, Ok or Err, "
        f"not {type(item).__name__}: {item!r:.80}"
    )
