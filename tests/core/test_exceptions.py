"""The exception tree: one root, one StoreError for every store, public names.

Error *values* are TaggedErrors (tests/core/test_errors.py); this file is about what
resultflow *raises*.
"""

from __future__ import annotations

import pytest

import resultflow
import resultflow.errors as errors
import resultflow.persistence as persistence
import resultflow.reliability as reliability
import resultflow.result as result
from resultflow.errors import (
    AmbiguousTagError,
    BreakerStoreError,
    CircuitOpen,
    CircuitOpenError,
    LimiterStoreError,
    RateLimited,
    RateLimitedError,
    ResultflowError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    UnexpectedError,
    UnknownTagError,
    UnwrapError,
    qualified_exception_name,
)
from resultflow.persistence import (
    CorruptEntryError,
    SerializationError,
    StateDecodeError,
    StateFormatError,
)


def test_every_exception_in_the_tree_derives_from_resultflow_error() -> None:
    for cls in (
        UnwrapError,
        UnknownTagError,
        AmbiguousTagError,
        CircuitOpenError,
        RateLimitedError,
        StoreError,
        StoreUnavailableError,
        StoreClosedError,
        CorruptEntryError,
        BreakerStoreError,
        LimiterStoreError,
        SerializationError,
        StateDecodeError,
    ):
        assert issubclass(cls, ResultflowError), cls
    # ...keeping the standard bases code may already catch them by.
    assert issubclass(UnknownTagError, LookupError)
    assert issubclass(AmbiguousTagError, LookupError)
    assert issubclass(StateDecodeError, ValueError)
    assert issubclass(ResultflowError, Exception)


def test_one_store_error_for_every_kind_of_store() -> None:
    for cls in (
        StoreUnavailableError,
        StoreClosedError,
        CorruptEntryError,
        BreakerStoreError,
        LimiterStoreError,
    ):
        assert issubclass(cls, StoreError), cls
    caught: list[str] = []
    for failure in (
        StoreUnavailableError("postgres", "connection refused"),
        StoreClosedError("sqlite"),
        CorruptEntryError("file", "k", "not JSON"),
        BreakerStoreError("Redis store at redis://h:6379 failed", backend="redis"),
        LimiterStoreError("Redis store at redis://h:6379 failed", backend="redis"),
    ):
        try:
            raise failure
        except StoreError as exc:
            caught.append(exc.backend)
    assert caught == ["postgres", "sqlite", "file", "redis", "redis"]


def test_breaker_and_limiter_store_errors_keep_their_one_argument_form() -> None:
    # The Redis stores (and custom stores) raise them with a message alone.
    breaker = BreakerStoreError("breaker 'x': Redis store failed during admit")
    assert (breaker.backend, breaker.detail) == (
        "breaker store",
        "breaker 'x': Redis store failed during admit",
    )
    assert str(breaker) == "breaker store: breaker 'x': Redis store failed during admit"
    limiter = LimiterStoreError("unexpected reply", backend="redis")
    assert (limiter.backend, limiter.detail, str(limiter)) == (
        "redis",
        "unexpected reply",
        "redis: unexpected reply",
    )
    corrupt = CorruptEntryError("sqlite", "run:1", "bad", error=StateFormatError("bad"))
    assert (corrupt.key, corrupt.detail, corrupt.error) == ("run:1", "bad", StateFormatError("bad"))


def test_guard_refusals_carry_their_error_value() -> None:
    open_error = CircuitOpenError(CircuitOpen("payments", 1.5))
    assert open_error.error == CircuitOpen("payments", 1.5)
    assert str(open_error) == "circuit breaker 'payments' is open; retry after 1.500 s"
    limited = RateLimitedError(RateLimited("api", None))
    assert limited.error == RateLimited("api", None)
    assert str(limited) == "limiter 'api' refused the call"


def test_names_stay_importable_from_where_they_were_exported() -> None:
    assert result.UnwrapError is resultflow.UnwrapError is errors.UnwrapError
    assert reliability.BreakerStoreError is errors.BreakerStoreError
    assert reliability.LimiterStoreError is errors.LimiterStoreError
    assert reliability.CircuitOpenError is errors.CircuitOpenError
    assert reliability.RateLimitedError is errors.RateLimitedError
    assert persistence.StoreError is errors.StoreError is resultflow.StoreError
    assert persistence.StoreUnavailableError is errors.StoreUnavailableError
    assert persistence.StoreClosedError is errors.StoreClosedError
    assert resultflow.ResultflowError is ResultflowError
    from resultflow.persistence._kv import CorruptEntryError as from_kv
    from resultflow.reliability._breaker_store import BreakerStoreError as from_store
    from resultflow.reliability._limiters.store import LimiterStoreError as from_limiter

    assert from_kv is CorruptEntryError
    assert from_store is BreakerStoreError
    assert from_limiter is LimiterStoreError


@pytest.mark.parametrize(
    ("exc", "name"),
    [
        (ValueError("x"), "ValueError"),
        (BreakerStoreError("down"), "resultflow.errors.BreakerStoreError"),
        (LimiterStoreError("down"), "resultflow.errors.LimiterStoreError"),
        (CircuitOpenError(CircuitOpen("b", 1.0)), "resultflow.errors.CircuitOpenError"),
        # Defined in a private module, named by the package that exports it.
        (CorruptEntryError("file", "k", "bad"), "resultflow.persistence.CorruptEntryError"),
        (SerializationError("no", path="$"), "resultflow.persistence.SerializationError"),
    ],
)
def test_unexpected_error_names_the_exception_by_its_public_path(exc: Exception, name: str) -> None:
    assert qualified_exception_name(type(exc)) == name
    assert UnexpectedError.from_exception(exc).exception_type == name


def test_a_private_module_class_that_no_package_exports_keeps_its_real_path() -> None:
    from resultflow.reliability._policies import UnknownPolicyError

    assert (
        qualified_exception_name(UnknownPolicyError) == "resultflow.reliability.UnknownPolicyError"
    )

    class Local(Exception):
        pass

    Local.__module__ = "resultflow.reliability._nowhere"
    assert qualified_exception_name(Local) == (
        f"resultflow.reliability._nowhere.{Local.__qualname__}"
    )
