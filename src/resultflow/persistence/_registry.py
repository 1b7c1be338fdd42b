"""The codec registry: user types the value codec stores, and how classes are found again.

Two ways to teach the codec a type, both with `register_codec`:

- a **custom codec** (`encode=` / `decode=`, or a `Codec` object) for any class: `encode`
  turns a value into something the codec already supports, `decode` rebuilds it;
- a **structural registration** (no functions) for dataclasses, enums, named tuples,
  pydantic models and msgspec structs: the class is stored under `tag` instead of its
  import path, which keeps the stored data valid when the class moves, and is required
  for classes defined inside a function.

Finding classes from stored data never imports anything. A stored class name resolves
to a registered tag, or else to `module:QualName` of a class whose module is **already
imported** (looked up in `sys.modules`, read with `vars()` so no module `__getattr__` or
descriptor runs) and whose kind matches the stored form (a dataclass for a dataclass,
an Enum for an enum...). Anything else is a `StateFormatError`.

With `CodecLimits(classes="registered")` the second way is closed: only registered
classes are built (and encoded), and TaggedErrors only when they are resultflow's own or
were given to `register_codec(ErrorClass)` (which, for a TaggedError, only allows it:
errors are always stored by their tag).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, TypeVar, cast

from resultflow.errors import TaggedError
from resultflow.persistence._errors import ExceptionInfo
from resultflow.persistence._forms import ClassKind, Form
from resultflow.persistence._model_types import model_kind_of_class
from resultflow.result import Err, Ok

__all__ = [
    "ClassKind",
    "Codec",
    "Registration",
    "class_kind",
    "class_path",
    "error_allowed",
    "find_class",
    "register_codec",
    "registration_for_tag",
    "registration_for_type",
    "unregister_codec",
]

T = TypeVar("T")


class Codec(Protocol[T]):
    """How one type becomes data the codec supports, and back."""

    def encode(self, value: T, /) -> object:
        """Return a supported value (it is itself encoded, so it may nest dates, tuples...)."""
        ...

    def decode(self, data: Any, /) -> T:
        """Rebuild the value from the decoded output of `encode`."""
        ...


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered class: its stored `tag` and its custom `codec` (None: by structure)."""

    cls: type[object]
    tag: str
    codec: Codec[Any] | None


@dataclass(frozen=True, slots=True)
class _FunctionCodec:
    encode_function: Callable[[Any], object]
    decode_function: Callable[[Any], object]

    def encode(self, value: object, /) -> object:
        return self.encode_function(value)

    def decode(self, data: Any, /) -> object:
        return self.decode_function(data)


_BUILTIN_TYPES: frozenset[type[object]] = frozenset(
    {
        type(None),
        bool,
        int,
        float,
        str,
        list,
        dict,
        tuple,
        set,
        frozenset,
        bytes,
        bytearray,
        dt.datetime,
        dt.date,
        dt.time,
        dt.timedelta,
        Decimal,
        uuid.UUID,
        Ok,
        Err,
        ExceptionInfo,
    }
)

_BY_TYPE: dict[type[object], Registration] = {}
_BY_TAG: dict[str, Registration] = {}
# TaggedErrors allowed in the "registered" class policy besides resultflow's own.
_ALLOWED_ERRORS: set[type[TaggedError]] = set()


def register_codec(
    cls: type[T],
    codec: Codec[T] | None = None,
    *,
    tag: str | None = None,
    encode: Callable[[T], object] | None = None,
    decode: Callable[[Any], T] | None = None,
) -> type[T]:
    """Teach the codec the class `cls`, stored under `tag` (default `module:QualName`).

    Give `encode` and `decode` (or a `Codec` object) for any class; give neither for a
    dataclass, Enum, NamedTuple, pydantic model or msgspec Struct to store it by
    structure under `tag`. Registering a class again (or a new definition of it, with
    the same module and qualified name) replaces its registration; a tag already used
    by another class is a `ValueError`. Returns `cls`, so it also works as
    a class decorator.

    A `TaggedError` subclass takes no tag or functions (it is stored by its error tag):
    registering it allows it under `CodecLimits(classes="registered")`.
    """
    if issubclass(cls, TaggedError):
        if codec is not None or encode is not None or decode is not None or tag is not None:
            raise TypeError(
                f"{cls.__qualname__} is a TaggedError: it is stored by its error tag, "
                "so it takes no tag= or codec (register_codec(cls) only allows it)"
            )
        _ALLOWED_ERRORS.add(cls)
        return cls
    if cls in _BUILTIN_TYPES:
        raise TypeError(f"{cls.__qualname__} is built into the codec and cannot be registered")
    if (encode is None) != (decode is None):
        raise TypeError("register_codec needs both encode= and decode=, or neither")
    if codec is not None and encode is not None:
        raise TypeError("give either a Codec object or encode=/decode=, not both")
    chosen: Codec[Any] | None = codec
    if encode is not None and decode is not None:
        chosen = _FunctionCodec(encode, decode)
    if chosen is None:
        _check_structural(cls)
    name = tag if tag is not None else class_path(cls)
    if not name:
        raise ValueError("a codec tag must be a non-empty string")
    owner = _BY_TAG.get(name)
    if owner is not None and owner.cls is not cls:
        if class_path(owner.cls) != class_path(cls):
            raise ValueError(f"codec tag {name!r} is already used by {class_path(owner.cls)}")
        # The same class defined again (a reloaded module, a re-run notebook cell).
        unregister_codec(owner.cls)
    unregister_codec(cls)
    registration = Registration(cls=cls, tag=name, codec=chosen)
    _BY_TYPE[cls] = registration
    _BY_TAG[name] = registration
    return cls


def unregister_codec(cls: type[object]) -> None:
    """Forget the registration of `cls` (no error when it has none)."""
    _ALLOWED_ERRORS.discard(cast("type[TaggedError]", cls))
    registration = _BY_TYPE.pop(cls, None)
    if registration is not None:
        _BY_TAG.pop(registration.tag, None)


def registration_for_type(cls: type[object]) -> Registration | None:
    """The registration of exactly `cls` (subclasses are not covered), or None."""
    return _BY_TYPE.get(cls)


def registration_for_tag(tag: str) -> Registration | None:
    """The registration stored under `tag`, or None."""
    return _BY_TAG.get(tag)


def error_allowed(cls: type[TaggedError]) -> bool:
    """Whether `cls` may be built under the "registered" class policy.

    resultflow's own errors always are; others once given to `register_codec`.
    """
    module = cls.__module__
    return module == "resultflow" or module.startswith("resultflow.") or cls in _ALLOWED_ERRORS


def class_path(cls: type[object]) -> str:
    """`module:QualName`, the default stored name of a class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def class_kind(cls: type[object]) -> ClassKind | None:
    """Which structural kind `cls` is, or None when it needs a custom codec."""
    if dataclasses.is_dataclass(cls):
        return Form.DATACLASS
    if issubclass(cls, enum.Enum):
        return Form.ENUM
    if _is_named_tuple(cls):
        return Form.NAMEDTUPLE
    return model_kind_of_class(cls)


def find_class(path: str) -> type[object] | None:
    """The class at `module:QualName` when its module is already imported, else None.

    Never imports a module and never runs attribute hooks: each step of the qualified
    name is read from `vars()` of the module or class.
    """
    module_name, separator, qualname = path.partition(":")
    if not separator or not qualname or "<" in qualname:
        return None
    current: object = sys.modules.get(module_name)
    for part in qualname.split("."):
        if current is None:
            return None
        try:
            namespace = vars(current)
        except TypeError:
            return None
        current = namespace.get(part)
    return current if isinstance(current, type) else None


def _is_named_tuple(cls: type[object]) -> bool:
    return tuple in cls.__mro__ and isinstance(getattr(cls, "_fields", None), tuple)


def _check_structural(cls: type[object]) -> None:
    if class_kind(cls) is None:
        raise TypeError(
            f"{cls.__qualname__} is not a dataclass, Enum, NamedTuple, pydantic model or "
            "msgspec Struct: give encode= and decode= to register it"
        )
