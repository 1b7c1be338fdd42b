"""The persistence codec: every supported type, error paths, and bad stored input."""

from __future__ import annotations

import datetime as dt
import enum
import json
import sys
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, NamedTuple
from zoneinfo import ZoneInfo

import pytest

from resultflow.cache import CacheEntry
from resultflow.errors import (
    ApprovalRejected,
    SagaCompensationFailed,
    TaggedError,
    UnexpectedError,
)
from resultflow.persistence import (
    FORMAT_VERSION,
    ExceptionInfo,
    LoadedState,
    SerializationError,
    StateDecodeError,
    StateFormatError,
    VersionedState,
    decode_value,
    deserialize_entry,
    deserialize_result,
    deserialize_state,
    dumps_state,
    encode_value,
    loads_state,
    parse_state,
    register_codec,
    serialize_entry,
    serialize_result,
    serialize_state,
    unregister_codec,
)
from resultflow.result import Err, Ok


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Perm(enum.Flag):
    READ = 1
    WRITE = 2


@dataclass(frozen=True)
class Card:
    number: str
    expires: dt.date


@dataclass
class Charge:
    amount: Decimal
    card: object
    tags: list[str] = field(default_factory=list[str])
    total: Decimal = field(init=False)

    def __post_init__(self) -> None:
        self.total = self.amount * 2


class Pair(NamedTuple):
    left: int
    right: object


class Declined(TaggedError):
    reason: str
    at: dt.datetime
    card: Card | None = None


class Money:
    """Not a dataclass: needs a custom codec."""

    def __init__(self, cents: int, currency: str) -> None:
        self.cents = cents
        self.currency = currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (self.cents, self.currency) == (
            other.cents,
            other.currency,
        )

    def __hash__(self) -> int:
        return hash((self.cents, self.currency))


class Opaque:
    """A type the codec does not know."""


def round_trip(value: object) -> object:
    """Encode, go through real JSON text, decode."""
    text = json.dumps(encode_value(value), allow_nan=False)
    return decode_value(json.loads(text))


# -- plain values and their stored forms ---------------------------------------------------
@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (None, None),
        (True, True),
        (7, 7),
        (10**40, 10**40),
        (1.5, 1.5),
        ("héllo", "héllo"),
        ([1, "a", None], [1, "a", None]),
        ({"a": 1}, {"a": 1}),
        (float("inf"), {"$type": "float", "value": "inf"}),
        (float("-inf"), {"$type": "float", "value": "-inf"}),
        ((1, 2), {"$type": "tuple", "items": [1, 2]}),
        ({3, 1, 2}, {"$type": "set", "items": [1, 2, 3]}),
        (frozenset({"b", "a"}), {"$type": "frozenset", "items": ["a", "b"]}),
        (b"\x00\xffhi", {"$type": "bytes", "base64": "AP9oaQ=="}),
        (bytearray(b"ab"), {"$type": "bytearray", "base64": "YWI="}),
        ({1: "a"}, {"$type": "dict", "items": [[1, "a"]]}),
        ({"$type": "x"}, {"$type": "dict", "items": [["$type", "x"]]}),
        (dt.date(2024, 2, 29), {"$type": "date", "value": "2024-02-29"}),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, 6),
            {"$type": "datetime", "value": "2024-01-02T03:04:05.000006"},
        ),
        (
            dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.UTC),
            {"$type": "datetime", "value": "2024-01-02T03:04:00+00:00"},
        ),
        (dt.time(9, 30), {"$type": "time", "value": "09:30:00"}),
        (
            dt.timedelta(days=-1, seconds=5, microseconds=7),
            {"$type": "timedelta", "days": -1, "seconds": 5, "microseconds": 7},
        ),
        (Decimal("1.10"), {"$type": "decimal", "value": "1.10"}),
        (
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            {"$type": "uuid", "value": "12345678-1234-5678-1234-567812345678"},
        ),
        (Color.RED, {"$type": "enum", "class": "test_codec:Color", "value": "red"}),
        (Ok(1), {"$type": "result", "ok": True, "value": 1}),
        (
            Err("nope"),
            {"$type": "result", "ok": False, "error": "nope", "cause": None},
        ),
        (
            ApprovalRejected("refund", "too big"),
            {
                "$type": "error",
                "tag": "ApprovalRejected",
                "class": "resultflow.errors:ApprovalRejected",
                "fields": {"key": "refund", "reason": "too big"},
            },
        ),
    ],
    ids=repr,
)
def test_encoded_form_and_round_trip(value: object, encoded: object) -> None:
    assert encode_value(value) == encoded
    decoded = round_trip(value)
    assert decoded == value
    assert type(decoded) is type(value)


def test_nan_round_trips_as_a_tagged_float() -> None:
    decoded = round_trip(float("nan"))
    assert isinstance(decoded, float)
    assert decoded != decoded


def test_huge_ints_are_stored_as_hex() -> None:
    huge = 7**20_000  # ~17,000 digits: past Python's limit for int <-> decimal text
    encoded = encode_value(-huge)
    assert isinstance(encoded, dict)
    assert encoded["$type"] == "int"
    assert round_trip([-huge, 10**40]) == [-huge, 10**40]
    error = format_error('{"format": 1, "version": 1, "steps": {"a": ' + "1" * 5000 + "}}")
    assert error.message.startswith("not readable JSON")
    bad = doc({"a": ok_step({"$type": "int", "hex": "0xzz"})})
    assert "invalid hexadecimal integer" in format_error(bad).message


def test_decimal_specials_round_trip() -> None:
    for text in ("NaN", "sNaN", "-Infinity", "-0", "1E+3"):
        decoded = round_trip(Decimal(text))
        assert isinstance(decoded, Decimal)
        assert str(decoded) == text


def test_nested_containers_keep_their_types() -> None:
    value = {
        "list": [(1, {2, 3}), frozenset({(4, 5)})],
        (1, "a"): {"inner": [b"x", None]},
        frozenset({1}): Decimal("0.5"),
    }
    decoded = round_trip(value)
    assert decoded == value
    assert isinstance(decoded, dict)
    assert type(decoded["list"][0]) is tuple


def test_set_encoding_is_stable_whatever_the_insertion_order() -> None:
    assert encode_value({"b", "a", "c"}) == encode_value({"c", "b", "a"})


# -- dates and times ---------------------------------------------------------------------
def test_zoneinfo_datetime_keeps_the_zone_and_fold() -> None:
    ny = ZoneInfo("America/New_York")
    repeated = dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=ny)  # the second 01:30
    encoded = encode_value(repeated)
    assert encoded == {
        "$type": "datetime",
        "value": "2024-11-03T01:30:00",
        "zone": "America/New_York",
        "fold": 1,
    }
    decoded = round_trip(repeated)
    assert isinstance(decoded, dt.datetime)
    assert decoded.tzinfo is ny
    assert decoded.fold == 1
    assert decoded.utcoffset() == dt.timedelta(hours=-5)


def test_fixed_offset_datetime_and_time_round_trip() -> None:
    tz = dt.timezone(dt.timedelta(hours=5, minutes=30))
    moment = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=tz)
    assert round_trip(moment) == moment
    assert round_trip(dt.time(1, 2, 3, 4, tzinfo=tz)) == dt.time(1, 2, 3, 4, tzinfo=tz)
    decoded = round_trip(moment)
    assert isinstance(decoded, dt.datetime)
    assert decoded.utcoffset() == dt.timedelta(hours=5, minutes=30)


def test_time_with_a_zone_round_trips() -> None:
    value = dt.time(8, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert encode_value(value) == {"$type": "time", "value": "08:00:00", "zone": "Europe/Paris"}
    assert round_trip(value) == value


# -- results, errors and exceptions -------------------------------------------------------
def test_serialize_result_shapes() -> None:
    assert serialize_result(Ok({"id": 1})) == {"ok": True, "value": {"id": 1}}
    assert serialize_result(Err("missing", cause={"why": 1})) == {
        "ok": False,
        "error": "missing",
        "cause": {"why": 1},
    }
    restored = deserialize_result(serialize_result(Err("missing", cause=(1, 2))))
    assert restored == Err("missing")
    assert isinstance(restored, Err)
    assert restored.cause == (1, 2)


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_exception_cause_comes_back_as_exception_info() -> None:
    exc = raised(ValueError("bad card"))
    data = serialize_result(Err("declined", cause=exc))
    cause = data["cause"]
    assert isinstance(cause, dict)
    assert cause["$type"] == "exception"
    assert cause["type"] == "ValueError"
    restored = deserialize_result(json.loads(json.dumps(data)))
    assert isinstance(restored, Err)
    info = restored.cause
    assert isinstance(info, ExceptionInfo)
    assert (info.type, info.message) == ("ValueError", "bad card")
    assert info.traceback is not None
    assert "ValueError: bad card" in info.traceback


def test_unraised_exception_has_no_traceback_and_keeps_its_module_path() -> None:
    encoded = encode_value(json.JSONDecodeError("oops", "doc", 0))
    assert isinstance(encoded, dict)
    assert encoded["type"] == "json.decoder.JSONDecodeError"
    assert encoded["traceback"] is None
    info = ExceptionInfo("KeyError", "'x'", None)
    assert round_trip(info) == info


def test_unexpected_error_cause_is_described_not_pickled() -> None:
    exc = raised(RuntimeError("db down"))
    error = UnexpectedError.from_exception(exc, step="charge")
    decoded = round_trip(Err(error, cause=exc))
    assert decoded == Err(error)
    assert isinstance(decoded, Err)
    inner = decoded.error
    assert isinstance(inner, UnexpectedError)
    assert (inner.exception_type, inner.message, inner.step) == (
        "RuntimeError",
        "db down",
        "charge",
    )
    assert isinstance(inner.cause, ExceptionInfo)
    assert inner.cause.message == "db down"
    assert isinstance(decoded.cause, ExceptionInfo)


def test_exception_as_an_error_value_comes_back_as_exception_info() -> None:
    decoded = round_trip(Err(KeyError("k")))
    assert decoded == Err(ExceptionInfo("KeyError", "'k'", None))


def test_tagged_errors_with_nested_values() -> None:
    error = Declined(
        "expired", dt.datetime(2024, 1, 1, tzinfo=dt.UTC), Card("4242", dt.date(2030, 1, 1))
    )
    assert round_trip(error) == error
    saga = SagaCompensationFailed(
        error=error,
        failures=[("refund", UnexpectedError("ValueError", "x")), ("email", Color.RED)],
    )
    decoded = round_trip(saga)
    assert decoded == saga
    assert isinstance(decoded, SagaCompensationFailed)
    assert type(decoded.failures[0]) is tuple


def test_results_nest_inside_values() -> None:
    value = {"first": Ok([1, 2]), "second": [Err(Color.GREEN)]}
    assert round_trip(value) == value


# -- enums, dataclasses, named tuples ----------------------------------------------------------
def test_enums_including_int_enum_and_flags() -> None:
    for member in (Level.HIGH, Perm.READ | Perm.WRITE, Color.GREEN):
        decoded = round_trip(member)
        assert decoded is member or decoded == member
        assert type(decoded) is type(member)
    assert round_trip({Level.LOW: "x"}) == {Level.LOW: "x"}


def test_dataclass_by_import_path_skips_init_false_fields() -> None:
    charge = Charge(Decimal("9.99"), Card("4242", dt.date(2030, 1, 1)), ["a"])
    encoded = encode_value(charge)
    assert encoded == {
        "$type": "dataclass",
        "class": "test_codec:Charge",
        "fields": {
            "amount": {"$type": "decimal", "value": "9.99"},
            "card": {
                "$type": "dataclass",
                "class": "test_codec:Card",
                "fields": {"number": "4242", "expires": {"$type": "date", "value": "2030-01-01"}},
            },
            "tags": ["a"],
        },
    }
    decoded = round_trip(charge)
    assert decoded == charge
    assert isinstance(decoded, Charge)
    assert decoded.total == Decimal("19.98")


def test_named_tuple_round_trips() -> None:
    pair = Pair(1, (2, 3))
    assert encode_value(pair) == {
        "$type": "namedtuple",
        "class": "test_codec:Pair",
        "fields": {"left": 1, "right": {"$type": "tuple", "items": [2, 3]}},
    }
    decoded = round_trip(pair)
    assert decoded == pair
    assert type(decoded) is Pair


def test_local_dataclass_must_be_registered() -> None:
    @dataclass
    class Local:
        x: int

    with pytest.raises(SerializationError, match=r"register_codec\(Local\)") as info:
        encode_value({"k": Local(1)})
    assert info.value.path == 'value["k"]'

    register_codec(Local, tag="test-local")
    try:
        assert encode_value(Local(1)) == {
            "$type": "dataclass",
            "class": "test-local",
            "fields": {"x": 1},
        }
        assert round_trip(Local(2)) == Local(2)
    finally:
        unregister_codec(Local)
    with pytest.raises(StateDecodeError, match="unknown dataclass class 'test-local'"):
        decode_value({"$type": "dataclass", "class": "test-local", "fields": {"x": 1}})


def test_registered_tag_keeps_data_valid_when_the_class_is_renamed() -> None:
    @dataclass
    class Old:
        x: int

    @dataclass
    class New:
        x: int

    register_codec(Old, tag="test-point")
    data = encode_value(Old(3))
    unregister_codec(Old)
    register_codec(New, tag="test-point")
    try:
        assert decode_value(data) == New(3)
    finally:
        unregister_codec(New)


# -- custom codecs ----------------------------------------------------------------------
def test_register_codec_with_functions() -> None:
    register_codec(
        Money,
        tag="test-money",
        encode=lambda money: (money.cents, money.currency),
        decode=lambda data: Money(*data),
    )
    try:
        value = {"price": Money(1999, "EUR"), "set": {Money(1, "USD")}}
        assert encode_value(Money(5, "EUR")) == {
            "$type": "custom",
            "tag": "test-money",
            "value": {"$type": "tuple", "items": [5, "EUR"]},
        }
        assert round_trip(value) == value
    finally:
        unregister_codec(Money)
    with pytest.raises(SerializationError, match="unsupported type test_codec:Money"):
        encode_value(Money(1, "EUR"))


def test_register_codec_with_a_codec_object() -> None:
    class MoneyCodec:
        def encode(self, value: Money, /) -> object:
            return f"{value.cents} {value.currency}"

        def decode(self, data: str, /) -> Money:
            cents, currency = data.split()
            return Money(int(cents), currency)

    assert register_codec(Money, MoneyCodec(), tag="test-money-text") is Money
    try:
        assert round_trip([Money(3, "GBP")]) == [Money(3, "GBP")]
        with pytest.raises(StateDecodeError, match="could not decode its data") as info:
            decode_value([{"$type": "custom", "tag": "test-money-text", "value": "garbage"}])
        assert info.value.error.path == "value[0]"
    finally:
        unregister_codec(Money)


def test_codec_that_raises_while_encoding_names_the_path() -> None:
    def explode(value: Money) -> object:
        raise RuntimeError("no rates today")

    register_codec(Money, tag="test-money-broken", encode=explode, decode=lambda data: data)
    try:
        with pytest.raises(SerializationError, match="raised RuntimeError: no rates today") as info:
            dumps_state({"pay": CacheEntry(Ok({"total": Money(1, "EUR")}))})
        assert info.value.path == 'state["pay"].value["total"]'
    finally:
        unregister_codec(Money)


def test_register_codec_rejects_misuse() -> None:
    with pytest.raises(TypeError, match="built into the codec"):
        register_codec(dt.datetime, encode=str, decode=str)
    with pytest.raises(TypeError, match="both encode= and decode="):
        register_codec(Money, encode=lambda m: 1)
    with pytest.raises(TypeError, match="give encode= and decode="):
        register_codec(Money)
    with pytest.raises(TypeError, match="stored by its error tag"):
        register_codec(Declined, tag="declined")
    register_codec(Card, tag="test-card-tag")
    try:
        with pytest.raises(ValueError, match="already used by test_codec:Card"):
            register_codec(Charge, tag="test-card-tag")
    finally:
        unregister_codec(Card)


def test_registering_a_redefined_class_replaces_the_old_definition() -> None:
    def define() -> type:
        @dataclass
        class Again:
            x: int

        return Again

    first, second = define(), define()
    register_codec(first, tag="test-again")
    register_codec(second, tag="test-again")
    try:
        assert decode_value(encode_value(second(1))) == second(1)
        with pytest.raises(SerializationError, match="register_codec"):
            encode_value(first(1))
    finally:
        unregister_codec(second)


# -- serialization errors name the path ---------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "path"),
    [
        ({"charge": CacheEntry(Ok(Charge(Decimal(1), Opaque())))}, 'state["charge"].value.card'),
        ({"a": CacheEntry(Ok([1, (2, Opaque())]))}, 'state["a"].value[1][1]'),
        ({"a": CacheEntry(Err({"k": Opaque()}))}, 'state["a"].error["k"]'),
        ({"a": CacheEntry(Err("x", cause=Opaque()))}, 'state["a"].cause'),
        ({"a": CacheEntry(Ok(1), {"when": Opaque()})}, 'state["a"].meta["when"]'),
        ({"a": CacheEntry(Ok({Opaque(): 1}))}, 'state["a"].value.keys()[0]'),
        ({"a": CacheEntry(Ok({3: Opaque()}))}, 'state["a"].value[3]'),
        ({"a": CacheEntry(Ok(Ok(Pair(1, Opaque()))))}, 'state["a"].value.value.right'),
        (
            {"a": CacheEntry(Err(UnexpectedError("E", "m", cause=Opaque())))},
            'state["a"].error.cause',
        ),
        ({"a": CacheEntry(Ok(Color.RED)), "b": CacheEntry(Ok({Opaque()}))}, 'state["b"].value[0]'),
    ],
)
def test_serialization_error_names_the_path(state: dict[str, CacheEntry], path: str) -> None:
    with pytest.raises(SerializationError) as info:
        dumps_state(state)
    assert info.value.path == path
    assert str(info.value).startswith(
        f"cannot serialize {path}: unsupported type test_codec:Opaque"
    )


def test_document_meta_path_and_non_string_keys() -> None:
    with pytest.raises(SerializationError) as info:
        dumps_state({}, meta={"owner": Opaque()})
    assert info.value.path == 'meta["owner"]'
    with pytest.raises(SerializationError, match="meta key 1 is not a string"):
        dumps_state({"a": CacheEntry(Ok(1), {1: "x"})})  # type: ignore[dict-item]
    with pytest.raises(SerializationError, match="step key 1 is not a string"):
        dumps_state({1: CacheEntry(Ok(1))})  # type: ignore[dict-item]


def test_circular_reference_is_a_serialization_error() -> None:
    loop: list[object] = [1]
    loop.append(loop)
    with pytest.raises(SerializationError, match="circular reference") as info:
        encode_value({"x": loop})
    assert info.value.path == 'value["x"][1]'
    shared = [1]
    assert round_trip([shared, shared]) == [[1], [1]]  # shared, not circular


def test_subclasses_of_builtins_are_not_silently_flattened() -> None:
    class Name(str):
        pass

    with pytest.raises(SerializationError, match="unsupported type"):
        encode_value(Name("x"))


# -- states --------------------------------------------------------------------------------------
def sample_state() -> dict[str, CacheEntry]:
    return {
        "charge": CacheEntry(
            Ok(Charge(Decimal("5"), Card("1", dt.date(2031, 2, 3)))), {"attempt": 2}
        ),
        "ship": CacheEntry(Err(Declined("stolen", dt.datetime(2024, 1, 1))), {}),
        "approve": CacheEntry(Ok(None)),
    }


def test_dumps_and_loads_state_round_trip_with_meta_and_version() -> None:
    state = sample_state()
    text = dumps_state(state, {"owner": "ann", "at": dt.date(2024, 1, 1)}, version=3)
    document = json.loads(text)
    assert document["format"] == FORMAT_VERSION == 1
    assert document["version"] == 3
    assert list(document["steps"]) == ["charge", "ship", "approve"]
    assert document["steps"]["approve"] == {"result": {"ok": True, "value": None}, "meta": {}}
    loaded = loads_state(text)
    assert loaded == Ok(
        LoadedState(state=state, meta={"owner": "ann", "at": dt.date(2024, 1, 1)}, version=3)
    )
    assert isinstance(loaded, Ok)
    assert list(loaded.value.state) == ["charge", "ship", "approve"]
    assert loaded.value.as_versioned() == VersionedState(3, state)


def test_serialize_state_and_entries_as_dicts() -> None:
    state = sample_state()
    document = serialize_state(state)
    assert document["meta"] is None
    assert document["version"] == 1
    assert deserialize_state(json.loads(json.dumps(document))) == state
    entry = state["charge"]
    assert deserialize_entry(serialize_entry(entry)) == entry
    assert loads_state(dumps_state({})) == Ok(LoadedState(state={}, meta=None, version=1))
    assert loads_state(dumps_state(state).encode()) == Ok(LoadedState(state, None, 1))


def test_raising_decoders_carry_a_state_format_error() -> None:
    with pytest.raises(StateDecodeError) as info:
        deserialize_result({"ok": True})
    assert info.value.error == StateFormatError(
        message="result: an Ok result is missing its 'value' field", path="result"
    )
    assert isinstance(info.value, ValueError)
    with pytest.raises(StateDecodeError, match="boolean 'ok'"):
        deserialize_result({"ok": "yes"})
    with pytest.raises(StateDecodeError, match="format: missing"):
        deserialize_state({"steps": {}})
    with pytest.raises(StateDecodeError, match=r"entry\.meta"):
        deserialize_entry({"result": {"ok": True, "value": 1}, "meta": [1]})
    with pytest.raises(StateDecodeError, match="set is not JSON data"):
        decode_value({1, 2})
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(StateDecodeError, match=r"^result\.value\[0\]\[0\].*: the data is nested"):
        deserialize_result({"ok": True, "value": deep})
    with pytest.raises(StateDecodeError, match=r"^entry\.error\[0\].*nested more than 100 levels"):
        deserialize_entry({"result": {"ok": False, "error": deep}})


# -- bad input for loads_state -------------------------------------------------------------------
def doc(steps: object = None, **fields: object) -> str:
    document: dict[str, Any] = {"format": 1, "version": 1, "meta": None, "steps": steps or {}}
    document.update(fields)
    return json.dumps(document)


def ok_step(value: object) -> dict[str, object]:
    return {"result": {"ok": True, "value": value}, "meta": {}}


def format_error(text: str | bytes) -> StateFormatError:
    loaded = loads_state(text)
    assert isinstance(loaded, Err), loaded
    return loaded.error


def test_invalid_json() -> None:
    error = format_error("{not json")
    assert error.message.startswith("not valid JSON: Expecting property name")
    assert "line 1, column 2" in error.message
    assert error.version is None


def test_every_truncation_of_a_valid_document_is_an_err() -> None:
    text = dumps_state(sample_state())
    for cut in range(len(text)):
        error = format_error(text[:cut])
        assert error.message.startswith("not valid JSON"), (cut, error)


def test_non_utf8_bytes_and_deep_nesting() -> None:
    assert format_error(b"\xff\xfe{").message.startswith("not")
    deep = "[" * 100_000 + "]" * 100_000
    assert "nested too deeply" in format_error(deep).message
    inner: object = 1
    for _ in range(5000):
        inner = {"$type": "tuple", "items": [inner]}
    nested = {"format": 1, "version": 1, "steps": {"a": ok_step(inner)}}
    loaded = parse_state(nested)
    assert isinstance(loaded, Err)
    assert loaded.error.message.endswith(
        "(state format 1): the data is nested more than 100 levels deep (CodecLimits.max_depth)"
    )
    assert loaded.error.path == 'state["a"].value' + "[0]" * 100
    assert loaded.error.version == 1


@pytest.mark.parametrize(
    ("text", "path", "version", "fragment"),
    [
        ("[]", None, None, "must be a JSON object, not list"),
        ('{"steps": {}}', "format", None, "format: missing field"),
        ('{"format": "1", "steps": {}}', "format", None, "must be an integer"),
        ('{"format": true, "steps": {}}', "format", None, "must be an integer"),
        ('{"format": 2, "steps": {}}', "format", 2, "state format 2 is newer"),
        ('{"format": 0, "steps": {}}', "format", 0, "unknown state format 0"),
        ('{"format": 1, "steps": {}}', "version", 1, "'version' field is missing"),
        ('{"format": 1, "version": "2", "steps": {}}', "version", 1, "not an integer"),
        ('{"format": 1, "version": 1}', "steps", 1, "'steps' field is missing"),
        ('{"format": 1, "version": 1, "steps": []}', "steps", 1, "not a JSON object"),
        (doc({"a": 5}), 'state["a"]', 1, "step entry must be a JSON object"),
        (doc({"a": {"meta": {}}}), 'state["a"]', 1, "missing its 'result' field"),
        (doc({"a": {"result": []}}), 'state["a"]', 1, "a result must be a JSON object"),
        (doc({"a": {"result": {"value": 1}}}), 'state["a"].ok', 1, "boolean 'ok'"),
        (doc({"a": {"result": {"ok": False}}}), 'state["a"]', 1, "missing its 'error'"),
        (doc({"a": {"result": {"ok": True, "value": 1}, "meta": 3}}), 'state["a"].meta', 1, "meta"),
        (doc(meta={"$type": "set", "items": []}), "meta", 1, "meta must be a JSON object"),
        (doc(meta={"x": {"$type": "what"}}), 'meta["x"]', 1, "unknown value type 'what'"),
        (doc({"a": ok_step({"$type": 3})}), 'state["a"].value', 1, "unknown value type 3"),
        (
            doc(
                {
                    "a": {
                        "result": {
                            "ok": False,
                            "error": {"$type": "error", "tag": "NoSuchTag", "fields": {}},
                        }
                    }
                }
            ),
            'state["a"].error',
            1,
            "unknown error tag 'NoSuchTag'",
        ),
        (
            doc(
                {"a": ok_step({"$type": "error", "tag": "ApprovalRejected", "fields": {"nope": 1}})}
            ),
            'state["a"].value',
            1,
            "cannot rebuild error 'ApprovalRejected'",
        ),
        (
            doc({"a": ok_step({"$type": "error", "tag": "X"})}),
            'state["a"].value',
            1,
            "missing its 'fields'",
        ),
        (
            doc({"a": ok_step([1, {"$type": "bytes", "base64": "!!"}])}),
            'state["a"].value[1]',
            1,
            "invalid base64",
        ),
        (
            doc({"a": ok_step({"$type": "bytes", "base64": 5})}),
            'state["a"].value',
            1,
            "must be str, not int",
        ),
        (
            doc({"a": ok_step({"$type": "datetime", "value": "yesterday"})}),
            'state["a"].value',
            1,
            "invalid 'datetime'",
        ),
        (
            doc(
                {
                    "a": ok_step(
                        {"$type": "datetime", "value": "2024-01-01T00:00", "zone": "Mars/Base"}
                    )
                }
            ),
            'state["a"].value',
            1,
            "unknown time zone",
        ),
        (
            doc(
                {
                    "a": ok_step(
                        {"$type": "datetime", "value": "2024-01-01T00:00+01:00", "zone": "UTC"}
                    )
                }
            ),
            'state["a"].value',
            1,
            "without an offset",
        ),
        (
            doc({"a": ok_step({"$type": "datetime", "value": "2024-01-01T00:00", "fold": 2})}),
            'state["a"].value',
            1,
            "'fold' must be 0 or 1",
        ),
        (
            doc({"a": ok_step({"$type": "decimal", "value": "abc"})}),
            'state["a"].value',
            1,
            "not a decimal",
        ),
        (
            doc({"a": ok_step({"$type": "uuid", "value": "abc"})}),
            'state["a"].value',
            1,
            "invalid 'uuid'",
        ),
        (
            doc({"a": ok_step({"$type": "float", "value": "1.5"})}),
            'state["a"].value',
            1,
            "'nan', 'inf'",
        ),
        (
            doc(
                {
                    "a": ok_step(
                        {"$type": "timedelta", "days": 10**12, "seconds": 0, "microseconds": 0}
                    )
                }
            ),
            'state["a"].value',
            1,
            "out of range",
        ),
        (
            doc(
                {
                    "a": ok_step(
                        {"$type": "timedelta", "days": True, "seconds": 0, "microseconds": 0}
                    )
                }
            ),
            'state["a"].value',
            1,
            "must be int, not bool",
        ),
        (
            doc({"a": ok_step({"$type": "set", "items": [[1]]})}),
            'state["a"].value[0]',
            1,
            "unhashable list",
        ),
        (
            doc({"a": ok_step({"$type": "dict", "items": [[[1], 2]]})}),
            'state["a"].value.keys()[0]',
            1,
            "unhashable list",
        ),
        (
            doc({"a": ok_step({"$type": "dict", "items": [[1]]})}),
            'state["a"].value.items()[0]',
            1,
            "[key, value] pair",
        ),
        (
            doc({"a": ok_step({"$type": "dict", "items": [["k", {"$type": "?"}]]})}),
            'state["a"].value["k"]',
            1,
            "unknown value type",
        ),
        (
            doc(
                {"a": ok_step({"$type": "exception", "type": "E", "message": "m", "traceback": 1})}
            ),
            'state["a"].value',
            1,
            "traceback",
        ),
        (
            doc({"a": ok_step({"$type": "custom", "tag": "nobody", "value": 1})}),
            'state["a"].value',
            1,
            "no codec is registered",
        ),
        (
            doc({"a": ok_step({"$type": "dataclass", "class": "test_codec:Nope", "fields": {}})}),
            'state["a"].value',
            1,
            "unknown dataclass class",
        ),
        (
            doc({"a": ok_step({"$type": "dataclass", "class": "test_codec:Color", "fields": {}})}),
            'state["a"].value',
            1,
            "is not a dataclass class",
        ),
        (
            doc(
                {
                    "a": ok_step(
                        {"$type": "dataclass", "class": "test_codec:Card", "fields": {"x": 1}}
                    )
                }
            ),
            'state["a"].value',
            1,
            "cannot rebuild test_codec:Card",
        ),
        (
            doc(
                {
                    "a": ok_step(
                        {
                            "$type": "dataclass",
                            "class": "test_codec:Card",
                            "fields": {"number": 1, "expires": {"$type": "?"}},
                        }
                    )
                }
            ),
            'state["a"].value.expires',
            1,
            "unknown value type",
        ),
        (
            doc({"a": ok_step({"$type": "enum", "class": "test_codec:Color", "value": "blue"})}),
            'state["a"].value',
            1,
            "cannot rebuild test_codec:Color",
        ),
        (
            doc({"a": ok_step({"$type": "enum", "class": "test_codec:Color"})}),
            'state["a"].value',
            1,
            "missing its 'value'",
        ),
        (
            doc({"a": ok_step({"$type": "dataclass", "class": "os:path", "fields": {}})}),
            'state["a"].value',
            1,
            "unknown dataclass class 'os:path'",
        ),
    ],
)
def test_bad_documents_are_state_format_errors(
    text: str, path: str | None, version: int | None, fragment: str
) -> None:
    error = format_error(text)
    assert error.path == path
    assert error.version == version
    assert fragment in error.message
    if path is not None:
        assert error.message.startswith(path)


def test_format_error_message_names_the_format_version() -> None:
    error = format_error(doc({"a": ok_step({"$type": "uuid", "value": "abc"})}))
    assert error.message.startswith('state["a"].value (state format 1): invalid')


def test_loading_never_imports_a_module_named_in_the_data() -> None:
    module = "this"  # prints the Zen of Python when imported
    if module in sys.modules:
        pytest.skip("the module is already imported in this process")
    text = doc({"a": ok_step({"$type": "dataclass", "class": f"{module}:Thing", "fields": {}})})
    error = format_error(text)
    assert "import its module before loading" in error.message
    assert module not in sys.modules


def test_parse_state_accepts_already_parsed_documents() -> None:
    assert isinstance(parse_state(json.loads(dumps_state(sample_state()))), Ok)
    assert isinstance(parse_state("text"), Err)


def test_errors_sharing_a_tag_decode_to_the_class_that_was_encoded() -> None:
    def first() -> type[TaggedError]:
        class CodecShared(TaggedError):
            tag: ClassVar[str] = "codec-test/SHARED"
            n: int

        return CodecShared

    def second() -> type[TaggedError]:
        class CodecShared(TaggedError):
            tag: ClassVar[str] = "codec-test/SHARED"
            n: int

        return CodecShared

    a, b = first(), second()
    assert type(round_trip(a(n=1))) is a
    assert type(round_trip(b(n=2))) is b
    # Without the class name (older data), the tag alone is ambiguous: a clear Err.
    bare = {"$type": "error", "tag": "codec-test/SHARED", "fields": {"n": 3}}
    with pytest.raises(StateDecodeError, match="codec-test/SHARED"):
        decode_value(bare)
