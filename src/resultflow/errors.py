"""Errors: the error values returned in `Err(...)`, and the exceptions resultflow raises.

Errors are values returned in `Err(...)`, not raised. Any object may be an error;
`TaggedError` adds a stable `tag`, a `message`, and `to_dict` / `from_dict` so errors
survive JSON persistence. The library's error values, all `TaggedError` subclasses::

    TaggedError
     ├── UnexpectedError         a step or body raised (exception kept as `cause`)
     ├── StepTimeout             a step ran past its timeout
     ├── WorkflowTimeout         a whole run ran past its timeout
     ├── CircuitOpen             a circuit breaker refused the call
     ├── RateLimited             a rate or concurrency limiter refused the call
     ├── PendingApproval         a human approval is still pending
     ├── ApprovalRejected        a human approval was rejected
     ├── SagaCompensationFailed  a saga failed and some compensations failed too
     ├── Cancelled               the operation was cancelled
     └── Skipped                 a hook declined to run the workflow

Exceptions are for what cannot be a value: programming mistakes, a refusal from a
guard used with `call()` (not `call_result()`), and a store that cannot do its job.
Every exception resultflow defines derives from `ResultflowError`, so callers catch at
the level they care about (`except StoreError` covers "Redis or PostgreSQL is down" for
the KV stores, the breaker store and the limiter store alike)::

    ResultflowError
     ├── UnwrapError                 unwrap() / expect() on an Err, unwrap_err() on an Ok
     ├── UnknownTagError             from_dict() met a tag no loaded class registered
     ├── AmbiguousTagError           from_dict() met a tag several classes share
     ├── CircuitOpenError            breaker.call() refused: `.error` is a CircuitOpen
     ├── RateLimitedError            limiter.call() / acquire() refused: `.error` is a RateLimited
     ├── StoreError                  a store failed; `backend` names it, `detail` says why
     │    ├── StoreUnavailableError  the server is down or the file cannot be opened
     │    ├── StoreClosedError       the store was used after close()
     │    ├── CorruptEntryError      a stored value cannot be read back  (resultflow.persistence)
     │    ├── BreakerStoreError      a circuit breaker's shared store failed
     │    ├── LimiterStoreError      a rate limiter's shared store failed
     │    └── DurableStoreError      the durable engine's store failed  (resultflow.durable)
     ├── SerializationError          a value cannot be written  (resultflow.persistence)
     ├── StateDecodeError            stored state cannot be decoded  (resultflow.persistence)
     ├── UnknownPolicyError          PolicyRegistry has no policy of that name  (reliability)
     ├── UnknownRunError, UnknownWorkflowError, ApprovalDecisionError,
     │   StateMigrationError, RunBusyError > ClaimLostError          (resultflow.hitl)
     ├── RunImportError              an exported run cannot be imported  (resultflow.devtools)
     └── ScriptExhausted, UnconfiguredMock    test seams  (resultflow.testing)

The classes marked with a package live there (they carry that package's values);
`ResultflowError` and `UnwrapError` are defined in `resultflow.result` (the Result
methods raise `UnwrapError`, and the core has no import cycle) and re-exported here;
the others are defined here and re-exported where they are used
(`resultflow.reliability`, `resultflow.persistence`). The tag errors and
`StateDecodeError` are also `LookupError` / `ValueError`, as the standard library
would raise them.
"""

from __future__ import annotations

import dataclasses
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from typing_extensions import dataclass_transform

from resultflow.result import ResultflowError, UnwrapError

__all__ = [
    "AmbiguousTagError",
    "ApprovalRejected",
    "BreakerStoreError",
    "Cancelled",
    "CircuitOpen",
    "CircuitOpenError",
    "LimiterStoreError",
    "PendingApproval",
    "RateLimited",
    "RateLimitedError",
    "ResultflowError",
    "SagaCompensationFailed",
    "Skipped",
    "StepTimeout",
    "StoreClosedError",
    "StoreError",
    "StoreUnavailableError",
    "TaggedError",
    "UnexpectedError",
    "UnknownTagError",
    "UnwrapError",
    "WorkflowTimeout",
    "qualified_exception_name",
    "registered_tags",
]

E_co = TypeVar("E_co", covariant=True)
T_Error = TypeVar("T_Error", bound="TaggedError")

# tag -> {"module:QualName": class}; one tag may name classes in several modules.
_REGISTRY: dict[str, dict[str, type[TaggedError]]] = {}

# The key `to_dict` adds for a shared tag. `class` is a Python keyword, so no dataclass
# field can have this name and clash with it.
_CLASS_KEY = "class"


class UnknownTagError(ResultflowError, LookupError):
    """`TaggedError.from_dict` met a tag that no loaded class registered."""

    def __init__(self, tag: object, known: list[str]) -> None:
        shown = ", ".join(sorted(known)[:20]) or "none"
        super().__init__(f"unknown error tag {tag!r}; known tags: {shown}")
        self.tag = tag


class AmbiguousTagError(ResultflowError, LookupError):
    """Several loaded classes share a tag, and nothing says which one to rebuild."""

    def __init__(self, tag: str, classes: list[str]) -> None:
        super().__init__(
            f"error tag {tag!r} is used by {', '.join(sorted(classes))}; give them distinct "
            "`tag: ClassVar[str]` values (or pass class_name= to from_dict)"
        )
        self.tag = tag
        self.classes = classes


class _DefaultMessage:
    """Non-data descriptor: a `message` that subclasses may replace with a field."""

    def __get__(self, instance: TaggedError | None, owner: type[TaggedError]) -> str:
        if instance is None:
            # Hidden from the class so dataclasses never mistake it for a default.
            raise AttributeError("message")
        return instance.default_message()


@dataclass_transform(frozen_default=True, field_specifiers=(field, dataclasses.Field))
class TaggedError:
    """Base for error values: every subclass becomes a frozen dataclass with a `tag`.

    ```python
    class NotFound(TaggedError):
        id: str

    NotFound("42").tag      # "NotFound"
    NotFound("42").to_dict()  # {"tag": "NotFound", "id": "42"}
    ```

    `tag` defaults to the class name; set `tag: ClassVar[str] = "NOT_FOUND"` to choose
    a stable wire name. Tags are registered on class creation so `from_dict` can
    rebuild the right class.

    Classes may share a tag: `users.NotFound` and `orders.NotFound` both load, both
    with the tag `"NotFound"`. While a tag names several loaded classes, `to_dict()`
    adds `"class": "module:QualName"` (never a field name: `class` is a keyword), so
    `from_dict` rebuilds the right one; the codec records the class the same way. A
    bare tag that names several classes cannot be rebuilt (`AmbiguousTagError`).
    """

    tag: ClassVar[str] = "TaggedError"

    if TYPE_CHECKING:
        message: str
        """A human-readable description (a `message` field, when declared, wins)."""
    else:
        message = _DefaultMessage()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "tag" not in cls.__dict__:
            cls.tag = cls.__name__
        if "__dataclass_fields__" not in cls.__dict__:
            dataclass(frozen=True)(cls)
            # Immutability comes from TaggedError's own __setattr__, so a user who
            # also writes @dataclass(frozen=True) on the class does not clash.
            for name in ("__setattr__", "__delattr__"):
                if name in cls.__dict__:
                    delattr(cls, name)
        _register(cls)

    def __setattr__(self, name: str, value: object) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def default_message(self) -> str:
        """The message used when the subclass has no `message` field."""
        parts = ", ".join(f"{k}={v!r}" for k, v in self._field_items())
        return f"{self.tag}({parts})" if parts else self.tag

    def to_dict(self) -> dict[str, object]:
        """Return `{"tag": ..., **fields}` (fields marked `compare=False` are left out).

        When other loaded classes share the tag, `"class": "module:QualName"` follows the
        tag, so that `from_dict` can tell them apart.
        """
        data: dict[str, object] = {"tag": self.tag}
        if len(_REGISTRY.get(self.tag, ())) > 1:
            data[_CLASS_KEY] = type(self).class_name_of()
        data.update(self._field_items())
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object], *, class_name: str | None = None) -> Self:
        """Rebuild an error from `to_dict()` output, finding the class by its tag.

        When several loaded classes share the tag, the class is the one named by
        `class_name` ("module:QualName", as `class_name_of()` gives), else by the data's
        `"class"` entry (as `to_dict` writes it); calling `from_dict` on a specific
        subclass also narrows the choice. A class name that is not loaded is ignored.
        Raises `UnknownTagError` for an unregistered tag, `AmbiguousTagError` when the
        tag still names several classes, and `TypeError` when the tag's class is not
        `cls` or a subclass of it, or the fields do not fit.
        """
        tag = data.get("tag")
        if class_name is None:
            written = data.get(_CLASS_KEY)
            class_name = written if isinstance(written, str) else None
        fields = {k: v for k, v in data.items() if k != "tag" and k != _CLASS_KEY}
        return _resolve(cls, tag, class_name)(**fields)

    @classmethod
    def class_name_of(cls) -> str:
        """`"module:QualName"`: what `from_dict(class_name=...)` accepts."""
        return f"{cls.__module__}:{cls.__qualname__}"

    def _field_items(self) -> list[tuple[str, object]]:
        fields: dict[str, dataclasses.Field[object]] = getattr(self, "__dataclass_fields__", {})
        return [
            (f.name, getattr(self, f.name))
            for f in fields.values()
            if f.compare and f._field_type is dataclasses._FIELD  # type: ignore[attr-defined]
        ]


def _register(cls: type[TaggedError]) -> None:
    # A redefinition (same module and qualified name) replaces the old class, so that
    # reloading a module or re-running a notebook cell keeps one entry per class.
    _REGISTRY.setdefault(cls.tag, {})[cls.class_name_of()] = cls


def _resolve(base: type[T_Error], tag: object, class_name: str | None) -> type[T_Error]:
    named = _REGISTRY.get(tag) if isinstance(tag, str) else None
    if not named or not isinstance(tag, str):
        raise UnknownTagError(tag, list(_REGISTRY))
    if class_name is not None and class_name in named:
        candidates = [named[class_name]]
    else:
        candidates = list(named.values())
    fitting = [c for c in candidates if issubclass(c, base)]
    if not fitting:
        owner = candidates[0].__qualname__
        raise TypeError(f"tag {tag!r} belongs to {owner}, not {base.__qualname__}")
    if len(fitting) > 1:
        raise AmbiguousTagError(tag, [c.class_name_of() for c in fitting])
    found: type[T_Error] = fitting[0]
    return found


def registered_tags() -> dict[str, tuple[type[TaggedError], ...]]:
    """Every registered tag with the classes that use it (for codecs and diagnostics)."""
    return {tag: tuple(named.values()) for tag, named in _REGISTRY.items()}


class UnexpectedError(TaggedError):
    """A step, a body or a hook raised an exception instead of returning a Result.

    `exception_type` and `message` survive serialization; `cause` holds the live
    exception (or, after a round trip, its description) and is not compared.
    `exception_type` is the exception's importable name (`qualified_exception_name`):
    `"ValueError"`, `"resultflow.errors.BreakerStoreError"`, `"myapp.db.Timeout"`.
    """

    exception_type: str
    message: str
    step: str | None = None
    cause: object = field(default=None, compare=False, repr=False)

    @classmethod
    def from_exception(cls, exc: BaseException, *, step: str | None = None) -> UnexpectedError:
        """Describe `exc`; `step` names the step or hook that raised."""
        return cls(
            exception_type=qualified_exception_name(type(exc)),
            message=str(exc),
            step=step,
            cause=exc,
        )

    def traceback_text(self) -> str | None:
        """The formatted traceback of the cause (live, or as stored by the codec), if any."""
        if isinstance(self.cause, BaseException):
            return "".join(traceback.format_exception(self.cause))
        stored = getattr(self.cause, "traceback", None)  # an ExceptionInfo after a round trip
        return stored if isinstance(stored, str) else None


class StepTimeout(TaggedError):
    """A step did not finish within `seconds`; the operation was cancelled."""

    name: str
    seconds: float


class WorkflowTimeout(TaggedError):
    """A whole run did not finish within `seconds`."""

    seconds: float


class CircuitOpen(TaggedError):
    """The circuit breaker named `breaker` refused the call; retry after `retry_after` s."""

    breaker: str
    retry_after: float


class RateLimited(TaggedError):
    """The limiter named `limiter` refused the call; `retry_after` s is a hint, if known."""

    limiter: str
    retry_after: float | None = None


class PendingApproval(TaggedError):
    """The approval `key` is still waiting for a decision."""

    key: str
    reason: str | None = None


class ApprovalRejected(TaggedError):
    """The approval `key` was rejected (or cancelled, or expired)."""

    key: str
    reason: str | None = None


class SagaCompensationFailed(TaggedError, Generic[E_co]):
    """A saga failed with `error` and then some compensations failed too.

    `failures` lists `(step_name, error)` for each compensation that failed; a raised
    exception appears there as an `UnexpectedError`.
    """

    error: E_co
    failures: list[tuple[str, object]]


class Cancelled(TaggedError):
    """The operation was cancelled; `reason` says by whom or why."""

    reason: str | None = None


class Skipped(TaggedError):
    """A hook declined the run; `reason` is the hook's option name."""

    reason: str


# -- exceptions -------------------------------------------------------------------------
class CircuitOpenError(ResultflowError):
    """Raised by `CircuitBreaker.call` when the breaker refuses the call.

    The refusal as a value is in `.error` (a `CircuitOpen` with the breaker's name and
    `retry_after`); `call_result` returns that value as an `Err` instead of raising.
    """

    def __init__(self, error: CircuitOpen) -> None:
        super().__init__(
            f"circuit breaker {error.breaker!r} is open; retry after {error.retry_after:.3f} s"
        )
        self.error = error


class RateLimitedError(ResultflowError):
    """A limiter refused a call; the `RateLimited` value is in `.error`.

    Raised by `acquire()` and `call()`; `call_result()` returns `Err(error)` instead.
    """

    def __init__(self, error: RateLimited) -> None:
        hint = "" if error.retry_after is None else f"; retry after {error.retry_after:.3f} s"
        super().__init__(f"limiter {error.limiter!r} refused the call{hint}")
        self.error = error


class StoreError(ResultflowError):
    """A store could not complete an operation; `backend` names it, `detail` says why.

    The base of every store failure: KV stores (`resultflow.persistence`), breaker
    stores and limiter stores (`resultflow.reliability`). Driver errors are wrapped (the
    driver's exception is the `__cause__`), so `except StoreError` is enough to catch a
    dependency that is down, whichever component noticed it.
    """

    def __init__(self, backend: str, detail: str) -> None:
        super().__init__(f"{backend}: {detail}")
        self.backend = backend
        self.detail = detail


class StoreUnavailableError(StoreError):
    """The store cannot be reached: server down, connection refused, file not openable."""


class StoreClosedError(StoreError):
    """The store was used after `close()`."""

    def __init__(self, backend: str) -> None:
        super().__init__(backend, "the store is closed")


class BreakerStoreError(StoreError):
    """A circuit breaker's store could not be reached or answered badly (e.g. Redis is down).

    `detail` says what failed; `backend` names the store's kind (a custom `BreakerStore`
    passes its own, e.g. `BreakerStoreError("timed out", backend="etcd")`).
    """

    def __init__(self, detail: str, *, backend: str = "breaker store") -> None:
        super().__init__(backend, detail)


class LimiterStoreError(StoreError):
    """A rate limiter's store could not be reached or answered badly (e.g. Redis is down).

    `detail` says what failed; `backend` names the store's kind, as for
    `BreakerStoreError`.
    """

    def __init__(self, detail: str, *, backend: str = "limiter store") -> None:
        super().__init__(backend, detail)


def qualified_exception_name(cls: type[BaseException]) -> str:
    """The name an exception type is known by: `ValueError`, `json.decoder.JSONDecodeError`.

    Built-ins keep their bare name. A class defined in a private module (a path part
    starting with `_`) is named by the public package above it when that package
    exports it (`resultflow.hitl.RunBusyError`, not `resultflow.hitl._run_claims...`),
    so the name in `UnexpectedError.exception_type` is one users can import.
    """
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    parts = module.split(".")
    private = next((i for i, part in enumerate(parts) if part.startswith("_")), 0)
    if private > 0:
        public = ".".join(parts[:private])
        package = sys.modules.get(public)
        if package is not None and getattr(package, cls.__qualname__, None) is cls:
            return f"{public}.{cls.__qualname__}"
    return f"{module}.{cls.__qualname__}"
