"""Errors of the persistence codec and stores, and `ExceptionInfo`, the stored form of an exception.

Two kinds of codec failure, on purpose::

    SerializationError (ResultflowError)  a value cannot be written: a programming
                                          error, raised at once, naming the offending path
    StateFormatError (TaggedError)        stored data cannot be read back: a value in
                                          `Err(...)` from `loads_state` / `parse_state`
    StateDecodeError (ResultflowError,    the raised twin of StateFormatError, for the
                      ValueError)         functions whose signature returns the value
                                          itself (`deserialize_result`, `decode_value`, ...)

`CorruptEntryError` is the `StoreError` a store raises when a value it holds cannot be
read back. The other store errors (`StoreError`, `StoreUnavailableError`,
`StoreClosedError`) are defined in `resultflow.errors`, where the whole exception tree
is drawn, because the breaker and limiter stores raise them too.
"""

from __future__ import annotations

import traceback as traceback_module
from dataclasses import dataclass

from resultflow.errors import ResultflowError, StoreError, TaggedError, qualified_exception_name

__all__ = [
    "CorruptEntryError",
    "ExceptionInfo",
    "SerializationError",
    "StateDecodeError",
    "StateFormatError",
    "qualified_exception_name",
]


class SerializationError(ResultflowError):
    """A value cannot be serialized; `path` says where it is, e.g. `state["charge"].value.card`.

    This is a programming error (an unsupported type reached the store), so it is raised,
    not returned. Register the type with `register_codec` to fix it.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class StateFormatError(TaggedError):
    """Stored data could not be read.

    `message` says what is wrong, `path` where, and `version` the format version the data
    claimed (None when it could not be read that far).
    """

    message: str
    path: str | None = None
    version: int | None = None


class StateDecodeError(ResultflowError, ValueError):
    """Raised by the decoding functions that return a plain value.

    `.error` holds the `StateFormatError` that describes the problem.
    """

    def __init__(self, error: StateFormatError) -> None:
        super().__init__(error.message)
        self.error = error


class CorruptEntryError(StoreError):
    """The value stored under `key` cannot be read back (`detail` says why).

    `error` holds the codec's `StateFormatError` when the codec rejected the value
    (state documents, cache entries), and None when the backend's own framing is broken.
    """

    def __init__(
        self, backend: str, key: str, detail: str, error: StateFormatError | None = None
    ) -> None:
        super().__init__(backend, f"corrupt entry {key!r}: {detail}")
        self.key = key
        self.detail = detail
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
