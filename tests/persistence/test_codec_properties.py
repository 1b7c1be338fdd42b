"""Property tests for the codec: deserialize(serialize(x)) == x for every supported type."""

from __future__ import annotations

import datetime as dt
import enum
import json
import string
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

from resultflow.cache import CacheEntry
from resultflow.errors import PendingApproval, TaggedError, UnexpectedError
from resultflow.persistence import (
    ExceptionInfo,
    LoadedState,
    StateDecodeError,
    decode_value,
    deserialize_result,
    dumps_state,
    encode_value,
    loads_state,
    parse_state,
    serialize_result,
)
from resultflow.result import Err, Ok


class Suit(enum.Enum):
    HEARTS = "h"
    SPADES = "s"


class Size(enum.IntEnum):
    S = 1
    L = 3


@dataclass(frozen=True)
class Point:
    x: int
    y: float


@dataclass
class Box:
    label: str
    content: object


class Span(NamedTuple):
    start: int
    end: object


class Problem(TaggedError):
    detail: object


def json_text_round_trip(value: object) -> object:
    text = json.dumps(encode_value(value), allow_nan=False)
    return decode_value(json.loads(text))


# -- strategies -------------------------------------------------------------------------------
finite_floats = st.floats(allow_nan=False)
offsets = st.timedeltas(
    min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)
)
fixed_zones = st.builds(dt.timezone, offsets)
any_zone = st.none() | st.just(dt.UTC) | fixed_zones | st.timezones()

hashable_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**9_990, max_value=2**10_010),  # around the plain-int limit
    finite_floats,
    st.text(),
    st.binary(max_size=16),
    st.dates(),
    st.datetimes(timezones=any_zone),
    st.times(timezones=any_zone),
    st.timedeltas(),
    st.decimals(allow_nan=False),
    st.uuids(),
    st.sampled_from(Suit),
    st.sampled_from(Size),
    st.builds(Point, st.integers(), finite_floats),
)
hashables = st.recursive(
    hashable_scalars,
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)

scalars = hashable_scalars | st.builds(bytearray, st.binary(max_size=8))


def containers(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    keys = st.text(max_size=5) | st.sampled_from(["$type", "items", "ok"])
    return st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
        st.dictionaries(hashables, inner, max_size=3),
        st.sets(hashables, max_size=4),
        st.frozensets(hashables, max_size=3),
        st.builds(Box, st.text(max_size=5), inner),
        st.builds(Span, st.integers(), inner),
        st.builds(Ok, inner),
        st.builds(Err, inner),
        st.builds(Problem, inner),
        st.builds(PendingApproval, st.text(max_size=5), st.none() | st.text(max_size=5)),
        st.builds(
            ExceptionInfo,
            st.sampled_from(["ValueError", "pkg.mod.Boom"]),
            st.text(),
            st.none() | st.text(),
        ),
    )


values = st.recursive(scalars, containers, max_leaves=20)

results = st.builds(Ok, values) | st.builds(Err, values, values)
metas = st.dictionaries(st.text(max_size=8), values, max_size=3)
states = st.dictionaries(
    st.text(alphabet=string.ascii_letters + ":/-", max_size=12),
    st.builds(CacheEntry, results, metas),
    max_size=4,
)


# -- properties -------------------------------------------------------------------------------
@given(values)
def test_any_supported_value_round_trips(value: object) -> None:
    assert json_text_round_trip(value) == value


@given(values)
def test_round_trip_keeps_exact_types(value: object) -> None:
    assert _shape(json_text_round_trip(value)) == _shape(value)


@given(st.floats() | st.decimals())
def test_every_float_and_decimal_encodes_stably(value: float | Decimal) -> None:
    # nan != nan, so compare encodings: encode(decode(encode(x))) == encode(x)
    encoded = encode_value(value)
    assert encode_value(json_text_round_trip(value)) == encoded
    assert json.loads(json.dumps(encoded, allow_nan=False)) == encoded


@given(st.datetimes(timezones=st.timezones(), allow_imaginary=True))
def test_zoned_datetimes_keep_wall_time_zone_and_fold(value: dt.datetime) -> None:
    decoded = json_text_round_trip(value)
    assert isinstance(decoded, dt.datetime)
    assert (decoded.replace(tzinfo=None), decoded.tzinfo, decoded.fold) == (
        value.replace(tzinfo=None),
        value.tzinfo,
        value.fold,
    )


@given(results)
def test_results_round_trip_with_their_cause(result: Ok[object] | Err[object]) -> None:
    restored = deserialize_result(json.loads(json.dumps(serialize_result(result))))
    assert restored == result
    if isinstance(result, Err):
        assert isinstance(restored, Err)
        assert restored.cause == result.cause


@given(st.text(), st.text(max_size=10))
def test_exception_causes_become_exception_info(message: str, step: str) -> None:
    error = UnexpectedError.from_exception(KeyError(message), step=step)
    restored = deserialize_result(serialize_result(Err(error, cause=error.cause)))
    assert restored == Err(error)
    assert isinstance(restored, Err)
    assert restored.cause == ExceptionInfo("KeyError", str(KeyError(message)), None)


@settings(max_examples=60)
@given(states, st.none() | metas, st.integers(min_value=1, max_value=10**6))
def test_states_round_trip_through_text(
    state: dict[str, CacheEntry], meta: dict[str, object] | None, version: int
) -> None:
    loaded = loads_state(dumps_state(state, meta, version=version))
    assert loaded == Ok(LoadedState(state=state, meta=meta, version=version))
    assert isinstance(loaded, Ok)
    assert list(loaded.value.state) == list(state)


# -- bad input never escapes as anything but an Err / StateDecodeError -----------------------------
json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | finite_floats | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
CLASS_NAMES = [
    "test_codec_properties:Box",
    "test_codec_properties:Point",
    "test_codec_properties:Suit",
    "test_codec_properties:Span",
    "test_codec_properties:Nope",
    "os:path",
]


def tagged_forms(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Tagged objects with plausible (often wrong) fields for every stored form."""
    texts = st.sampled_from(["nan", "inf", "x", "", "AAAA", "!!", "1.5", "NaN"]) | json_data
    moments = st.sampled_from(["2024-01-01T00:00", "2024-01-01T00:00+01:00", "12:00", "x"])
    zones = st.sampled_from(["UTC", "Europe/Paris", "Nope/Zone", "../etc/passwd", "", "a\x00"])
    items = st.lists(inner, max_size=3) | json_data
    names = st.sampled_from(["key", "reason", "detail", "label", "content", "x", "y", "start"])
    structural = {
        "class": st.sampled_from(CLASS_NAMES) | json_data,
        "fields": st.dictionaries(names, inner, max_size=3) | json_data,
        "value": inner,
        "data": inner,
    }
    timed = {"value": moments | json_data, "zone": zones | json_data, "fold": st.integers(-1, 2)}
    fields: dict[str, dict[str, st.SearchStrategy[object]]] = {
        "float": {"value": texts},
        "int": {"hex": texts | st.integers().map(hex)},
        "dict": {"items": st.lists(st.lists(inner, max_size=3), max_size=3) | json_data},
        "tuple": {"items": items},
        "set": {"items": items},
        "frozenset": {"items": items},
        "bytes": {"base64": texts},
        "bytearray": {"base64": texts},
        "datetime": timed,
        "time": timed,
        "date": {"value": moments | texts},
        "timedelta": {
            "days": st.integers() | json_data,
            "seconds": st.integers(),
            "microseconds": st.integers(),
        },
        "decimal": {"value": texts},
        "uuid": {"value": texts | st.uuids().map(str)},
        "result": {"ok": st.booleans() | json_data, "value": inner, "error": inner, "cause": inner},
        "error": {
            "tag": st.sampled_from(["PendingApproval", "Problem", "UnexpectedError", "Nope"]),
            "fields": st.dictionaries(names, inner, max_size=3) | json_data,
        },
        "exception": {"type": texts, "message": texts, "traceback": texts},
        "custom": {"tag": texts, "value": inner},
        **dict.fromkeys(("dataclass", "namedtuple", "enum", "pydantic", "msgspec"), structural),
        "nope": {"value": inner},
    }
    return st.sampled_from(sorted(fields)).flatmap(
        lambda form: st.fixed_dictionaries({"$type": st.just(form)}, optional=fields[form])
    )


nested_tagged_data = st.recursive(json_data, tagged_forms, max_leaves=8)
tagged_data = tagged_forms(nested_tagged_data) | nested_tagged_data


@settings(max_examples=250)
@given(tagged_data)
def test_decoding_arbitrary_data_returns_a_value_or_a_clear_error(data: object) -> None:
    error = None
    try:
        decode_value(data)
    except StateDecodeError as exc:
        error = exc.error
    if error is not None:
        assert error.message
        assert error.path is not None


@given(st.text() | st.binary())
def test_loads_state_on_arbitrary_text_returns_a_result(text: str | bytes) -> None:
    assert isinstance(loads_state(text), Ok | Err)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "format": st.sampled_from([1, 1, 2, "1", None]),
            "version": st.integers() | st.text(max_size=2),
            "meta": tagged_data,
            "steps": st.dictionaries(
                st.text(max_size=4),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "result": st.fixed_dictionaries(
                            {},
                            optional={
                                "ok": st.booleans() | json_data,
                                "value": tagged_data,
                                "error": tagged_data,
                                "cause": tagged_data,
                            },
                        )
                        | json_data,
                        "meta": tagged_data,
                    },
                )
                | json_data,
                max_size=3,
            )
            | json_data,
        },
    )
)
def test_parse_state_on_arbitrary_documents_returns_a_result(document: dict[str, object]) -> None:
    loaded = parse_state(document)
    if isinstance(loaded, Err):
        assert loaded.error.message


def _shape(value: object) -> object:
    """The value's structure with every type spelled out (1 == 1.0 == True would hide bugs)."""
    if isinstance(value, list | tuple):
        return (type(value), [_shape(item) for item in value])
    if isinstance(value, dict):
        return (type(value), [(_shape(k), _shape(v)) for k, v in value.items()])
    if isinstance(value, set | frozenset):
        return (type(value), len(value))
    if isinstance(value, Ok):
        return (Ok, _shape(value.value))
    if isinstance(value, Err):
        return (Err, _shape(value.error), _shape(value.cause))
    return type(value)
