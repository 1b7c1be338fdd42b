"""TaggedError (tags, registry, messages, dict round trips) and the library's errors.

The tag registry is process-wide, so every error class defined here has a name (or an
explicit tag) that no other test module uses.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import textwrap
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import pytest

from resultflow.errors import (
    AmbiguousTagError,
    ApprovalRejected,
    Cancelled,
    CircuitOpen,
    PendingApproval,
    RateLimited,
    SagaCompensationFailed,
    Skipped,
    StepTimeout,
    TaggedError,
    UnexpectedError,
    UnknownTagError,
    UnwrapError,
    WorkflowTimeout,
    registered_tags,
)
from resultflow.result import UnwrapError as ResultUnwrapError


class ErrorsTestNotFound(TaggedError):
    """No such item."""

    item_id: str


class ErrorsTestConflict(TaggedError):
    tag: ClassVar[str] = "errors-test/CONFLICT"
    version: int
    other: int = 0


class ErrorsTestWithMessage(TaggedError):
    message: str
    code: int = 400


class ErrorsTestEmpty(TaggedError):
    pass


@dataclasses.dataclass(frozen=True)
class ErrorsTestDecorated(TaggedError):
    value: int


class ErrorsTestBase(TaggedError):
    reason: str


class ErrorsTestChild(ErrorsTestBase):
    extra: int = 1


# -- tags and registry ---------------------------------------------------------------------
def test_default_tag_is_the_class_name() -> None:
    assert ErrorsTestNotFound.tag == "ErrorsTestNotFound"
    assert ErrorsTestNotFound("1").tag == "ErrorsTestNotFound"


def test_custom_tag() -> None:
    assert ErrorsTestConflict.tag == "errors-test/CONFLICT"
    assert ErrorsTestConflict(3).to_dict()["tag"] == "errors-test/CONFLICT"


def test_subclass_gets_its_own_tag() -> None:
    assert ErrorsTestChild.tag == "ErrorsTestChild"
    assert ErrorsTestBase.tag == "ErrorsTestBase"


def test_registry_lists_the_classes() -> None:
    tags = registered_tags()
    assert tags["ErrorsTestNotFound"] == (ErrorsTestNotFound,)
    assert tags["errors-test/CONFLICT"] == (ErrorsTestConflict,)
    assert tags["UnexpectedError"] == (UnexpectedError,)
    tags.clear()  # a copy: the registry itself is untouched
    assert "ErrorsTestNotFound" in registered_tags()


def _shared_tag_first() -> type[TaggedError]:
    class SharedFirst(TaggedError):
        tag: ClassVar[str] = "errors-test/SHARED"
        n: int

    return SharedFirst


def _shared_tag_second() -> type[TaggedError]:
    class SharedSecond(TaggedError):
        tag: ClassVar[str] = "errors-test/SHARED"
        n: int

    return SharedSecond


def test_classes_in_different_places_may_share_a_tag_but_a_bare_tag_is_ambiguous() -> None:
    first, second = _shared_tag_first(), _shared_tag_second()
    assert set(registered_tags()["errors-test/SHARED"]) >= {first, second}
    with pytest.raises(AmbiguousTagError) as info:
        TaggedError.from_dict({"tag": "errors-test/SHARED", "n": 1})
    assert "errors-test/SHARED" in str(info.value)
    assert first.class_name_of() in info.value.classes
    # The class name (as the codec stores it) or a specific base picks one.
    picked = TaggedError.from_dict(
        {"tag": "errors-test/SHARED", "n": 1}, class_name=second.class_name_of()
    )
    assert type(picked) is second
    assert type(second.from_dict({"tag": "errors-test/SHARED", "n": 2})) is second


def _write_module(directory: Path, name: str, body: str) -> ModuleType:
    (directory / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return importlib.import_module(name)


def test_same_named_classes_in_two_modules_both_load_and_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The everyday case: users.NotFound and orders.NotFound, both with the default tag.
    monkeypatch.syspath_prepend(str(tmp_path))
    body = """
        from resultflow.errors import TaggedError

        class ErrorsTestSameName(TaggedError):
            id: str
        """
    users = _write_module(tmp_path, "errors_test_users", body)
    orders = _write_module(tmp_path, "errors_test_orders", body)
    user_error = users.ErrorsTestSameName("u1")
    order_error = orders.ErrorsTestSameName("o1")
    assert user_error.tag == order_error.tag == "ErrorsTestSameName"
    for error in (user_error, order_error):
        data = json.loads(json.dumps(error.to_dict()))
        # While the tag names several loaded classes, to_dict says which one it is.
        assert data == {
            "tag": "ErrorsTestSameName",
            "class": type(error).class_name_of(),
            "id": data["id"],
        }
        restored = TaggedError.from_dict(data)
        assert type(restored) is type(error)
        assert restored == error
    # A bare tag (written while only one class was loaded) is still ambiguous here.
    with pytest.raises(AmbiguousTagError):
        TaggedError.from_dict({"tag": "ErrorsTestSameName", "id": "x"})


def test_two_explicit_equal_tags_round_trip_too() -> None:
    first, second = _shared_tag_first(), _shared_tag_second()
    for cls, n in ((first, 1), (second, 2)):
        error = cls(n=n)  # type: ignore[call-arg]
        data = error.to_dict()
        assert data["class"] == cls.class_name_of()
        assert type(TaggedError.from_dict(data)) is cls
        assert TaggedError.from_dict(data) == error


def test_an_unshared_tag_has_no_class_entry() -> None:
    assert ErrorsTestConflict(3).to_dict() == {
        "tag": "errors-test/CONFLICT",
        "version": 3,
        "other": 0,
    }
    # A stale or unknown class entry does not stop a unique tag from being found.
    data = {"tag": "errors-test/CONFLICT", "class": "gone.module:Old", "version": 3}
    assert TaggedError.from_dict(data) == ErrorsTestConflict(3)


def test_redefining_the_same_class_is_allowed() -> None:
    # Re-running a definition (a reloaded module, a test run twice) keeps one entry.
    def define() -> type[TaggedError]:
        class ErrorsTestRedefined(TaggedError):
            n: int

        return ErrorsTestRedefined

    first, second = define(), define()
    assert first is not second
    assert registered_tags()["ErrorsTestRedefined"] == (second,)


# -- dataclass behaviour -----------------------------------------------------------------------
def test_subclasses_are_frozen_dataclasses() -> None:
    error = ErrorsTestNotFound("42")
    assert dataclasses.is_dataclass(error)
    assert error.item_id == "42"
    with pytest.raises(dataclasses.FrozenInstanceError):
        error.item_id = "43"
    with pytest.raises(dataclasses.FrozenInstanceError):
        del error.item_id


def test_equality_and_hash_by_fields() -> None:
    assert ErrorsTestNotFound("1") == ErrorsTestNotFound("1")
    assert ErrorsTestNotFound("1") != ErrorsTestNotFound("2")
    assert hash(ErrorsTestNotFound("1")) == hash(ErrorsTestNotFound("1"))
    assert ErrorsTestBase("r") != ErrorsTestChild("r")


def test_repr_is_the_dataclass_repr() -> None:
    assert repr(ErrorsTestNotFound("1")) == "ErrorsTestNotFound(item_id='1')"
    assert repr(ErrorsTestEmpty()) == "ErrorsTestEmpty()"


def test_fields_are_checked_at_construction() -> None:
    with pytest.raises(TypeError):
        ErrorsTestNotFound()
    with pytest.raises(TypeError):
        ErrorsTestEmpty("unexpected")


def test_user_dataclass_decorator_on_top_works() -> None:
    error = ErrorsTestDecorated(5)
    assert error.value == 5
    assert error.tag == "ErrorsTestDecorated"
    assert error == ErrorsTestDecorated(5)
    assert hash(error) == hash(ErrorsTestDecorated(5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        error.value = 6
    assert TaggedError.from_dict(error.to_dict()) == error


def test_inherited_fields() -> None:
    child = ErrorsTestChild("why", extra=2)
    assert child.to_dict() == {"tag": "ErrorsTestChild", "reason": "why", "extra": 2}
    assert isinstance(child, ErrorsTestBase)


# -- message ----------------------------------------------------------------------------------
def test_default_message_names_tag_and_fields() -> None:
    assert ErrorsTestNotFound("42").message == "ErrorsTestNotFound(item_id='42')"
    assert ErrorsTestEmpty().message == "ErrorsTestEmpty"
    assert ErrorsTestNotFound("42").default_message() == "ErrorsTestNotFound(item_id='42')"


def test_message_field_wins_over_the_default() -> None:
    error = ErrorsTestWithMessage("quota exceeded")
    assert error.message == "quota exceeded"
    assert error.code == 400
    assert error.to_dict() == {
        "tag": "ErrorsTestWithMessage",
        "message": "quota exceeded",
        "code": 400,
    }


def test_message_is_not_a_field_by_default() -> None:
    names = [f.name for f in dataclasses.fields(ErrorsTestNotFound)]
    assert names == ["item_id"]
    assert "message" not in ErrorsTestNotFound("1").to_dict()


# -- to_dict / from_dict ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "error",
    [
        ErrorsTestNotFound("42"),
        ErrorsTestConflict(3, other=4),
        ErrorsTestWithMessage("m", code=1),
        ErrorsTestEmpty(),
        ErrorsTestChild("r", extra=9),
        StepTimeout(name="fetch", seconds=1.5),
        WorkflowTimeout(seconds=30.0),
        CircuitOpen(breaker="payments", retry_after=2.0),
        RateLimited(limiter="api"),
        RateLimited(limiter="api", retry_after=0.5),
        PendingApproval(key="order-1"),
        ApprovalRejected(key="order-1", reason="too expensive"),
        Cancelled(reason="user"),
        Cancelled(),
        Skipped(reason="only_if"),
    ],
    ids=repr,
)
def test_dict_round_trip_through_json(error: TaggedError) -> None:
    data = json.loads(json.dumps(error.to_dict()))
    assert data["tag"] == error.tag
    rebuilt = TaggedError.from_dict(data)
    assert rebuilt == error
    assert type(rebuilt) is type(error)


def test_from_dict_on_a_subclass_checks_the_tag_class() -> None:
    assert ErrorsTestBase.from_dict({"tag": "ErrorsTestChild", "reason": "r"}) == (
        ErrorsTestChild("r")
    )
    with pytest.raises(TypeError, match="belongs to ErrorsTestNotFound"):
        ErrorsTestBase.from_dict({"tag": "ErrorsTestNotFound", "item_id": "1"})


def test_from_dict_unknown_tag() -> None:
    with pytest.raises(UnknownTagError) as info:
        TaggedError.from_dict({"tag": "NoSuchErrorAnywhere", "x": 1})
    assert info.value.tag == "NoSuchErrorAnywhere"
    assert "NoSuchErrorAnywhere" in str(info.value)
    assert isinstance(info.value, LookupError)


@pytest.mark.parametrize("data", [{}, {"tag": None}, {"tag": 3}])
def test_from_dict_missing_or_bad_tag(data: dict[str, object]) -> None:
    with pytest.raises(UnknownTagError):
        TaggedError.from_dict(data)


def test_from_dict_with_wrong_fields() -> None:
    with pytest.raises(TypeError):
        TaggedError.from_dict({"tag": "ErrorsTestNotFound", "wrong_field": 1})


# -- library errors ---------------------------------------------------------------------------
def test_unexpected_error_from_exception() -> None:
    exc = ValueError("boom")
    error = UnexpectedError.from_exception(exc, step="fetch")
    assert error.exception_type == "ValueError"
    assert error.message == "boom"
    assert error.step == "fetch"
    assert error.cause is exc
    assert UnexpectedError.from_exception(exc).step is None


def test_unexpected_error_qualifies_non_builtin_exception_types() -> None:
    error = UnexpectedError.from_exception(json.JSONDecodeError("bad", "doc", 0))
    assert error.exception_type == "json.decoder.JSONDecodeError"


def test_unexpected_error_ignores_cause_in_equality_and_dict() -> None:
    a = UnexpectedError.from_exception(ValueError("boom"))
    b = UnexpectedError.from_exception(ValueError("boom"))
    assert a == b
    assert hash(a) == hash(b)
    assert "cause" not in a.to_dict()
    rebuilt = TaggedError.from_dict(a.to_dict())
    assert rebuilt == a
    assert isinstance(rebuilt, UnexpectedError)
    assert rebuilt.cause is None


def test_unexpected_error_traceback_text() -> None:
    try:
        raise KeyError("k")
    except KeyError as exc:
        error = UnexpectedError.from_exception(exc)
    text = error.traceback_text()
    assert text is not None
    assert "KeyError" in text
    assert "test_unexpected_error_traceback_text" in text
    assert UnexpectedError("X", "m").traceback_text() is None


def test_saga_compensation_failed_holds_error_and_failures() -> None:
    failure = UnexpectedError.from_exception(RuntimeError("refund down"))
    error = SagaCompensationFailed(error=ErrorsTestNotFound("1"), failures=[("refund", failure)])
    assert error.error == ErrorsTestNotFound("1")
    assert error.failures == [("refund", failure)]
    assert error.to_dict()["tag"] == "SagaCompensationFailed"


def test_library_errors_are_tagged_errors_with_their_class_names() -> None:
    for cls in (
        UnexpectedError,
        StepTimeout,
        WorkflowTimeout,
        CircuitOpen,
        RateLimited,
        PendingApproval,
        ApprovalRejected,
        SagaCompensationFailed,
        Cancelled,
        Skipped,
    ):
        assert issubclass(cls, TaggedError)
        assert cls.tag == cls.__name__


def test_unwrap_error_is_reexported_and_not_a_tagged_error() -> None:
    assert UnwrapError is ResultUnwrapError
    assert not issubclass(UnwrapError, TaggedError)
