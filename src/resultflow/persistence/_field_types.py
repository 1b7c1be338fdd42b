"""Field values checked against their class's annotations, on the way in and out.

`cls(**fields)` does not check types, so without this a stored `Receipt(amount: Decimal)`
whose amount was edited to the string `"19.99"` would come back as a `Receipt` holding a
str, and fail far from the store. The decoder checks every field of a dataclass,
NamedTuple or TaggedError before building it, and the encoder runs the same check before
writing one, so what the encoder accepts the decoder reads back.

Checked: plain classes (`isinstance`; an int is accepted for a `float`, a bytearray for
`bytes`, and an `ExceptionInfo` for an exception class, since exceptions are stored as
descriptions), `None`, unions and `Optional`, `Literal`, `Annotated` (its first argument),
`NewType` (its supertype), and the items of `list`, `tuple`, `set`, `frozenset`, `dict`
and their `collections.abc` counterparts (`Sequence`, `Mapping`, `Set`...). A generic
class (`Box[int]`, `Ok[int]`) is checked as its class only.

Not checked: `Any` and `object`, type variables, `Callable`, protocols that are not
`runtime_checkable`, `TypedDict`, and fields whose annotation cannot be resolved at run
time (a name imported only under `TYPE_CHECKING`, a class local to a function).
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import inspect
import sys
import types
import typing
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Final, Literal, NewType, Union, cast

from resultflow.persistence._errors import ExceptionInfo
from resultflow.persistence._forms import path_key

__all__ = ["Mismatch", "field_mismatch", "field_types"]


@dataclass(slots=True)
class Mismatch:
    """A value that does not fit its annotation.

    What was `expected`, what was `found`, and where inside the field (`segments`,
    innermost first, as the codec's paths).
    """

    expected: str
    found: str
    segments: list[str] = field(default_factory=list[str])


_HINTS: weakref.WeakKeyDictionary[type[object], dict[str, object]] = weakref.WeakKeyDictionary()
_SEQUENCES: frozenset[object] = frozenset(
    {list, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Set, abc.MutableSet}
)
_MAPPINGS: frozenset[object] = frozenset({dict, abc.Mapping, abc.MutableMapping})
# Compared by identity: an annotation may hold unhashable metadata.
_UNCHECKED: tuple[object, ...] = (Any, object, ClassVar, Final, dataclasses.InitVar)


def _unchecked(hint: object) -> bool:
    return any(hint is form for form in _UNCHECKED)


def field_types(cls: type[object], names: typing.Iterable[str]) -> dict[str, object]:
    """The resolved annotations of the fields `names` of `cls` (cached per class).

    Fields whose annotation cannot be resolved are left out: they are not checked.
    """
    cached = _HINTS.get(cls)
    if cached is None:
        cached = _resolve(cls, list(names))
        _HINTS[cls] = cached
    return cached


def field_mismatch(cls: type[object], fields: Mapping[str, object]) -> tuple[str, Mismatch] | None:
    """The first field of `fields` whose value does not fit `cls`'s annotation, or None."""
    hints = field_types(cls, _field_names(cls))
    for name, value in fields.items():
        hint = hints.get(name)
        if hint is None:
            continue
        problem = mismatch(value, hint)
        if problem is not None:
            return name, problem
    return None


def mismatch(value: object, hint: object) -> Mismatch | None:
    """None when `value` fits the annotation `hint` (or it is not checked), else why not."""
    if _unchecked(hint):
        return None
    if hint is None or hint is type(None):
        return None if value is None else Mismatch("None", type(value).__name__)
    if isinstance(hint, NewType):
        return mismatch(value, hint.__supertype__)
    origin = typing.get_origin(hint)
    if origin is None:
        return _instance(value, hint) if isinstance(hint, type) else None
    args = typing.get_args(hint)
    if origin is Union or origin is types.UnionType:
        if any(mismatch(value, arm) is None for arm in args):
            return None
        return Mismatch(_describe(hint), type(value).__name__)
    if origin is Literal:
        if any(type(value) is type(choice) and value == choice for choice in args):
            return None
        return Mismatch(_describe(hint), _found(value))
    if origin is Annotated:
        return mismatch(value, args[0])
    if not isinstance(origin, type):
        return None
    if _instance(value, origin) is not None:
        return Mismatch(_describe(hint), type(value).__name__)
    return _items(value, origin, args)


def _items(value: object, origin: type[object], args: tuple[object, ...]) -> Mismatch | None:
    if origin is tuple:
        items = cast("tuple[object, ...]", value)
        if len(args) == 2 and args[1] is Ellipsis:
            return _each(items, args[0])
        if len(items) != len(args):
            return Mismatch(f"a tuple of {len(args)} items", f"a tuple of {len(items)}")
        for index, (item, hint) in enumerate(zip(items, args, strict=True)):
            problem = mismatch(item, hint)
            if problem is not None:
                problem.segments.append(f"[{index}]")
                return problem
        return None
    if origin in _SEQUENCES and len(args) == 1:
        return _each(cast("typing.Iterable[object]", value), args[0])
    if origin in _MAPPINGS and len(args) == 2:
        key_hint, value_hint = args
        check_keys, check_values = not _unchecked(key_hint), not _unchecked(value_hint)
        for index, (key, item) in enumerate(cast("Mapping[object, object]", value).items()):
            problem = mismatch(key, key_hint) if check_keys else None
            if problem is not None:
                problem.segments.append(f".keys()[{index}]")
                return problem
            problem = mismatch(item, value_hint) if check_values else None
            if problem is not None:
                problem.segments.append(path_key(key))
                return problem
    return None


def _each(items: typing.Iterable[object], hint: object) -> Mismatch | None:
    if _unchecked(hint):
        return None
    for index, item in enumerate(items):
        problem = mismatch(item, hint)
        if problem is not None:
            problem.segments.append(f"[{index}]")
            return problem
    return None


def _instance(value: object, cls: type[object]) -> Mismatch | None:
    # The promotions type checkers allow: an int where a float is expected, and so on.
    if cls is float:
        fits = isinstance(value, int | float)
    elif cls is complex:
        fits = isinstance(value, int | float | complex)
    elif cls is bytes:
        fits = isinstance(value, bytes | bytearray)
    elif issubclass(cls, BaseException):
        fits = isinstance(value, cls | ExceptionInfo)
    else:
        try:
            fits = isinstance(value, cls)
        except TypeError:  # a TypedDict, a protocol that is not runtime_checkable...
            return None
    return None if fits else Mismatch(_describe(cls), _found(value))


def _found(value: object) -> str:
    return type(value).__name__


def _describe(hint: object) -> str:
    if isinstance(hint, type):
        return hint.__qualname__
    return repr(hint).replace("typing.", "")


def _field_names(cls: type[object]) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.init]
    return list(cast("tuple[str, ...]", getattr(cls, "_fields", ())))


def _resolve(cls: type[object], names: list[str]) -> dict[str, object]:
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # one unresolvable annotation: resolve the others one by one
        hints = {name: _resolve_one(cls, name) for name in names}
    return {name: hints[name] for name in names if hints.get(name) is not None}


def _resolve_one(cls: type[object], name: str) -> object:
    for owner in cls.__mro__:
        annotations: dict[str, object] = inspect.get_annotations(owner)
        if name not in annotations:
            continue
        annotation = annotations[name]
        if not isinstance(annotation, str):
            return annotation
        module = sys.modules.get(owner.__module__)
        holder = types.SimpleNamespace(__annotations__={name: annotation})
        try:
            return typing.get_type_hints(
                holder, vars(module) if module is not None else {}, dict(vars(owner))
            )[name]
        except Exception:  # e.g. a name imported only under TYPE_CHECKING: not checked
            return None
    return None
