"""`encode_value`: any supported Python value as JSON-safe data (never pickle).

JSON's own types pass through: None, bool, int, str, finite floats, lists and dicts with
string keys. Everything else becomes a small object tagged by a `"$type"` key:

| value | stored as |
| --- | --- |
| nan / inf / -inf | `{"$type": "float", "value": "nan"}` |
| int past ~3000 digits | `{"$type": "int", "hex": "0x..."}` (Python limits decimal text) |
| dict with a non-str key, or a `"$type"` key | `{"$type": "dict", "items": [[key, value], ...]}` |
| tuple, set, frozenset | `{"$type": "tuple", "items": [...]}` (set items in a stable order) |
| bytes, bytearray | `{"$type": "bytes", "base64": "..."}` |
| datetime, date, time | `{"$type": "datetime", "value": "<ISO 8601>"}` (+ `zone`, `fold`) |
| timedelta | `{"$type": "timedelta", "days": 0, "seconds": 5, "microseconds": 0}` |
| Decimal, UUID | `{"$type": "decimal", "value": "1.10"}` |
| Ok / Err | `{"$type": "result", "ok": true, "value": ...}` / `"ok": false, "error", "cause"` |
| TaggedError | `{"$type": "error", "tag": "NotFound", "class": "app:NotFound", "fields": {}}` |
| exception, ExceptionInfo | `{"$type": "exception", "type", "message", "traceback"}` |
| dataclass, NamedTuple | `{"$type": "dataclass", "class": "pkg.mod:Name", "fields": {...}}` |
| Enum member | `{"$type": "enum", "class": "pkg.mod:Color", "value": ...}` |
| pydantic model, msgspec Struct | `{"$type": "pydantic", "class": ..., "data": <its JSON>}` |
| a type given to `register_codec` | `{"$type": "custom", "tag": ..., "value": ...}` |

The forms themselves are declared once, in `resultflow.persistence._forms.Form`.

Classes are named by their `register_codec` tag when registered, else by import path;
a class that cannot be found by its import path (one defined inside a function) must be
registered, and encoding it unregistered raises at once rather than writing data that
cannot be read back. Exceptions are stored as descriptions and come back as
`ExceptionInfo`. Anything else raises `SerializationError` naming its path.

The encoder refuses what the decoder would refuse, so whatever it writes can be read
back: values nested deeper than `CodecLimits.max_depth`, sets and dicts with more than
`CodecLimits.max_hash_collisions` items sharing one hash, dataclass / NamedTuple /
TaggedError fields that do not fit their annotations, and (with
`CodecLimits(classes="registered")`) classes that are not registered.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import inspect
import json
import math
import uuid
import weakref
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, TypeAlias, cast
from zoneinfo import ZoneInfo

from resultflow.errors import TaggedError
from resultflow.persistence._errors import ExceptionInfo, SerializationError
from resultflow.persistence._field_types import field_mismatch
from resultflow.persistence._forms import TYPE_KEY, ClassKind, Form, path_key, short_repr
from resultflow.persistence._limits import CodecLimits, codec_limits, crowded_hash
from resultflow.persistence._model_types import dump_model
from resultflow.persistence._registry import (
    Registration,
    class_kind,
    class_path,
    error_allowed,
    find_class,
    registration_for_type,
)
from resultflow.result import Err, Ok

__all__ = ["TYPE_KEY", "JSONValue", "encode_result_body", "encode_value", "path_key"]

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
"""Data that `json.dumps` accepts as it is (with `allow_nan=False`)."""


def encode_value(
    obj: object, *, path: str = "value", limits: CodecLimits | None = None
) -> JSONValue:
    """Return `obj` as JSON-safe data that `decode_value` turns back into an equal value.

    Raises `SerializationError` for an unsupported value, a circular reference or a value
    past the `limits` (default: `codec_limits()`); its message and `.path` name where the
    value sits, starting from `path`.
    """
    try:
        return _Encoder(limits or codec_limits()).encode(obj)
    except _EncodeFailure as failure:
        raise failure.to_error(path) from None
    except RecursionError:
        raise SerializationError(
            f"cannot serialize {path}: the value is nested too deeply", path=path
        ) from None


def encode_result_body(
    result: Ok[object] | Err[object], *, path: str, limits: CodecLimits | None = None
) -> dict[str, JSONValue]:
    """`{"ok": true, "value": ...}` or `{"ok": false, "error": ..., "cause": ...}`."""
    try:
        return _Encoder(limits or codec_limits()).result_body(result)
    except _EncodeFailure as failure:
        raise failure.to_error(path) from None
    except RecursionError:
        raise SerializationError(
            f"cannot serialize {path}: the value is nested too deeply", path=path
        ) from None


class _EncodeFailure(Exception):
    """Internal: a failure deep inside a value; each level on the way up adds its segment."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segments: list[str] = []

    def to_error(self, root: str) -> SerializationError:
        full = root + "".join(reversed(self.segments))
        return SerializationError(f"cannot serialize {full}: {self.reason}", path=full)


Handler: TypeAlias = Callable[["_Encoder", Any], JSONValue]

_SCALARS: frozenset[type[object]] = frozenset({str, bool})
# Python refuses to turn ints past 4300 digits into decimal text (and so does json);
# hexadecimal has no such limit.
_MAX_PLAIN_INT_BITS = 10_000
_TIME_FORMS: dict[type[object], Form] = {dt.datetime: Form.DATETIME, dt.time: Form.TIME}


class _Encoder:
    """One encoding pass; remembers the containers being encoded to catch cycles.

    `_depth` counts the values being encoded that become JSON objects or arrays, exactly
    as the decoder counts the objects and arrays it reads, so both see the same depth.
    """

    __slots__ = ("_active", "_depth", "limits")

    def __init__(self, limits: CodecLimits) -> None:
        self.limits = limits
        self._active: set[int] = set()
        self._depth = 0

    def encode(self, obj: object) -> JSONValue:
        if obj is None or type(obj) in _SCALARS:
            return cast("JSONValue", obj)
        if type(obj) is int:
            if obj.bit_length() <= _MAX_PLAIN_INT_BITS:
                return obj
            self._check_depth(self._depth + 1)
            return {TYPE_KEY: Form.INT.value, "hex": hex(obj)}
        if type(obj) is float:
            if not math.isfinite(obj):
                self._check_depth(self._depth + 1)
            return _encode_float(obj)
        marker = id(obj)
        if marker in self._active:
            raise _EncodeFailure("circular reference: the value contains itself")
        self._check_depth(self._depth + 1)
        self._active.add(marker)
        self._depth += 1
        try:
            return self._dispatch(obj)
        finally:
            self._depth -= 1
            self._active.discard(marker)

    def _check_depth(self, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise _EncodeFailure(
                f"the value is nested more than {self.limits.max_depth} levels deep "
                "(CodecLimits.max_depth), which the decoder refuses"
            )

    def check_hashes(self, values: list[object], what: str) -> None:
        """Refuse items the decoder would refuse: too many sharing one hash value."""
        limit = self.limits.max_hash_collisions
        if len(values) <= limit:
            return
        index = crowded_hash(values, limit)
        if index is not None:
            raise _EncodeFailure(
                f"more than {limit} {what} share one hash value "
                "(CodecLimits.max_hash_collisions), which the decoder refuses"
            )

    def _dispatch(self, obj: object) -> JSONValue:
        handler = _EXACT_TYPES.get(type(obj))
        if handler is not None:
            return handler(self, obj)
        registration = registration_for_type(type(obj))
        if registration is not None:
            return self._registered(obj, registration)
        if isinstance(obj, enum.Enum):
            return self._structural(obj, Form.ENUM, self._class_name(type(obj)))
        if isinstance(obj, TaggedError):
            return self._tagged_error(obj)
        if isinstance(obj, BaseException):
            return _exception(ExceptionInfo.from_exception(obj))
        kind = class_kind(type(obj))
        if kind is not None:
            return self._structural(obj, kind, self._class_name(type(obj)))
        raise _EncodeFailure(
            f"unsupported type {class_path(type(obj))}; register it with register_codec()"
        )

    # -- containers -------------------------------------------------------------------
    def items(self, values: Iterable[object]) -> list[JSONValue]:
        out: list[JSONValue] = []
        for index, item in enumerate(values):
            try:
                out.append(self.encode(item))
            except _EncodeFailure as failure:
                failure.segments.append(f"[{index}]")
                raise
        return out

    def fields(self, pairs: Iterable[tuple[str, object]]) -> dict[str, JSONValue]:
        out: dict[str, JSONValue] = {}
        for name, value in pairs:
            try:
                out[name] = self.encode(value)
            except _EncodeFailure as failure:
                failure.segments.append(f".{name}")
                raise
        return out

    def mapping(self, data: dict[object, object]) -> JSONValue:
        if all(type(key) is str for key in data) and TYPE_KEY not in data:
            out: dict[str, JSONValue] = {}
            for key, value in data.items():
                out[cast("str", key)] = self._at_key(key, value)
            return out
        self.check_hashes(list(data), "keys of a dict")
        pairs: list[JSONValue] = []
        for index, (key, value) in enumerate(data.items()):
            try:
                encoded_key = self.encode(key)
            except _EncodeFailure as failure:
                failure.segments.append(f".keys()[{index}]")
                raise
            pairs.append([encoded_key, self._at_key(key, value)])
        return {TYPE_KEY: Form.DICT.value, "items": pairs}

    def _at_key(self, key: object, value: object) -> JSONValue:
        try:
            return self.encode(value)
        except _EncodeFailure as failure:
            failure.segments.append(path_key(key))
            raise

    def tagged_items(self, form: Form, values: Iterable[object]) -> JSONValue:
        return {TYPE_KEY: form.value, "items": self.items(values)}

    def unordered_items(self, form: Form, values: set[object] | frozenset[object]) -> JSONValue:
        self.check_hashes(list(values), f"items of a {form}")
        encoded = self.items(values)
        encoded.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return {TYPE_KEY: form.value, "items": encoded}

    # -- results and errors -------------------------------------------------------------
    def result_body(self, result: Ok[object] | Err[object]) -> dict[str, JSONValue]:
        if isinstance(result, Ok):
            return {"ok": True, **self.fields([("value", result.value)])}
        return {"ok": False, **self.fields([("error", result.error), ("cause", result.cause)])}

    def result(self, result: Ok[object] | Err[object]) -> JSONValue:
        return {TYPE_KEY: Form.RESULT.value, **self.result_body(result)}

    def _tagged_error(self, error: TaggedError) -> JSONValue:
        cls = type(error)
        if self.limits.classes == "registered" and not error_allowed(cls):
            raise _EncodeFailure(
                f"the error class {class_path(cls)} is not registered, and only registered "
                f"classes can be read back (CodecLimits.classes); register_codec({cls.__name__})"
            )
        pairs = [
            (f.name, getattr(error, f.name))
            for f in dataclasses.fields(cast("Any", error))
            if f.init
        ]
        _check_fields(cls, pairs)
        return {
            TYPE_KEY: Form.ERROR.value,
            "tag": error.tag,
            "class": cls.class_name_of(),
            "fields": self.fields(pairs),
        }

    # -- user types ---------------------------------------------------------------------
    def _registered(self, obj: object, registration: Registration) -> JSONValue:
        if registration.codec is None:
            kind = class_kind(type(obj))
            assert kind is not None, "register_codec only accepts structural classes"
            return self._structural(obj, kind, registration.tag)
        try:
            data = registration.codec.encode(obj)
        except Exception as exc:
            raise _EncodeFailure(
                f"the codec for {registration.tag!r} raised {type(exc).__name__}: {exc}"
            ) from exc
        return {TYPE_KEY: Form.CUSTOM.value, "tag": registration.tag, "value": self.encode(data)}

    def _structural(self, obj: object, kind: ClassKind, name: str) -> JSONValue:
        if kind == Form.DATACLASS:
            instance = cast("Any", obj)
            pairs = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(instance) if f.init]
            _check_rebuildable(type(obj), [name for name, _ in pairs])
            _check_fields(type(obj), pairs)
            return {TYPE_KEY: Form.DATACLASS.value, "class": name, "fields": self.fields(pairs)}
        if kind == Form.NAMEDTUPLE:
            named: dict[str, object] = cast("Any", obj)._asdict()
            _check_fields(type(obj), list(named.items()))
            return {
                TYPE_KEY: Form.NAMEDTUPLE.value,
                "class": name,
                "fields": self.fields(named.items()),
            }
        if kind == Form.ENUM:
            member = cast("enum.Enum", obj)
            return {
                TYPE_KEY: Form.ENUM.value,
                "class": name,
                **self.fields([("value", member.value)]),
            }
        try:
            data = dump_model(obj, kind)
        except Exception as exc:
            raise _EncodeFailure(
                f"{kind} could not serialize {class_path(type(obj))}: {exc}"
            ) from exc
        return {TYPE_KEY: kind.value, "class": name, "data": cast("JSONValue", data)}

    def _class_name(self, cls: type[object]) -> str:
        """The stored name of an unregistered class, checked to be findable again."""
        path = class_path(cls)
        if self.limits.classes == "registered":
            raise _EncodeFailure(
                f"{path} is not registered, and only registered classes can be read back "
                f"(CodecLimits.classes); register it with register_codec({cls.__name__})"
            )
        if cls not in _FINDABLE:
            if find_class(path) is not cls:
                raise _EncodeFailure(
                    f"{path} cannot be found by its import path (is it defined inside a "
                    f"function?); register it with register_codec({cls.__name__})"
                )
            _FINDABLE.add(cls)
        return path


_FINDABLE: set[type[object]] = set()


def _check_rebuildable(cls: type[object], stored: list[str]) -> None:
    """Refuse a dataclass whose `__init__` needs an argument that is not a stored field.

    That is an `InitVar` without a default: `cls(**fields)` could not rebuild it.
    """
    missing = _UNSTORED_ARGUMENTS.get(cls)
    if missing is None:
        try:
            parameters = list(inspect.signature(cls).parameters.values())
        except (TypeError, ValueError):  # no signature to read: nothing to check
            parameters = []
        missing = [
            parameter.name
            for parameter in parameters
            if parameter.default is parameter.empty
            and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
            and parameter.name not in stored
        ]
        _UNSTORED_ARGUMENTS[cls] = missing
    if missing:
        raise _EncodeFailure(
            f"{class_path(cls)} cannot be rebuilt from its fields: __init__ needs "
            f"{', '.join(missing)}, which is not a stored field (an InitVar?); register it "
            f"with encode= and decode= functions"
        )


_UNSTORED_ARGUMENTS: weakref.WeakKeyDictionary[type[object], list[str]] = (
    weakref.WeakKeyDictionary()
)


def _check_fields(cls: type[object], pairs: list[tuple[str, object]]) -> None:
    """Refuse field values the decoder would refuse: ones that do not fit the annotation."""
    found = field_mismatch(cls, dict(pairs))
    if found is None:
        return
    name, problem = found
    failure = _EncodeFailure(
        f"must be {problem.expected} (the annotation of {cls.__qualname__}.{name}), "
        f"not {problem.found}, so it could not be read back"
    )
    failure.segments.extend(problem.segments)
    failure.segments.append(f".{name}")
    raise failure


def _encode_float(value: float) -> JSONValue:
    if math.isfinite(value):
        return value
    text = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return {TYPE_KEY: Form.FLOAT.value, "value": text}


def _exception(info: ExceptionInfo) -> JSONValue:
    return {
        TYPE_KEY: Form.EXCEPTION.value,
        "type": info.type,
        "message": info.message,
        "traceback": info.traceback,
    }


def _time_of_day(value: dt.datetime | dt.time) -> JSONValue:
    form = _TIME_FORMS[type(value)]
    tz = value.tzinfo
    out: dict[str, JSONValue] = {TYPE_KEY: form.value}
    if isinstance(tz, ZoneInfo):
        # Keep the zone itself: wall time + zone + fold rebuild the exact value.
        out["value"] = value.replace(tzinfo=None).isoformat()
        out["zone"] = tz.key
    else:
        if tz is not None and value.utcoffset() is None:
            raise _EncodeFailure(f"the time zone {short_repr(tz)} has no fixed UTC offset here")
        out["value"] = value.isoformat()
    if value.fold:
        out["fold"] = 1
    return out


def _timedelta(value: dt.timedelta) -> JSONValue:
    return {
        TYPE_KEY: Form.TIMEDELTA.value,
        "days": value.days,
        "seconds": value.seconds,
        "microseconds": value.microseconds,
    }


def _bytes(form: Form, value: bytes | bytearray) -> JSONValue:
    return {TYPE_KEY: form.value, "base64": base64.b64encode(value).decode("ascii")}


_EXACT_TYPES: dict[type[object], Handler] = {
    list: _Encoder.items,
    dict: _Encoder.mapping,
    tuple: lambda encoder, value: encoder.tagged_items(Form.TUPLE, value),
    set: lambda encoder, value: encoder.unordered_items(Form.SET, value),
    frozenset: lambda encoder, value: encoder.unordered_items(Form.FROZENSET, value),
    bytes: lambda _, value: _bytes(Form.BYTES, value),
    bytearray: lambda _, value: _bytes(Form.BYTEARRAY, value),
    dt.datetime: lambda _, value: _time_of_day(value),
    dt.time: lambda _, value: _time_of_day(value),
    dt.date: lambda _, value: {TYPE_KEY: Form.DATE.value, "value": value.isoformat()},
    dt.timedelta: lambda _, value: _timedelta(value),
    Decimal: lambda _, value: {TYPE_KEY: Form.DECIMAL.value, "value": str(value)},
    uuid.UUID: lambda _, value: {TYPE_KEY: Form.UUID.value, "value": str(value)},
    Ok: _Encoder.result,
    Err: _Encoder.result,
    ExceptionInfo: lambda _, value: _exception(value),
}
