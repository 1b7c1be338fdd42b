"""Typed usage of TaggedError and the library errors: must pass both checkers (strict)."""

from __future__ import annotations

from typing import ClassVar, assert_never, assert_type

from resultflow.errors import StepTimeout, TaggedError, UnexpectedError
from resultflow.result import Err, Ok, Result


class UserNotFound(TaggedError):
    user_id: int


class Banned(TaggedError):
    tag: ClassVar[str] = "BANNED"
    reason: str
    until: float | None = None


class Invalid(TaggedError):
    message: str


LoginError = UserNotFound | Banned | Invalid


def login(name: str) -> Result[int, LoginError]:
    return Err(UserNotFound(1)) if not name else Ok(len(name))


def describe(error: LoginError) -> str:
    match error:
        case UserNotFound(user_id=user_id):
            return f"no user {user_id}"
        case Banned(reason=reason):
            return f"banned: {reason}"
        case Invalid():
            return error.message
        case _:
            assert_never(error)


def handle(r: Result[int, LoginError]) -> str:
    match r:
        case Ok(value):
            return str(value)
        case Err(error):
            # Match the Err first, then the error: nested class patterns are never exhaustive.
            return describe(error)
        case _:
            assert_never(r)


def fields() -> None:
    error = UserNotFound(user_id=3)
    assert_type(error.user_id, int)
    assert_type(error.message, str)
    assert_type(error.tag, str)
    assert_type(Banned.tag, str)
    assert_type(error.to_dict(), dict[str, object])
    assert_type(UserNotFound.from_dict({"tag": "UserNotFound", "user_id": 1}), UserNotFound)
    assert_type(Invalid("bad").message, str)
    assert_type(Banned("spam", until=1.0).until, float | None)


def library_errors(exc: Exception) -> None:
    unexpected = UnexpectedError.from_exception(exc, step="fetch")
    assert_type(unexpected.exception_type, str)
    assert_type(unexpected.step, str | None)
    timeout = StepTimeout(name="fetch", seconds=1.0)
    assert_type(timeout.seconds, float)
