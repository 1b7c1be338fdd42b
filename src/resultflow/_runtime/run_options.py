"""`RunOptions`: the keyword options of `run`, `run_sync` and the workflows.

One TypedDict, used with `Unpack` by every entry point and read by the run lifecycle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from resultflow._runtime.context import EventSink
from resultflow._runtime.pipeline import AfterStepHook, BeforeStepHook, StepInterceptor
from resultflow.cache import AnyStepCache
from resultflow.clock import Clock
from resultflow.resume import ResumeState

if TYPE_CHECKING:
    from resultflow.reliability._policies import Policy

__all__ = ["ResumeSource", "RunHook", "RunOptions", "check_options"]

RunHook = Callable[[str, Any], bool | Awaitable[bool]]
ResumeSource = ResumeState | Callable[[], ResumeState | Awaitable[ResumeState]]


class RunOptions(TypedDict, total=False):
    """Keyword options of `run`, `@workflow` and `Workflow.with_options`."""

    workflow_id: str
    name: str
    on_event: EventSink
    cache: AnyStepCache
    resume_state: ResumeSource
    context: object
    create_context: Callable[[], object]
    should_run: RunHook
    on_before_start: RunHook
    on_after_step: AfterStepHook
    on_before_step: BeforeStepHook
    clock: Clock
    policy: Policy
    policies: Sequence[Policy]
    timeout: float
    interceptor: StepInterceptor


_OPTION_NAMES = RunOptions.__required_keys__ | RunOptions.__optional_keys__


def check_options(options: RunOptions, caller: str) -> None:
    """Reject keyword options `run` does not know (a typo would otherwise be ignored)."""
    if options.keys() <= _OPTION_NAMES:
        return
    unknown = ", ".join(sorted(options.keys() - _OPTION_NAMES))
    known = ", ".join(sorted(_OPTION_NAMES | {"catch_unexpected"}))
    raise TypeError(
        f"{caller}() got unknown option(s): {unknown}. Its keyword options are {known}; "
        "pass body arguments positionally, or use @workflow for keyword arguments"
    )
