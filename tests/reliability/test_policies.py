"""Policies: merging, applying, the registry, the builder, presets, per-step resolution."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

import pytest

from resultflow.errors import CircuitOpen
from resultflow.reliability._policies import (
    Policy,
    PolicyApplier,
    PolicyRegistry,
    UnknownPolicyError,
    apply_policies,
    merge_policies,
    resolve_step_options,
    retry_policies,
    service_policies,
    step_options,
    timeout_policies,
    with_policies,
    with_policy,
)
from resultflow.reliability._retry import RetryPolicy
from resultflow.reliability._timeout import Timeout
from resultflow.result import Err, Ok


class FakeGuard:
    """A minimal Guard that admits every call."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def call_result(
        self, fn: Callable[[], Awaitable[Ok[object] | Err[object]]]
    ) -> Ok[object] | Err[object]:
        return await fn()


def retry_numbers(policy: Policy) -> tuple[int, str, float, float, bool | float]:
    retry = policy.retry
    assert retry is not None
    return (retry.attempts, retry.backoff, retry.initial, retry.max_delay, retry.jitter)


# -- Policy --------------------------------------------------------------------------
def test_an_empty_policy_sets_nothing() -> None:
    assert Policy() == Policy(None, None, None, None, None, None, None)


def test_policy_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Policy().name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"retry": 3}, TypeError, "RetryPolicy"),
        ({"timeout": 0}, ValueError, "positive"),
        ({"timeout": -1.0}, ValueError, "positive"),
        ({"timeout": "5"}, TypeError, "seconds or a Timeout"),
        ({"breaker": object()}, TypeError, "Guard"),
        ({"limiter": "api"}, TypeError, "Guard"),
        ({"name": 1}, TypeError, "str"),
        ({"key_prefix": b"x"}, TypeError, "str"),
    ],
)
def test_policy_rejects_wrong_values(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Policy(**kwargs)  # type: ignore[arg-type]


def test_policy_accepts_guards_and_timeout_objects() -> None:
    guard = FakeGuard("b")
    policy = Policy(breaker=guard, limiter=guard, timeout=Timeout(2.0, per_attempt=False))
    assert policy.breaker is guard
    assert policy.timeout == Timeout(2.0, per_attempt=False)


# -- merge ---------------------------------------------------------------------------
def test_merge_later_wins_per_field_and_none_keeps_earlier() -> None:
    a = Policy(retry=RetryPolicy(attempts=2), timeout=1.0, name="a", key="ka")
    b = Policy(timeout=2.0, name=None, key_prefix="p:")
    c = Policy(name="c")
    merged = merge_policies(a, b, c)
    assert merged == Policy(
        retry=RetryPolicy(attempts=2), timeout=2.0, name="c", key="ka", key_prefix="p:"
    )


def test_merge_replaces_the_whole_retry_policy() -> None:
    a = Policy(retry=RetryPolicy(attempts=5, backoff="linear", initial=2.0))
    b = Policy(retry=RetryPolicy(attempts=2))
    assert merge_policies(a, b).retry == RetryPolicy(attempts=2)


def test_merge_of_nothing_and_of_one() -> None:
    only = Policy(name="x")
    assert merge_policies() == Policy()
    assert merge_policies(only) is only


def test_merge_keeps_guard_identity() -> None:
    breaker, limiter = FakeGuard("b"), FakeGuard("l")
    merged = merge_policies(Policy(breaker=breaker), Policy(limiter=limiter))
    assert merged.breaker is breaker
    assert merged.limiter is limiter


# -- with_policy / with_policies / apply_policies --------------------------------------
def test_with_policy_overrides_name_and_key() -> None:
    policy = with_policy(service_policies.http_api, name="fetch", key="user:1")
    assert policy.name == "fetch"
    assert policy.key == "user:1"
    assert policy.timeout == 5.0
    assert policy.retry == service_policies.http_api.retry


def test_with_policy_takes_retry_as_attempts_and_ignores_none() -> None:
    policy = with_policy(timeout_policies.api, retry=4, timeout=None)
    assert policy.retry == RetryPolicy(attempts=4)
    assert policy.timeout == 5.0


def test_with_policies_merges_in_order_then_applies_overrides() -> None:
    policy = with_policies(
        [timeout_policies.fast, retry_policies.standard, timeout_policies.long], name="sync"
    )
    assert policy.timeout == 120.0
    assert policy.retry == retry_policies.standard.retry
    assert policy.name == "sync"


def test_apply_policies_gives_consistent_defaults() -> None:
    applier = apply_policies(timeout_policies.api, retry_policies.transient)
    assert isinstance(applier, PolicyApplier)
    one = applier(name="a")
    two = applier(name="b", timeout=9.0)
    assert (one.timeout, one.name, one.retry) == (5.0, "a", retry_policies.transient.retry)
    assert (two.timeout, two.name) == (9.0, "b")
    assert apply_policies()() == Policy()


# -- registry ------------------------------------------------------------------------
def test_registry_applies_named_policies_with_overrides() -> None:
    registry = PolicyRegistry({"api": service_policies.http_api})
    registry.register("db", service_policies.database)
    assert registry.names() == ["api", "db"]
    assert "db" in registry
    assert "cache" not in registry
    assert len(registry) == 2
    policy = registry.apply("db", name="load", key="order:9")
    assert (policy.timeout, policy.name, policy.key) == (30.0, "load", "order:9")
    assert registry.get("api") is service_policies.http_api


def test_registry_miss_is_a_key_error_listing_known_names() -> None:
    registry = PolicyRegistry()
    registry.register("api", service_policies.http_api)
    registry.register("db", service_policies.database)
    with pytest.raises(KeyError) as info:
        registry.apply("cache")
    error = info.value
    assert isinstance(error, UnknownPolicyError)
    assert error.name == "cache"
    assert str(error) == "no policy named 'cache'; registered policies: 'api', 'db'"


def test_registry_miss_on_an_empty_registry() -> None:
    with pytest.raises(UnknownPolicyError, match="registered policies: none"):
        PolicyRegistry().get("x")


def test_registry_refuses_silent_replacement() -> None:
    registry = PolicyRegistry()
    registry.register("api", timeout_policies.api)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("api", timeout_policies.fast)
    registry.register("api", timeout_policies.fast, replace=True)
    assert registry.get("api") is timeout_policies.fast


def test_registry_only_stores_policies() -> None:
    with pytest.raises(TypeError, match="Policy"):
        PolicyRegistry().register("x", RetryPolicy())  # type: ignore[arg-type]


# -- builder -------------------------------------------------------------------------
def test_builder_builds_a_policy() -> None:
    breaker, limiter = FakeGuard("b"), FakeGuard("l")
    policy = (
        step_options()
        .name("fetch")
        .key("user:1")
        .key_prefix("svc:")
        .timeout(5)
        .attempts(3)
        .breaker(breaker)
        .limiter(limiter)
        .build()
    )
    assert policy == Policy(
        retry=RetryPolicy(attempts=3),
        timeout=5,
        breaker=breaker,
        limiter=limiter,
        name="fetch",
        key="user:1",
        key_prefix="svc:",
    )


def test_builder_combines_attempts_and_backoff() -> None:
    policy = (
        step_options()
        .backoff("linear", initial=0.5, max_delay=2.0, jitter=False)
        .attempts(6)
        .retry_on_timeout()
        .build()
    )
    assert policy.retry == RetryPolicy(
        attempts=6,
        backoff="linear",
        initial=0.5,
        max_delay=2.0,
        jitter=False,
        retry_on_timeout=True,
    )
    assert policy.retry is not None
    assert policy.retry.next_delay(5, 0.0) == 2.0


def test_builder_retry_replaces_and_accepts_an_int() -> None:
    assert step_options().attempts(9).retry(2).build().retry == RetryPolicy(attempts=2)
    custom = RetryPolicy(attempts=4, backoff="fixed")
    assert step_options().retry(custom).build().retry is custom


def test_builder_retry_on_keeps_other_retry_settings() -> None:
    def only_circuit(error: object) -> bool:
        return isinstance(error, CircuitOpen)

    policy = step_options().attempts(4).retry_on(only_circuit).build()
    assert policy.retry is not None
    assert policy.retry.attempts == 4
    assert policy.retry.should_retry(CircuitOpen("b", 1.0))
    assert not policy.retry.should_retry("other")


def test_builder_is_immutable_so_it_can_be_a_template() -> None:
    base = step_options().timeout(2.0).attempts(2)
    a = base.name("a").build()
    b = base.name("b").build()
    assert (a.name, b.name) == ("a", "b")
    assert base.build().name is None


def test_builder_apply_merges_policies() -> None:
    policy = step_options().name("x").apply(service_policies.cache).build()
    assert policy == merge_policies(Policy(name="x"), service_policies.cache)


def test_builder_validates_through_the_policies() -> None:
    with pytest.raises(ValueError, match="attempts"):
        step_options().attempts(0)
    with pytest.raises(ValueError, match="positive"):
        step_options().timeout(-1)


# -- presets -------------------------------------------------------------------------
def test_retry_presets() -> None:
    assert retry_policies.none.retry is not None
    assert retry_policies.none.retry.attempts == 1
    assert retry_numbers(retry_policies.transient) == (3, "exponential", 0.1, 1.0, True)
    assert retry_numbers(retry_policies.standard) == (3, "exponential", 0.2, 5.0, True)
    assert retry_numbers(retry_policies.aggressive) == (5, "exponential", 0.5, 30.0, True)
    assert retry_numbers(retry_policies.fixed(4, 0.25)) == (4, "fixed", 0.25, 30.0, False)
    assert retry_numbers(retry_policies.linear(5, 1.0)) == (5, "linear", 1.0, 30.0, True)
    for preset in (retry_policies.none, retry_policies.transient, retry_policies.standard):
        assert preset.timeout is None


def test_timeout_presets() -> None:
    assert timeout_policies.fast == Policy(timeout=1.0)
    assert timeout_policies.api == Policy(timeout=5.0)
    assert timeout_policies.extended == Policy(timeout=30.0)
    assert timeout_policies.long == Policy(timeout=120.0)
    assert timeout_policies.seconds(7.5) == Policy(timeout=7.5)


def test_service_presets() -> None:
    expected = {
        "http_api": (5.0, (3, "exponential", 0.2, 5.0, True)),
        "database": (30.0, (2, "exponential", 0.1, 2.0, True)),
        "cache": (1.0, (1, "exponential", 0.1, 30.0, False)),
        "message_queue": (30.0, (5, "exponential", 0.5, 30.0, True)),
        "file_system": (120.0, (3, "exponential", 0.2, 5.0, True)),
        "rate_limited": (10.0, (5, "linear", 1.0, 10.0, True)),
    }
    for name, (timeout, retry) in expected.items():
        preset: Policy = getattr(service_policies, name)
        assert preset.timeout == timeout, name
        assert retry_numbers(preset) == retry, name
        assert (preset.breaker, preset.limiter, preset.name, preset.key) == (None,) * 4


def test_rate_limited_preset_schedule_is_linear_and_capped() -> None:
    retry = service_policies.rate_limited.retry
    assert retry is not None
    exact = dataclasses.replace(retry, jitter=False)
    assert [exact.next_delay(n, 0.0) for n in range(1, 6)] == [1.0, 2.0, 3.0, 4.0, None]


def test_presets_cannot_be_reassigned() -> None:
    with pytest.raises(AttributeError):
        retry_policies.standard = Policy()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        service_policies.extra = Policy()  # type: ignore[attr-defined]


# -- resolve_step_options ----------------------------------------------------------------
def test_resolution_order_is_defaults_then_policy_then_explicit() -> None:
    defaults = [
        Policy(timeout=30.0, retry=RetryPolicy(attempts=2), name="default"),
        Policy(timeout=20.0),
    ]
    policy = Policy(timeout=10.0, name="from-policy")
    resolved = resolve_step_options(defaults, policy, timeout=1.0, key="k")
    assert resolved == Policy(
        retry=RetryPolicy(attempts=2), timeout=1.0, name="from-policy", key="k"
    )


def test_explicit_none_options_do_not_clear_anything() -> None:
    resolved = resolve_step_options(
        [], Policy(name="n", timeout=3.0), retry=None, timeout=None, key=None, name=None
    )
    assert resolved == Policy(name="n", timeout=3.0)


def test_explicit_retry_int_means_attempts() -> None:
    resolved = resolve_step_options([retry_policies.standard], None, retry=7)
    assert resolved.retry == RetryPolicy(attempts=7)


def test_key_prefix_is_applied_once_to_the_effective_key() -> None:
    resolved = resolve_step_options([Policy(key_prefix="tenant-1:")], None, key="user:1")
    assert resolved.key == "tenant-1:user:1"
    assert resolved.key_prefix is None
    again = resolve_step_options([], resolved)
    assert again.key == "tenant-1:user:1"


def test_a_later_key_prefix_wins_and_a_prefix_without_key_is_dropped() -> None:
    resolved = resolve_step_options(
        [Policy(key_prefix="a:")], Policy(key_prefix="b:", key="x"), name="s"
    )
    assert resolved.key == "b:x"
    unkeyed = resolve_step_options([Policy(key_prefix="a:")], None)
    assert unkeyed == Policy()


def test_resolution_with_nothing_set_is_an_empty_policy() -> None:
    assert resolve_step_options([], None) == Policy()
    only = Policy(name="x")
    assert resolve_step_options([], only) is only
