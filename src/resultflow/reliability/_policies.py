"""Policies: immutable bundles of step options, and the ways to combine and name them.

A `Policy` gathers what a step needs to be reliable — retry, timeout, circuit breaker,
limiter — plus its name, key and key prefix. Policies combine by `merge_policies`
(later wins, per field), are applied with `with_policy` / `with_policies` /
`apply_policies`, looked up by name in a `PolicyRegistry`, or built fluently with
`step_options()`. Every one of these returns a `Policy`, passed to a step as
`step(op, policy=...)`; `run(..., policies=[...])` sets run-wide defaults.

Ready-made policies live in `retry_policies`, `timeout_policies` and
`service_policies`; their numbers are in each namespace's docstring.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypedDict

from typing_extensions import Unpack

from resultflow.errors import ResultflowError
from resultflow.reliability._guard import Guard
from resultflow.reliability._retry import Backoff, RetryPolicy
from resultflow.reliability._timeout import Timeout

__all__ = [
    "Policy",
    "PolicyApplier",
    "PolicyOverrides",
    "PolicyRegistry",
    "StepOptionsBuilder",
    "UnknownPolicyError",
    "apply_policies",
    "merge_policies",
    "resolve_step_options",
    "retry_policies",
    "service_policies",
    "step_options",
    "timeout_policies",
    "with_policies",
    "with_policy",
]


@dataclass(frozen=True, slots=True)
class Policy:
    """An immutable bundle of step options; a None field means "not set here".

    - `retry`: a `RetryPolicy` (how often and how long to wait);
    - `timeout`: seconds, or a `Timeout` (per attempt by default);
    - `breaker` / `limiter`: a `Guard` (`CircuitBreaker`, `RateLimiter`, ...) that each
      attempt runs through;
    - `name`: the step's name in events; `key`: its cache / resume key;
    - `key_prefix`: prepended to the key (`f"{key_prefix}{key}"`) when the step runs.
    """

    retry: RetryPolicy | None = None
    timeout: float | Timeout | None = None
    breaker: Guard | None = None
    limiter: Guard | None = None
    name: str | None = None
    key: str | None = None
    key_prefix: str | None = None

    def __post_init__(self) -> None:
        _check_policy(self)


def _check_policy(policy: Policy) -> None:
    """Reject values of the wrong kind early, with the field's name in the message."""
    _check_retry(policy.retry)
    _check_timeout(policy.timeout)
    for name in ("breaker", "limiter"):
        guard: object = getattr(policy, name)
        if guard is not None and not isinstance(guard, Guard):
            raise TypeError(
                f"Policy.{name} takes a Guard (with name and call_result), got {guard!r}"
            )
    for name in ("name", "key", "key_prefix"):
        text: object = getattr(policy, name)
        if text is not None and not isinstance(text, str):
            raise TypeError(f"Policy.{name} takes a str, got {text!r}")


def _require_policy(policy: object) -> None:
    if not isinstance(policy, Policy):
        raise TypeError(f"expected a Policy, got {policy!r}")


def _check_retry(retry: object) -> None:
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(
            f"Policy.retry takes a RetryPolicy, got {retry!r} "
            "(use RetryPolicy(attempts=n), or retry=n in with_policy / step)"
        )


def _check_timeout(timeout: object) -> None:
    if timeout is None or isinstance(timeout, Timeout):
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"Policy.timeout takes seconds or a Timeout, got {timeout!r}")
    if not timeout > 0:
        raise ValueError(f"a timeout must be positive, got {timeout!r}")


class PolicyOverrides(TypedDict, total=False):
    """Step options given as keywords; None (or leaving one out) changes nothing.

    `retry` also takes a number of attempts (`retry=3` means `RetryPolicy(attempts=3)`).
    """

    retry: int | RetryPolicy | None
    timeout: float | Timeout | None
    breaker: Guard | None
    limiter: Guard | None
    name: str | None
    key: str | None
    key_prefix: str | None


# -- combining ---------------------------------------------------------------------------
def merge_policies(*policies: Policy) -> Policy:
    """Combine policies field by field; for each field the last non-None value wins.

    A later `retry` replaces the earlier `RetryPolicy` as a whole (no deep merge).
    """
    if len(policies) == 1:
        return policies[0]
    merged = Policy()
    for policy in policies:
        merged = Policy(
            retry=merged.retry if policy.retry is None else policy.retry,
            timeout=merged.timeout if policy.timeout is None else policy.timeout,
            breaker=merged.breaker if policy.breaker is None else policy.breaker,
            limiter=merged.limiter if policy.limiter is None else policy.limiter,
            name=merged.name if policy.name is None else policy.name,
            key=merged.key if policy.key is None else policy.key,
            key_prefix=merged.key_prefix if policy.key_prefix is None else policy.key_prefix,
        )
    return merged


def with_policy(policy: Policy, /, **overrides: Unpack[PolicyOverrides]) -> Policy:
    """Return `policy` with some options replaced: `with_policy(p, name="fetch", key="u:1")`."""
    return merge_policies(policy, _from_overrides(overrides))


def with_policies(policies: Iterable[Policy], /, **overrides: Unpack[PolicyOverrides]) -> Policy:
    """Merge `policies` in order, then apply `overrides`: `with_policies([a, b], name="x")`."""
    return merge_policies(*policies, _from_overrides(overrides))


@dataclass(frozen=True, slots=True)
class PolicyApplier:
    """Consistent defaults: `applier(**overrides)` merges the defaults with the overrides.

    Made by `apply_policies(*defaults)`; `applier(name="fetch", retry=5)` returns a
    `Policy`.
    """

    defaults: Policy = Policy()

    def __call__(self, **overrides: Unpack[PolicyOverrides]) -> Policy:
        """Return the defaults with `overrides` applied."""
        return merge_policies(self.defaults, _from_overrides(overrides))


def apply_policies(*defaults: Policy) -> PolicyApplier:
    """Return a function `(**overrides) -> Policy` that starts from the merged `defaults`."""
    return PolicyApplier(merge_policies(*defaults) if defaults else Policy())


def resolve_step_options(
    defaults: Sequence[Policy], policy: Policy | None, **explicit: Unpack[PolicyOverrides]
) -> Policy:
    """The effective options of one step: run defaults, then its policy, then explicit options.

    Later wins per field. The result has the key prefix already applied
    (`key=f"{key_prefix}{key}"`, `key_prefix=None`); a prefix without a key is dropped.
    """
    layers = [*defaults]
    if policy is not None:
        layers.append(policy)
    if any(value is not None for value in explicit.values()):
        layers.append(_from_overrides(explicit))
    merged = merge_policies(*layers) if layers else _EMPTY
    if merged.key_prefix is None:
        return merged
    key = None if merged.key is None else f"{merged.key_prefix}{merged.key}"
    return dataclasses.replace(merged, key=key, key_prefix=None)


# -- naming --------------------------------------------------------------------------
class UnknownPolicyError(ResultflowError, KeyError):
    """`PolicyRegistry.apply` or `get` was asked for a name nobody registered."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        names = ", ".join(repr(n) for n in known) or "none"
        self.name = name
        self.message = f"no policy named {name!r}; registered policies: {names}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class PolicyRegistry:
    """Named policies, so a code base spells each reliability rule once.

    `registry.register("api", service_policies.http_api)`, then
    `step(op, policy=registry.apply("api", name="fetch"))`.
    """

    __slots__ = ("_policies",)

    def __init__(self, policies: Mapping[str, Policy] | None = None) -> None:
        self._policies: dict[str, Policy] = {}
        for name, policy in (policies or {}).items():
            self.register(name, policy)

    def register(self, name: str, policy: Policy, *, replace: bool = False) -> Policy:
        """Store `policy` under `name` and return it.

        Registering a taken name raises `ValueError` unless `replace=True`.
        """
        _require_policy(policy)
        if name in self._policies and not replace:
            raise ValueError(f"a policy named {name!r} is already registered; pass replace=True")
        self._policies[name] = policy
        return policy

    def get(self, name: str) -> Policy:
        """The policy registered as `name`; `UnknownPolicyError` (a KeyError) if none."""
        try:
            return self._policies[name]
        except KeyError:
            raise UnknownPolicyError(name, self._policies) from None

    def apply(self, name: str, /, **overrides: Unpack[PolicyOverrides]) -> Policy:
        """The policy registered as `name`, with `overrides` applied."""
        return with_policy(self.get(name), **overrides)

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._policies)

    def __contains__(self, name: object) -> bool:
        return name in self._policies

    def __len__(self) -> int:
        return len(self._policies)

    def __repr__(self) -> str:
        return f"PolicyRegistry({self.names()!r})"


# -- fluent builder ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StepOptionsBuilder:
    """A fluent, immutable builder of a `Policy`; every method returns a new builder.

    `step_options().name("fetch").key("user:1").timeout(5).attempts(3).build()`.
    Because builders are immutable, a partly built one can be shared as a template.
    """

    policy: Policy = Policy()

    def name(self, name: str) -> StepOptionsBuilder:
        """Set the step's name."""
        return self._with(name=name)

    def key(self, key: str) -> StepOptionsBuilder:
        """Set the step's cache / resume key."""
        return self._with(key=key)

    def key_prefix(self, prefix: str) -> StepOptionsBuilder:
        """Set a prefix prepended to the key when the step runs."""
        return self._with(key_prefix=prefix)

    def timeout(self, seconds: float | Timeout) -> StepOptionsBuilder:
        """Set the timeout: seconds (per attempt) or a `Timeout`."""
        return self._with(timeout=seconds)

    def retry(self, retry: int | RetryPolicy) -> StepOptionsBuilder:
        """Set the whole retry policy (or a number of attempts with the default backoff)."""
        return self._with(retry=RetryPolicy.coerce(retry))

    def attempts(self, attempts: int) -> StepOptionsBuilder:
        """Set the number of attempts, keeping the rest of the retry policy.

        This replaces a tenacity `stop=` given earlier.
        """
        return self._with(retry=dataclasses.replace(self._retry(), attempts=attempts, stop=None))

    def backoff(
        self,
        backoff: Backoff,
        *,
        initial: float | None = None,
        max_delay: float | None = None,
        multiplier: float | None = None,
        jitter: bool | float | None = None,
    ) -> StepOptionsBuilder:
        """Set how the delay grows, keeping what is not given; replaces a tenacity `wait=`."""
        current = self._retry()
        retry = dataclasses.replace(
            current,
            backoff=backoff,
            initial=current.initial if initial is None else initial,
            max_delay=current.max_delay if max_delay is None else max_delay,
            multiplier=current.multiplier if multiplier is None else multiplier,
            jitter=current.jitter if jitter is None else jitter,
            wait=None,
        )
        return self._with(retry=retry)

    def retry_on(self, predicate: Callable[[object], bool]) -> StepOptionsBuilder:
        """Retry only the errors for which `predicate(error)` is true."""
        return self._with(retry=dataclasses.replace(self._retry(), retry_on=predicate))

    def retry_on_timeout(self, enabled: bool = True) -> StepOptionsBuilder:
        """Also retry attempts that timed out."""
        return self._with(retry=dataclasses.replace(self._retry(), retry_on_timeout=enabled))

    def breaker(self, breaker: Guard) -> StepOptionsBuilder:
        """Run each attempt through a circuit breaker."""
        return self._with(breaker=breaker)

    def limiter(self, limiter: Guard) -> StepOptionsBuilder:
        """Run each attempt through a rate or concurrency limiter."""
        return self._with(limiter=limiter)

    def apply(self, *policies: Policy) -> StepOptionsBuilder:
        """Merge whole policies into what was built so far (later wins)."""
        return StepOptionsBuilder(merge_policies(self.policy, *policies))

    def build(self) -> Policy:
        """Return the `Policy` built so far."""
        return self.policy

    def _retry(self) -> RetryPolicy:
        return self.policy.retry if self.policy.retry is not None else RetryPolicy()

    def _with(self, **overrides: Unpack[PolicyOverrides]) -> StepOptionsBuilder:
        return StepOptionsBuilder(merge_policies(self.policy, _from_overrides(overrides)))


def step_options() -> StepOptionsBuilder:
    """Start a fluent `Policy` builder: `step_options().name("fetch").attempts(3).build()`."""
    return StepOptionsBuilder()


# -- internals -----------------------------------------------------------------------
def _from_overrides(overrides: PolicyOverrides) -> Policy:
    """The keyword options as a `Policy` (an int `retry` becomes a `RetryPolicy`)."""
    retry = overrides.get("retry")
    return Policy(
        retry=None if retry is None else RetryPolicy.coerce(retry),
        timeout=overrides.get("timeout"),
        breaker=overrides.get("breaker"),
        limiter=overrides.get("limiter"),
        name=overrides.get("name"),
        key=overrides.get("key"),
        key_prefix=overrides.get("key_prefix"),
    )


# -- presets -------------------------------------------------------------------------
_EMPTY: Final = Policy()


class RetryPolicies:
    """Ready-made retry policies (`Policy` instances carrying only `retry`).

    | preset | attempts | backoff | initial | max delay | jitter |
    | --- | --- | --- | --- | --- | --- |
    | `none` | 1 | - | - | - | - |
    | `transient` | 3 | exponential x2 | 0.1 s | 1 s | full |
    | `standard` | 3 | exponential x2 | 0.2 s | 5 s | full |
    | `aggressive` | 5 | exponential x2 | 0.5 s | 30 s | full |
    | `fixed(n, d)` | n | fixed | d | - | none |
    | `linear(n, d)` | n | linear | d | 30 s | full |
    """

    __slots__ = ()

    none: Final = Policy(retry=RetryPolicy(attempts=1, jitter=False))
    """No retry: one attempt."""
    transient: Final = Policy(retry=RetryPolicy(attempts=3, initial=0.1, max_delay=1.0))
    """Brief hiccups: 3 attempts, exponential from 0.1 s, at most 1 s, jittered."""
    standard: Final = Policy(retry=RetryPolicy(attempts=3, initial=0.2, max_delay=5.0))
    """API calls: 3 attempts, exponential from 0.2 s, at most 5 s, jittered."""
    aggressive: Final = Policy(retry=RetryPolicy(attempts=5, initial=0.5, max_delay=30.0))
    """Critical operations: 5 attempts, exponential from 0.5 s, at most 30 s, jittered."""

    @staticmethod
    def fixed(attempts: int, delay: float) -> Policy:
        """`attempts` tries, `delay` seconds apart, no jitter (polling)."""
        return Policy(
            retry=RetryPolicy(attempts=attempts, backoff="fixed", initial=delay, jitter=False)
        )

    @staticmethod
    def linear(attempts: int, delay: float) -> Policy:
        """`attempts` tries waiting `delay`, `2 * delay`, ... (at most 30 s), jittered."""
        return Policy(retry=RetryPolicy(attempts=attempts, backoff="linear", initial=delay))


class TimeoutPolicies:
    """Ready-made timeouts (`Policy` instances carrying only `timeout`, per attempt).

    `fast` 1 s, `api` 5 s, `extended` 30 s, `long` 120 s, `seconds(x)` x s.
    """

    __slots__ = ()

    fast: Final = Policy(timeout=1.0)
    """Quick operations: 1 s."""
    api: Final = Policy(timeout=5.0)
    """Typical API calls: 5 s."""
    extended: Final = Policy(timeout=30.0)
    """Slower operations: 30 s."""
    long: Final = Policy(timeout=120.0)
    """Batch work: 120 s."""

    @staticmethod
    def seconds(seconds: float) -> Policy:
        """A timeout of `seconds`."""
        return Policy(timeout=seconds)


class ServicePolicies:
    """Ready-made timeout + retry combinations per kind of dependency.

    | preset | timeout | attempts | backoff |
    | --- | --- | --- | --- |
    | `http_api` | 5 s | 3 | exponential from 0.2 s, max 5 s (`retry_policies.standard`) |
    | `database` | 30 s | 2 | exponential from 0.1 s, max 2 s |
    | `cache` | 1 s | 1 | none |
    | `message_queue` | 30 s | 5 | exponential from 0.5 s, max 30 s (`aggressive`) |
    | `file_system` | 120 s | 3 | exponential from 0.2 s, max 5 s (`standard`) |
    | `rate_limited` | 10 s | 5 | linear from 1 s, max 10 s |

    All backoffs are jittered. Breakers and limiters are stateful, so they are never
    part of a preset: add yours with `with_policy(preset, breaker=...)`.
    """

    __slots__ = ()

    http_api: Final = merge_policies(TimeoutPolicies.api, RetryPolicies.standard)
    """External HTTP APIs: 5 s timeout, 3 attempts."""
    database: Final = merge_policies(
        TimeoutPolicies.extended,
        Policy(retry=RetryPolicy(attempts=2, initial=0.1, max_delay=2.0)),
    )
    """Database calls: 30 s timeout, 2 attempts."""
    cache: Final = merge_policies(TimeoutPolicies.fast, RetryPolicies.none)
    """Cache reads and writes: 1 s timeout, no retry."""
    message_queue: Final = merge_policies(TimeoutPolicies.extended, RetryPolicies.aggressive)
    """Message queues: 30 s timeout, 5 attempts."""
    file_system: Final = merge_policies(TimeoutPolicies.long, RetryPolicies.standard)
    """File operations: 120 s timeout, 3 attempts."""
    rate_limited: Final = Policy(
        timeout=10.0,
        retry=RetryPolicy(attempts=5, backoff="linear", initial=1.0, max_delay=10.0),
    )
    """Rate-limited third parties: 10 s timeout, 5 attempts, linear backoff from 1 s."""


retry_policies: Final = RetryPolicies()
"""Ready-made retry policies: `none`, `transient`, `standard`, `aggressive`, `fixed`, `linear`."""

timeout_policies: Final = TimeoutPolicies()
"""Ready-made timeouts: `fast` (1 s), `api` (5 s), `extended` (30 s), `long` (120 s), `seconds`."""

service_policies: Final = ServicePolicies()
"""Ready-made service policies: `http_api`, `database`, `cache`, `message_queue`, ..."""
