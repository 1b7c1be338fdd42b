"""`decode_value`: rebuild Python values from the JSON-safe data of `encode_value`.

Decoding trusts nothing in the data: every tagged form is checked field by field, and a
problem is reported with the path of the value it concerns. No module is ever imported
because the data names it; classes resolve as described in `resultflow.persistence.registry`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TypeAlias, TypeVar, cast
from zoneinfo import ZoneInfo

from resultflow.errors import AmbiguousTagError, TaggedError, UnknownTagError
from resultflow.persistence._encoder import TYPE_KEY, path_key
from resultflow.persistence._errors import ExceptionInfo, StateDecodeError, StateFormatError
from resultflow.persistence._model_types import load_model
from resultflow.persistence._registry import (
    ClassKind,
    class_kind,
    find_class,
    registration_for_tag,
)
from resultflow.result import Err, Ok

__all__ = ["DecodeFailure", "decode_data", "decode_result_body", "decode_value"]

T = TypeVar("T")


def decode_value(data: object, *, path: str = "value") -> object:
    """Rebuild the value that `encode_value` turned into `data`.

    Raises `StateDecodeError` (a `ValueError` whose `.error` is a `StateFormatError`
    naming the path) when `data` is not valid encoded data.
    """
    try:
        return _decode(data)
    except DecodeFailure as failure:
        raise StateDecodeError(failure.to_error(path)) from None
    except RecursionError:
        raise StateDecodeError(
            StateFormatError(message=f"{path}: the data is nested too deeply", path=path)
        ) from None


def decode_data(data: object) -> object:
    """Like `decode_value`, but raises `DecodeFailure` so the caller can add its own path."""
    return _decode(data)


def decode_result_body(data: object) -> Ok[object] | Err[object]:
    """Rebuild an Ok or Err from `{"ok": ..., "value" | "error", "cause"}`.

    Raises `DecodeFailure`; callers add the path and turn it into a `StateFormatError`.
    """
    body = _object(data, "a result")
    ok = body.get("ok")
    if not isinstance(ok, bool):
        raise DecodeFailure("a result needs a boolean 'ok' field", ".ok")
    if ok:
        return Ok(_decode_at(_required(body, "value", "an Ok result"), ".value"))
    error = _decode_at(_required(body, "error", "an Err result"), ".error")
    cause = _decode_at(body.get("cause"), ".cause")
    return Err(error, cause=cause)


class DecodeFailure(Exception):
    """Internal: invalid data deep inside a value; each level on the way up adds its segment."""

    def __init__(self, reason: str, segment: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segments: list[str] = [] if segment is None else [segment]

    def to_error(self, root: str, version: int | None = None) -> StateFormatError:
        """The `StateFormatError` for this failure below the path `root`."""
        full = root + "".join(reversed(self.segments))
        where = f"{full} (state format {version})" if version is not None else full
        return StateFormatError(message=f"{where}: {self.reason}", path=full, version=version)


Decoder: TypeAlias = Callable[[dict[str, object]], object]


def _decode(data: object) -> object:
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        items = cast("list[object]", data)
        return [_decode_at(item, f"[{index}]") for index, item in enumerate(items)]
    if isinstance(data, dict):
        body = cast("dict[str, object]", data)
        form = body.get(TYPE_KEY)
        if form is None:
            return {key: _decode_at(value, path_key(key)) for key, value in body.items()}
        decoder = _DECODERS.get(form) if isinstance(form, str) else None
        if decoder is None:
            raise DecodeFailure(f"unknown value type {form!r} in {TYPE_KEY!r}")
        return decoder(body)
    raise DecodeFailure(f"{type(data).__name__} is not JSON data")


def _decode_at(data: object, segment: str) -> object:
    try:
        return _decode(data)
    except DecodeFailure as failure:
        failure.segments.append(segment)
        raise


# -- field access ---------------------------------------------------------------------
def _object(data: object, what: str) -> dict[str, object]:
    if not isinstance(data, dict):
        raise DecodeFailure(f"{what} must be a JSON object, not {type(data).__name__}")
    return cast("dict[str, object]", data)


def _required(body: dict[str, object], name: str, what: str) -> object:
    if name not in body:
        raise DecodeFailure(f"{what} is missing its {name!r} field")
    return body[name]


def _typed(body: dict[str, object], name: str, kind: type[T]) -> T:
    form = body.get(TYPE_KEY, "value")
    value = _required(body, name, f"a {form!r} value")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DecodeFailure(
            f"the {name!r} field of a {form!r} value must be {kind.__name__}, "
            f"not {type(value).__name__}"
        )
    return value


def _typed_list(body: dict[str, object], name: str) -> list[object]:
    return cast("list[object]", _typed(body, name, list))


def _typed_dict(body: dict[str, object], name: str) -> dict[str, object]:
    return cast("dict[str, object]", _typed(body, name, dict))


def _items(body: dict[str, object]) -> list[object]:
    return [_decode_at(item, f"[{index}]") for index, item in enumerate(_typed_list(body, "items"))]


def _hashable_items(body: dict[str, object]) -> list[object]:
    items = _items(body)
    for index, item in enumerate(items):
        try:
            hash(item)
        except TypeError:
            raise DecodeFailure(
                f"unhashable {type(item).__name__} in a set", f"[{index}]"
            ) from None
    return items


def _parsed(body: dict[str, object], parse: Callable[[str], T]) -> T:
    text = _typed(body, "value", str)
    try:
        return parse(text)
    except (ValueError, ArithmeticError, LookupError) as exc:
        raise DecodeFailure(f"invalid {body[TYPE_KEY]!r} value {text!r}: {exc}") from None


# -- forms ----------------------------------------------------------------------------
def _float(body: dict[str, object]) -> object:
    text = _typed(body, "value", str)
    if text not in ("nan", "inf", "-inf"):
        raise DecodeFailure(f"a tagged float must be 'nan', 'inf' or '-inf', not {text!r}")
    return float(text)


def _int(body: dict[str, object]) -> object:
    text = _typed(body, "hex", str)
    try:
        return int(text, 16)
    except ValueError:
        raise DecodeFailure(f"invalid hexadecimal integer {text[:40]!r}") from None


def _dict(body: dict[str, object]) -> object:
    out: dict[object, object] = {}
    for index, pair in enumerate(_typed_list(body, "items")):
        if not isinstance(pair, list) or len(cast("list[object]", pair)) != 2:
            raise DecodeFailure("a dict item must be a [key, value] pair", f".items()[{index}]")
        raw_key, raw_value = cast("list[object]", pair)
        key = _decode_at(raw_key, f".keys()[{index}]")
        try:
            hash(key)
        except TypeError:
            raise DecodeFailure(
                f"unhashable {type(key).__name__} as a dict key", f".keys()[{index}]"
            ) from None
        out[key] = _decode_at(raw_value, path_key(key))
    return out


def _bytes(body: dict[str, object]) -> bytes:
    text = _typed(body, "base64", str)
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise DecodeFailure(f"invalid base64 data: {exc}") from None


def _datetime(body: dict[str, object]) -> dt.datetime:
    value = _parsed(body, dt.datetime.fromisoformat)
    zone, fold = _zone_and_fold(body, value.tzinfo)
    return value.replace(tzinfo=zone, fold=fold) if zone is not None else value.replace(fold=fold)


def _time(body: dict[str, object]) -> dt.time:
    value = _parsed(body, dt.time.fromisoformat)
    zone, fold = _zone_and_fold(body, value.tzinfo)
    return value.replace(tzinfo=zone, fold=fold) if zone is not None else value.replace(fold=fold)


def _zone_and_fold(
    body: dict[str, object], parsed_tz: dt.tzinfo | None
) -> tuple[ZoneInfo | None, int]:
    zone: ZoneInfo | None = None
    if "zone" in body:
        key = _typed(body, "zone", str)
        if parsed_tz is not None:
            raise DecodeFailure("a value with a 'zone' must be a local time without an offset")
        try:
            zone = ZoneInfo(key)
        except (ValueError, LookupError, OSError) as exc:
            raise DecodeFailure(f"unknown time zone {key!r}: {exc}") from None
    fold = _typed(body, "fold", int) if "fold" in body else 0
    if fold not in (0, 1):
        raise DecodeFailure(f"'fold' must be 0 or 1, not {fold}")
    return zone, fold


def _timedelta(body: dict[str, object]) -> object:
    parts = {name: _typed(body, name, int) for name in ("days", "seconds", "microseconds")}
    try:
        return dt.timedelta(**parts)
    except OverflowError as exc:
        raise DecodeFailure(f"timedelta out of range: {exc}") from None


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError("not a decimal number") from None


def _result(body: dict[str, object]) -> object:
    return decode_result_body(body)


def _error(body: dict[str, object]) -> object:
    tag = _typed(body, "tag", str)
    raw_fields = _typed_dict(body, "fields")
    fields = {name: _decode_at(value, f".{name}") for name, value in raw_fields.items()}
    class_name = body.get("class")
    hint = class_name if isinstance(class_name, str) else None
    try:
        return TaggedError.from_dict({"tag": tag, **fields}, class_name=hint)
    except AmbiguousTagError as exc:
        raise DecodeFailure(str(exc)) from None
    except UnknownTagError:
        raise DecodeFailure(
            f"unknown error tag {tag!r}: no loaded TaggedError class has it "
            "(import the module that defines it before loading)"
        ) from None
    except (TypeError, ValueError) as exc:
        raise DecodeFailure(f"cannot rebuild error {tag!r}: {exc}") from None


def _exception(body: dict[str, object]) -> object:
    traceback = body.get("traceback")
    if traceback is not None and not isinstance(traceback, str):
        raise DecodeFailure("the 'traceback' of an exception must be a string or null")
    return ExceptionInfo(
        type=_typed(body, "type", str), message=_typed(body, "message", str), traceback=traceback
    )


def _custom(body: dict[str, object]) -> object:
    tag = _typed(body, "tag", str)
    registration = registration_for_tag(tag)
    if registration is None or registration.codec is None:
        raise DecodeFailure(f"no codec is registered for tag {tag!r} (see register_codec)")
    data = _decode_at(_required(body, "value", "a 'custom' value"), ".value")
    try:
        return registration.codec.decode(data)
    except Exception as exc:
        raise DecodeFailure(
            f"the codec for {tag!r} could not decode its data: {type(exc).__name__}: {exc}"
        ) from None


def _structural(kind: ClassKind) -> Decoder:
    def decode(body: dict[str, object]) -> object:
        name = _typed(body, "class", str)
        cls = _find(name, kind)
        try:
            if kind == "dataclass" or kind == "namedtuple":
                raw = _typed_dict(body, "fields")
                fields = {key: _decode_at(value, f".{key}") for key, value in raw.items()}
                return cls(**fields)
            if kind == "enum":
                value = _decode_at(_required(body, "value", "an 'enum' value"), ".value")
                return cast("Callable[[object], object]", cls)(value)
            return load_model(cls, kind, _required(body, "data", f"a {kind!r} value"))
        except DecodeFailure:
            raise
        except Exception as exc:
            raise DecodeFailure(
                f"cannot rebuild {name}: {type(exc).__name__}: {exc}".rstrip()
            ) from None

    return decode


def _find(name: str, kind: ClassKind) -> type[object]:
    registration = registration_for_tag(name)
    if registration is not None and registration.codec is None:
        cls: type[object] | None = registration.cls
    else:
        cls = find_class(name)
    if cls is None:
        raise DecodeFailure(
            f"unknown {kind} class {name!r}: register it with register_codec() or import "
            "its module before loading (stored data never imports modules)"
        )
    if class_kind(cls) != kind:
        raise DecodeFailure(f"{name!r} is not a {kind} class")
    return cls


_DECODERS: dict[str, Decoder] = {
    "float": _float,
    "int": _int,
    "dict": _dict,
    "tuple": lambda body: tuple(_items(body)),
    "set": lambda body: set(_hashable_items(body)),
    "frozenset": lambda body: frozenset(_hashable_items(body)),
    "bytes": _bytes,
    "bytearray": lambda body: bytearray(_bytes(body)),
    "datetime": _datetime,
    "time": _time,
    "date": lambda body: _parsed(body, dt.date.fromisoformat),
    "timedelta": _timedelta,
    "decimal": lambda body: _parsed(body, _decimal),
    "uuid": lambda body: _parsed(body, uuid.UUID),
    "result": _result,
    "error": _error,
    "exception": _exception,
    "custom": _custom,
    "dataclass": _structural("dataclass"),
    "namedtuple": _structural("namedtuple"),
    "enum": _structural("enum"),
    "pydantic": _structural("pydantic"),
    "msgspec": _structural("msgspec"),
}
