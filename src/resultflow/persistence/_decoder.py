"""`decode_value`: rebuild Python values from the JSON-safe data of `encode_value`.

Decoding trusts nothing in the data: every tagged form is checked field by field, and a
problem is reported with the path of the value it concerns. No module is ever imported
because the data names it; classes resolve as described in `resultflow.persistence._registry`.

Hostile data cannot make decoding slow or raise anything but the documented errors
(see `resultflow.persistence._limits`): nesting is bounded by `CodecLimits.max_depth`, a
set, frozenset or dict whose items share one hash value too often is refused before it
is built, and error paths are only formatted once something has failed. Fields of
dataclasses, NamedTuples and TaggedErrors are checked against the class's annotations
(`resultflow.persistence._field_types`) before the class is called.
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

from resultflow.errors import TaggedError, registered_tags
from resultflow.persistence._errors import ExceptionInfo, StateDecodeError, StateFormatError
from resultflow.persistence._field_types import field_mismatch
from resultflow.persistence._forms import (
    TYPE_KEY,
    ClassKind,
    Form,
    ModelKind,
    path_key,
    short_repr,
)
from resultflow.persistence._limits import (
    CodecLimitError,
    CodecLimits,
    LimitName,
    codec_limits,
    crowded_hash,
)
from resultflow.persistence._model_types import load_model
from resultflow.persistence._registry import (
    class_kind,
    class_path,
    error_allowed,
    find_class,
    registration_for_tag,
)
from resultflow.result import Err, Ok

__all__ = ["DecodeFailure", "Decoder", "decode_value"]

T = TypeVar("T")


def decode_value(data: object, *, path: str = "value", limits: CodecLimits | None = None) -> object:
    """Rebuild the value that `encode_value` turned into `data`.

    Raises `StateDecodeError` (a `ValueError` whose `.error` is a `StateFormatError`
    naming the path) when `data` is not valid encoded data or goes past the `limits`
    (default: `codec_limits()`).
    """
    try:
        return Decoder(limits).value(data)
    except DecodeFailure as failure:
        raise StateDecodeError(failure.to_error(path)) from None
    except RecursionError:
        raise StateDecodeError(
            StateFormatError(message=f"{path}: the data is nested too deeply", path=path)
        ) from None


class DecodeFailure(Exception):
    """Internal: invalid data deep inside a value; each level on the way up adds its segment.

    `limit` names the `CodecLimits` bound that refused the data, if one did.
    """

    def __init__(
        self, reason: str, segment: str | None = None, *, limit: LimitName | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit: LimitName | None = limit
        self.segments: list[str] = [] if segment is None else [segment]

    def to_error(self, root: str, version: int | None = None) -> StateFormatError:
        """The `StateFormatError` (a `CodecLimitError` past a limit) below the path `root`."""
        full = root + "".join(reversed(self.segments))
        where = f"{full} (state format {version})" if version is not None else full
        message = f"{where}: {self.reason}"
        if self.limit is not None:
            return CodecLimitError(message=message, path=full, version=version, limit=self.limit)
        return StateFormatError(message=message, path=full, version=version)


FormDecoder: TypeAlias = Callable[["Decoder", dict[str, object]], object]


class Decoder:
    """One decoding pass under `limits`; raises `DecodeFailure` for the caller to place.

    `_depth` counts the JSON objects and arrays being decoded, as the encoder counts the
    values it turns into them.
    """

    __slots__ = ("_depth", "limits")

    def __init__(self, limits: CodecLimits | None = None) -> None:
        self.limits = limits or codec_limits()
        self._depth = 0

    def value(self, data: object) -> object:
        """The value encoded as `data`."""
        if data is None or isinstance(data, bool | int | float | str):
            return data
        if self._depth >= self.limits.max_depth:
            raise DecodeFailure(
                f"the data is nested more than {self.limits.max_depth} levels deep "
                "(CodecLimits.max_depth)",
                limit="max_depth",
            )
        self._depth += 1
        try:
            return self._container(data)
        finally:
            self._depth -= 1

    def _container(self, data: object) -> object:
        if isinstance(data, list):
            return self.items(cast("list[object]", data))
        if isinstance(data, dict):
            body = cast("dict[str, object]", data)
            form = body.get(TYPE_KEY)
            if form is None:
                return {key: self.at_key(value, key) for key, value in body.items()}
            decoder = _DECODERS.get(form) if isinstance(form, str) else None
            if decoder is None:
                raise DecodeFailure(f"unknown value type {short_repr(form)} in {TYPE_KEY!r}")
            return decoder(self, body)
        raise DecodeFailure(f"{type(data).__name__} is not JSON data")

    # -- placing failures (paths are formatted only once something failed) -------------
    def at(self, data: object, segment: str) -> object:
        """`value(data)`, adding `segment` to the path of a failure."""
        try:
            return self.value(data)
        except DecodeFailure as failure:
            failure.segments.append(segment)
            raise

    def at_key(self, data: object, key: object) -> object:
        """`value(data)` for the entry `key` of a mapping."""
        try:
            return self.value(data)
        except DecodeFailure as failure:
            failure.segments.append(path_key(key))
            raise

    def items(self, raw: list[object]) -> list[object]:
        """Each item decoded; a failure names its index."""
        out: list[object] = []
        for index, item in enumerate(raw):
            try:
                out.append(self.value(item))
            except DecodeFailure as failure:
                failure.segments.append(f"[{index}]")
                raise
        return out

    def result_body(self, data: object) -> Ok[object] | Err[object]:
        """An Ok or Err from `{"ok": ..., "value" | "error", "cause"}`."""
        body = _object(data, "a result")
        ok = body.get("ok")
        if not isinstance(ok, bool):
            raise DecodeFailure("a result needs a boolean 'ok' field", ".ok")
        if ok:
            return Ok(self.at(_required(body, "value", "an Ok result"), ".value"))
        error = self.at(_required(body, "error", "an Err result"), ".error")
        cause = self.at(body.get("cause"), ".cause")
        return Err(error, cause=cause)

    def hashable(self, values: list[object], what: str, segment: Callable[[int], str]) -> None:
        """Refuse items that cannot go in a set or be dict keys, or would flood one bucket.

        Checked before the set or dict is built, in linear time.
        """
        for index, item in enumerate(values):
            try:
                hash(item)
            except Exception:  # TypeError, or a user __hash__ that fails
                raise DecodeFailure(
                    f"unhashable {type(item).__name__} {what}", segment(index)
                ) from None
        limit = self.limits.max_hash_collisions
        crowded = crowded_hash(values, limit) if len(values) > limit else None
        if crowded is not None:
            raise DecodeFailure(
                f"more than {limit} items share one hash value "
                "(CodecLimits.max_hash_collisions): refused, as a hash flooding attempt",
                segment(crowded),
                limit="max_hash_collisions",
            )

    def fields(self, raw: dict[str, object]) -> dict[str, object]:
        """The decoded fields of an object; a failure names the field."""
        return {name: self.at(value, f".{name}") for name, value in raw.items()}


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
    value = _required(body, name, f"a {short_repr(form)} value")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DecodeFailure(
            f"the {name!r} field of a {short_repr(form)} value must be {kind.__name__}, "
            f"not {type(value).__name__}"
        )
    return value


def _typed_list(body: dict[str, object], name: str) -> list[object]:
    return cast("list[object]", _typed(body, name, list))


def _typed_dict(body: dict[str, object], name: str) -> dict[str, object]:
    return cast("dict[str, object]", _typed(body, name, dict))


def _parsed(body: dict[str, object], parse: Callable[[str], T]) -> T:
    text = _typed(body, "value", str)
    try:
        return parse(text)
    except (ValueError, ArithmeticError, LookupError) as exc:
        raise DecodeFailure(
            f"invalid {short_repr(body[TYPE_KEY])} value {short_repr(text)}: {exc}"
        ) from None


# -- forms ----------------------------------------------------------------------------
def _float(_: Decoder, body: dict[str, object]) -> object:
    text = _typed(body, "value", str)
    if text not in ("nan", "inf", "-inf"):
        raise DecodeFailure(
            f"a tagged float must be 'nan', 'inf' or '-inf', not {short_repr(text)}"
        )
    return float(text)


def _int(_: Decoder, body: dict[str, object]) -> object:
    text = _typed(body, "hex", str)
    try:
        return int(text, 16)
    except ValueError:
        raise DecodeFailure(f"invalid hexadecimal integer {short_repr(text[:40])}") from None


def _set(decoder: Decoder, body: dict[str, object]) -> list[object]:
    items = decoder.items(_typed_list(body, "items"))
    decoder.hashable(items, "in a set", lambda index: f"[{index}]")
    return items


def _dict(decoder: Decoder, body: dict[str, object]) -> object:
    pairs: list[tuple[object, object]] = []
    for index, pair in enumerate(_typed_list(body, "items")):
        if not isinstance(pair, list) or len(cast("list[object]", pair)) != 2:
            raise DecodeFailure("a dict item must be a [key, value] pair", f".items()[{index}]")
        raw_key, raw_value = cast("list[object]", pair)
        pairs.append((decoder.at(raw_key, f".keys()[{index}]"), raw_value))
    keys = [key for key, _ in pairs]
    decoder.hashable(keys, "as a dict key", lambda index: f".keys()[{index}]")
    return {key: decoder.at_key(raw_value, key) for key, raw_value in pairs}


def _bytes(_: Decoder, body: dict[str, object]) -> bytes:
    text = _typed(body, "base64", str)
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise DecodeFailure(f"invalid base64 data: {exc}") from None


def _datetime(_: Decoder, body: dict[str, object]) -> dt.datetime:
    value = _parsed(body, dt.datetime.fromisoformat)
    zone, fold = _zone_and_fold(body, value.tzinfo)
    return value.replace(tzinfo=zone, fold=fold) if zone is not None else value.replace(fold=fold)


def _time(_: Decoder, body: dict[str, object]) -> dt.time:
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
            raise DecodeFailure(f"unknown time zone {short_repr(key)}: {exc}") from None
    fold = _typed(body, "fold", int) if "fold" in body else 0
    if fold not in (0, 1):
        raise DecodeFailure(f"'fold' must be 0 or 1, not {short_repr(fold)}")
    return zone, fold


def _timedelta(_: Decoder, body: dict[str, object]) -> object:
    parts = {name: _typed(body, name, int) for name in ("days", "seconds", "microseconds")}
    try:
        return dt.timedelta(**parts)
    except OverflowError:
        raise DecodeFailure("timedelta out of range") from None


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError("not a decimal number") from None


def _error(decoder: Decoder, body: dict[str, object]) -> object:
    tag = _typed(body, "tag", str)
    raw_fields = _typed_dict(body, "fields")
    class_name = body.get("class")
    cls = _error_class(tag, class_name if isinstance(class_name, str) else None)
    if decoder.limits.classes == "registered" and not error_allowed(cls):
        raise DecodeFailure(
            f"the error class {class_path(cls)} (tag {short_repr(tag)}) is not registered, and "
            "only registered classes are decoded (CodecLimits.classes)",
            limit="classes",
        )
    fields = decoder.fields(raw_fields)
    _check_fields(cls, fields)
    # The class comes from the outer tag alone: a "tag" among the fields is just an
    # unexpected field (TaggedError.tag is a class attribute), never a second say.
    try:
        return cls(**fields)
    except Exception as exc:  # wrong fields, or the class's own validation refused them
        raise DecodeFailure(
            f"cannot rebuild error {short_repr(tag)}: {type(exc).__name__}: {_text(exc)}"
        ) from None


def _error_class(tag: str, class_name: str | None) -> type[TaggedError]:
    classes: list[type[TaggedError]] = list(registered_tags().get(tag, ()))
    if class_name is not None:
        named = [cls for cls in classes if cls.class_name_of() == class_name]
        classes = named or classes
    if not classes:
        raise DecodeFailure(
            f"unknown error tag {short_repr(tag)}: no loaded TaggedError class has it "
            "(import the module that defines it before loading)"
        )
    if len(classes) > 1:
        names = ", ".join(sorted(cls.class_name_of() for cls in classes))
        raise DecodeFailure(
            f"error tag {short_repr(tag)} is used by {names}; give them distinct "
            "`tag: ClassVar[str]` values"
        )
    return classes[0]


def _exception(_: Decoder, body: dict[str, object]) -> object:
    traceback = body.get("traceback")
    if traceback is not None and not isinstance(traceback, str):
        raise DecodeFailure("the 'traceback' of an exception must be a string or null")
    return ExceptionInfo(
        type=_typed(body, "type", str), message=_typed(body, "message", str), traceback=traceback
    )


def _custom(decoder: Decoder, body: dict[str, object]) -> object:
    tag = _typed(body, "tag", str)
    registration = registration_for_tag(tag)
    if registration is None or registration.codec is None:
        raise DecodeFailure(
            f"no codec is registered for tag {short_repr(tag)} (see register_codec)"
        )
    data = decoder.at(_required(body, "value", "a 'custom' value"), ".value")
    try:
        return registration.codec.decode(data)
    except Exception as exc:
        raise DecodeFailure(
            f"the codec for {short_repr(tag)} could not decode its data: "
            f"{type(exc).__name__}: {_text(exc)}"
        ) from None


def _structural(kind: ClassKind) -> FormDecoder:
    def decode(decoder: Decoder, body: dict[str, object]) -> object:
        name = _typed(body, "class", str)
        cls = _find(name, kind, decoder.limits)
        if kind is Form.DATACLASS or kind is Form.NAMEDTUPLE:
            fields = decoder.fields(_typed_dict(body, "fields"))
            _check_fields(cls, fields)
            return _build(name, lambda: cls(**fields))
        if kind is Form.ENUM:
            value = decoder.at(_required(body, "value", "an 'enum' value"), ".value")
            return _build(name, lambda: cast("Callable[[object], object]", cls)(value))
        model: ModelKind = kind
        data = _required(body, "data", f"a {kind.value!r} value")
        return _build(name, lambda: load_model(cls, model, data))

    return decode


def _build(name: str, build: Callable[[], object]) -> object:
    try:
        return build()
    except Exception as exc:  # the class (its __post_init__, the model library) refused
        raise DecodeFailure(
            f"cannot rebuild {_cut(name)}: {type(exc).__name__}: {_text(exc)}".rstrip()
        ) from None


def _check_fields(cls: type[object], fields: dict[str, object]) -> None:
    found = field_mismatch(cls, fields)
    if found is None:
        return
    name, problem = found
    failure = DecodeFailure(
        f"must be {problem.expected} (the annotation of {cls.__qualname__}.{name}), "
        f"not {problem.found}"
    )
    failure.segments.extend(problem.segments)
    failure.segments.append(f".{name}")
    raise failure


def _find(name: str, kind: ClassKind, limits: CodecLimits) -> type[object]:
    registration = registration_for_tag(name)
    if registration is not None and registration.codec is None:
        cls: type[object] | None = registration.cls
    elif limits.classes == "registered":
        raise DecodeFailure(
            f"{kind.value} class {short_repr(name)} is not registered, and only registered "
            "classes are decoded (CodecLimits.classes); see register_codec()",
            limit="classes",
        )
    else:
        cls = find_class(name)
    if cls is None:
        raise DecodeFailure(
            f"unknown {kind.value} class {short_repr(name)}: register it with register_codec() "
            "or import its module before loading (stored data never imports modules)"
        )
    if class_kind(cls) != kind:
        raise DecodeFailure(f"{short_repr(name)} is not a {kind.value} class")
    return cls


def _cut(text: str) -> str:
    """A class name from the data, cut to a readable length for a message."""
    return text if len(text) <= 120 else f"{text[:120]}..."


def _text(exc: BaseException) -> str:
    """`str(exc)` for a message, cut short, and never raising itself."""
    try:
        text = str(exc)
    except Exception:
        return "(no message)"
    return text if len(text) <= 300 else f"{text[:300]}..."


_DECODERS: dict[str, FormDecoder] = {
    Form.FLOAT: _float,
    Form.INT: _int,
    Form.DICT: _dict,
    Form.TUPLE: lambda decoder, body: tuple(decoder.items(_typed_list(body, "items"))),
    Form.SET: lambda decoder, body: set(_set(decoder, body)),
    Form.FROZENSET: lambda decoder, body: frozenset(_set(decoder, body)),
    Form.BYTES: _bytes,
    Form.BYTEARRAY: lambda decoder, body: bytearray(_bytes(decoder, body)),
    Form.DATETIME: _datetime,
    Form.TIME: _time,
    Form.DATE: lambda _, body: _parsed(body, dt.date.fromisoformat),
    Form.TIMEDELTA: _timedelta,
    Form.DECIMAL: lambda _, body: _parsed(body, _decimal),
    Form.UUID: lambda _, body: _parsed(body, uuid.UUID),
    Form.RESULT: lambda decoder, body: decoder.result_body(body),
    Form.ERROR: _error,
    Form.EXCEPTION: _exception,
    Form.CUSTOM: _custom,
    Form.DATACLASS: _structural(Form.DATACLASS),
    Form.NAMEDTUPLE: _structural(Form.NAMEDTUPLE),
    Form.ENUM: _structural(Form.ENUM),
    Form.PYDANTIC: _structural(Form.PYDANTIC),
    Form.MSGSPEC: _structural(Form.MSGSPEC),
}
"""One decoder per form (a test checks that every `Form` has one)."""
