"""Errors of the persistence codec, and `ExceptionInfo`, the stored form of an exception.

Two kinds of failure, on purpose::

    SerializationError (Exception)   a value cannot be written: a programming error,
                                     raised at once, naming the offending path
    StateFormatError (TaggedError)   stored data cannot be read back: a value in
                                     `Err(...)` from `loads_state` / `parse_state`
    StateDecodeError (ValueError)    the raised twin of StateFormatError, for the
                                     functions whose signature returns the value itself
                                     (`deserialize_result`, `deserialize_state`, `decode_value`)
"""

from __future__ import annotations

import traceback as traceback_module
from dataclasses import dataclass

from resultflow.errors import TaggedError

__all__ = ["ExceptionInfo", "SerializationError", "StateDecodeError", "StateFormatError"]


class SerializationError(Exception):
    """A value cannot be serialized; `path` says where it is, e.g. `state["charge"].value.card`.

    This is a programming error (an unsupported type reached the store), so it is raised,
    not returned. Register the type with `register_codec` to fix it.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class StateFormatError(TaggedError):
    """Stored data could not be read: what is wrong (`message`), where (`path`), and the
    format `version` the data claimed (None when it could not be read that far)."""

    message: str
    path: str | None = None
    version: int | None = None


class StateDecodeError(ValueError):
    """Raised by the decoding functions that return a plain value; `.error` holds the
    `StateFormatError` that describes the problem."""

    def __init__(self, error: StateFormatError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True, slots=True)
class ExceptionInfo:
    """A stored description of an exception: its `type` name, `message` and `traceback`.

    Exceptions are never pickled or re-raised from storage: an exception inside a stored
    value (typically an `Err`'s `cause` or `UnexpectedError.cause`) comes back as this.
    """

    type: str
    message: str
    traceback: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> ExceptionInfo:
        """Describe `exc`; the traceback text is kept when the exception was raised."""
        text = (
            "".join(traceback_module.format_exception(exc))
            if exc.__traceback__ is not None
            else None
        )
        return cls(type=qualified_exception_name(type(exc)), message=str(exc), traceback=text)


def qualified_exception_name(cls: type[BaseException]) -> str:
    """`ValueError` for built-ins, `package.module.Name` for the rest."""
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
