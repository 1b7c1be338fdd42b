"""Step options: the one definition of the keywords a step accepts, and their resolution.

`StepOptions` is a `TypedDict` that every method taking step options declares as
`**options: Unpack[StepOptions]` (`step(...)`, `step.try_`, `step.when`, `saga.step`,
...), so the checkers reject an unknown option or a value of the wrong type. Not every
step can honour every option, so each option is declared once, in one of three parts:

- `_StepLabels` — every step, sync or async: `key`, `name`, `ttl`, `description`;
- `_Retrying` — `retry`, which needs an op it can call again (not a bare awaitable);
- `_AsyncGuards` — `timeout`, `policy`, `breaker`, `limiter`, which need the event loop.

The option sets that methods accept are made of those parts: `StepOptions` (all three),
`StepOptionsWithoutRetry` (what a bare awaitable takes) and `SyncStepOptions` (what a
`SyncStep` takes). A new option is one line in the part whose steps can honour it.

The option sets are *closed* TypedDicts (PEP 728): a dict with any other key is not a
`StepOptions`. Besides catching typos in `**options` dicts, this is what lets
`SagaStep.try_` add its own keywords (`compensate=`) to the method it overrides:
an open TypedDict could carry a `compensate` key of any type, which pyright rightly
reports as an incompatible override.

`build_spec` turns the options (with the run's default policies) into the pipeline's
`StepSpec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from typing_extensions import TypedDict, Unpack

from resultflow._runtime.pipeline import RunState, StepSpec, spec_from_policy
from resultflow._runtime.step_ops import discard, is_bare_awaitable
from resultflow.reliability._timeout import Timeout

if TYPE_CHECKING:
    from resultflow.reliability._guard import Guard
    from resultflow.reliability._policies import Policy
    from resultflow.reliability._retry import RetryPolicy

__all__ = [
    "STEP_OPTION_NAMES",
    "SYNC_STEP_OPTION_NAMES",
    "StepOptions",
    "StepOptionsWithoutRetry",
    "SyncStepOptions",
    "build_spec",
    "build_sync_spec",
    "unknown_options_message",
]


class _StepLabels(TypedDict, total=False):
    """The options of every step: how it is named, keyed and cached."""

    key: str | None
    """Cache / resume key: with a cache, a second step with this key is a cache hit."""
    name: str | None
    """The step's name in events, errors and devtools."""
    ttl: float | None
    """Seconds a keyed step's cached result stays valid (None: the cache's default)."""
    description: str | None
    """Free text about the step, for people reading its events."""
    cache_errors: bool
    """False: a keyed step's Err is not written to the cache (the next run tries again)."""


class _Retrying(TypedDict, total=False):
    """The option that calls the op again: only for a callable op."""

    retry: int | RetryPolicy | None
    """A number of attempts or a `RetryPolicy`; the op must be a zero-argument callable."""


class _AsyncGuards(TypedDict, total=False):
    """The options that need the event loop: async steps only."""

    timeout: float | Timeout | None
    """Seconds or a `Timeout`: on expiry the op is cancelled, the step is `Err(StepTimeout)`."""
    policy: Policy | None
    """A `Policy` bundling retry, timeout, guards, name and key; explicit options win."""
    breaker: Guard | None
    """A circuit breaker each attempt runs through."""
    limiter: Guard | None
    """A rate or concurrency limiter each attempt runs through (outside the breaker)."""


class StepOptions(_StepLabels, _Retrying, _AsyncGuards, total=False, closed=True):
    """Every option of an async step: `step(op, **options)`.

    Wrappers that forward step options declare `**options: Unpack[StepOptions]`.
    """


class StepOptionsWithoutRetry(_StepLabels, _AsyncGuards, total=False, closed=True):
    """Every async step option but `retry`: what a bare awaitable (awaited once) takes."""


class SyncStepOptions(_StepLabels, _Retrying, total=False, closed=True):
    """The options of a `SyncStep` step: labels and `retry` (no timeout, policy or guards)."""


ONE_SHOT_NOTE = (
    "runs once: a policy's retries need a callable, and a coroutine object can be awaited only once"
)
"""The `step_start` note of a bare awaitable whose policy asked for retries."""

STEP_OPTION_NAMES: frozenset[str] = StepOptions.__optional_keys__
"""The names `StepOptions` declares, for checking keywords at run time."""

SYNC_STEP_OPTION_NAMES: frozenset[str] = SyncStepOptions.__optional_keys__
"""The names `SyncStepOptions` declares, for checking a `SyncStep`'s keywords at run time."""


def unknown_options_message(
    options: Mapping[str, object], known: frozenset[str], what: str = "a step"
) -> str:
    """The TypeError message for keywords that are not step options."""
    unknown = ", ".join(sorted(set(options) - known))
    return f"unknown step option(s): {unknown}; {what} takes {', '.join(sorted(known))}"


_LABEL_OPTION_NAMES: frozenset[str] = frozenset({"key", "name"})
_PLAIN_SPEC = StepSpec()  # shared: a StepSpec is never changed once built


def build_spec(run: RunState, op: object, /, **options: Unpack[StepOptions]) -> StepSpec:
    """Resolve run defaults, the step's policy and its explicit options into a `StepSpec`.

    Raises TypeError for an unknown option (the checkers reject it too, but a `**dict`
    or untyped code can still pass one), and when the resolved options retry a bare
    awaitable (it can be awaited only once); the awaitable is closed first.
    """
    keys = options.keys()
    if not run.defaults and keys <= _LABEL_OPTION_NAMES:
        # The common case on the hot path (`key=` and/or `name=`, or nothing): no
        # policy to resolve, nothing to check beyond the names.
        if not options:
            return _PLAIN_SPEC
        return StepSpec(key=options.get("key"), name=options.get("name"))
    if not keys <= STEP_OPTION_NAMES:
        discard(op)
        raise TypeError(unknown_options_message(options, STEP_OPTION_NAMES))
    key = options.get("key")
    name = options.get("name")
    retry = options.get("retry")
    timeout = options.get("timeout")
    policy = options.get("policy")
    breaker = options.get("breaker")
    limiter = options.get("limiter")
    ttl = options.get("ttl")
    description = options.get("description")
    cache_errors = options.get("cache_errors", True)
    if (
        retry is None
        and timeout is None
        and policy is None
        and breaker is None
        and limiter is None
        and not run.defaults
    ):
        return StepSpec(
            key=key, name=name, ttl=ttl, description=description, cache_errors=cache_errors
        )
    if policy is None and not run.defaults:
        retry_policy = None
        if retry is not None:
            from resultflow.reliability._retry import RetryPolicy

            retry_policy = RetryPolicy.coerce(retry)
        spec = StepSpec(
            key=key,
            name=name,
            retry=retry_policy,
            timeout=None if timeout is None else Timeout.coerce(timeout),
            guards=tuple(g for g in (limiter, breaker) if g is not None),
            ttl=ttl,
            description=description,
            cache_errors=cache_errors,
        )
    else:
        from resultflow.reliability._policies import resolve_step_options

        resolved = resolve_step_options(
            run.defaults,
            policy,
            key=key,
            name=name,
            retry=retry,
            timeout=timeout,
            breaker=breaker,
            limiter=limiter,
        )
        spec = spec_from_policy(
            resolved, ttl=ttl, description=description, cache_errors=cache_errors
        )
    if spec.retry is not None and is_bare_awaitable(op):
        if retry is None:
            # The retries come from a policy, not from this step: a policy must never
            # turn a working step into a failure. The awaitable runs once, and the
            # step's events say so; callables under the same policy get the retries.
            return spec.run_once(ONE_SHOT_NOTE)
        discard(op)
        raise TypeError(
            "a step with retry= needs a zero-argument callable that creates the operation "
            "anew for each attempt (e.g. `lambda: fetch(id)`), not an awaitable that can "
            "only be awaited once"
        )
    return spec


def build_sync_spec(run: RunState, op: object, /, **options: Unpack[SyncStepOptions]) -> StepSpec:
    """`build_spec` for a `SyncStep`: the async-only options are refused at run time too."""
    if not options.keys() <= SYNC_STEP_OPTION_NAMES:
        raise TypeError(unknown_options_message(options, SYNC_STEP_OPTION_NAMES, "a SyncStep"))
    return build_spec(run, op, **options)
