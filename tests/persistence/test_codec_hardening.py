"""The codec against hostile or unusual stored data (issue 11 items 2, 3, 8 and 16).

Each test reproduces an attack or a fault: hash flooding, values the encoder writes but
the decoder could not read, fields whose stored values do not fit their annotations, and
classes built from data that names them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import msgspec
import pydantic
import pytest

from resultflow.cache import CacheEntry
from resultflow.errors import StepTimeout, TaggedError, WorkflowTimeout
from resultflow.hitl import KVStateStore, RunSnapshot
from resultflow.persistence import (
    CodecLimitError,
    CodecLimits,
    ExceptionInfo,
    MemoryKV,
    SerializationError,
    StateDecodeError,
    StateFormatError,
    StatePersistence,
    codec_limits,
    decode_value,
    dumps_state,
    encode_value,
    loads_state,
    parse_state,
    register_codec,
    set_codec_limits,
    unregister_codec,
)
from resultflow.persistence._decoder import _DECODERS
from resultflow.persistence._forms import Form
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from collections import OrderedDict  # only for type checkers: unresolvable at run time

# Python hashes an int as itself modulo this prime, so its multiples all hash to 0.
HASH_MODULUS = 2**61 - 1


@pytest.fixture(autouse=True)
def default_limits() -> Iterator[None]:
    previous = set_codec_limits(CodecLimits())
    yield
    set_codec_limits(previous)


def state_error(text: str, limits: CodecLimits | None = None) -> StateFormatError:
    loaded = loads_state(text, limits=limits)
    assert isinstance(loaded, Err), loaded
    return loaded.error


def document(value: object) -> str:
    steps = {"a": {"result": {"ok": True, "value": value}, "meta": {}}}
    return json.dumps({"format": 1, "version": 1, "meta": None, "steps": steps})


# -- item 2: hash flooding ---------------------------------------------------------------
def colliding_ints(count: int) -> list[int]:
    return [index * HASH_MODULUS for index in range(count)]


@pytest.mark.parametrize("form", ["set", "frozenset"])
def test_set_items_sharing_one_hash_are_refused_before_the_set_is_built(form: str) -> None:
    assert len({hash(number) for number in colliding_ints(100)}) == 1
    error = state_error(document({"$type": form, "items": colliding_ints(100)}))
    assert error.path == 'state["a"].value[32]'  # the 33rd item with hash 0
    assert "more than 32 items share one hash value" in error.message
    assert "CodecLimits.max_hash_collisions" in error.message


def test_dict_keys_sharing_one_hash_are_refused() -> None:
    items = [[number, "x"] for number in colliding_ints(100)]
    error = state_error(document({"$type": "dict", "items": items}))
    assert error.path == 'state["a"].value.keys()[32]'
    assert "share one hash value" in error.message
    with pytest.raises(StateDecodeError, match="share one hash value"):
        decode_value({"$type": "dict", "items": items})


def test_a_megabyte_flooding_document_is_refused() -> None:
    # The attack of the issue: ~1 MB of colliding ints, which took ~10 s to decode.
    text = document({"$type": "set", "items": colliding_ints(50_000)})
    assert len(text) > 1_000_000
    assert "share one hash value" in state_error(text).message


def test_repeated_items_count_as_collisions_too() -> None:
    # Equal items also share a hash; the encoder never writes a set with repeats.
    error = state_error(document({"$type": "set", "items": [7] * 40}))
    assert "share one hash value" in error.message


def test_colliding_tuples_and_nested_collisions_are_caught_where_they_are() -> None:
    keys = [{"$type": "tuple", "items": [number, "k"]} for number in colliding_ints(40)]
    error = state_error(document([1, {"$type": "frozenset", "items": keys}]))
    assert error.path == 'state["a"].value[1][32]'


def test_data_refused_by_a_limit_is_a_codec_limit_error() -> None:
    flood = state_error(document({"$type": "set", "items": colliding_ints(40)}))
    assert isinstance(flood, CodecLimitError)
    assert flood.limit == "max_hash_collisions"
    deep = state_error(document(nested_lists(101)))
    assert isinstance(deep, CodecLimitError)
    assert deep.limit == "max_depth"
    big = state_error(document("x" * 300), CodecLimits(max_document_size=100))
    assert isinstance(big, CodecLimitError)
    assert big.limit == "max_document_size"
    damaged = state_error(document({"$type": "set", "items": [[1]]}))
    assert type(damaged) is StateFormatError
    # It is a StateFormatError, and a stored value like any TaggedError.
    assert isinstance(flood, StateFormatError)
    assert decode_value(encode_value(flood)) == flood


def test_the_collision_limit_is_configurable() -> None:
    text = document({"$type": "set", "items": colliding_ints(100)})
    loaded = loads_state(text, limits=CodecLimits(max_hash_collisions=100))
    assert isinstance(loaded, Ok)
    assert loaded.value.state["a"].result == Ok(set(colliding_ints(100)))
    set_codec_limits(CodecLimits(max_hash_collisions=5))
    assert isinstance(loads_state(document({"$type": "set", "items": [0, 1]})), Ok)
    assert (
        "more than 5 items"
        in state_error(document({"$type": "set", "items": colliding_ints(6)})).message
    )


def test_large_sets_of_ordinary_values_are_not_refused() -> None:
    value = {
        "numbers": set(range(-50_000, 50_000)),
        "words": frozenset(f"w{index}" for index in range(20_000)),
        "by_id": {index: str(index) for index in range(20_000)},
        "pairs": {(index, -index) for index in range(20_000)},
    }
    assert decode_value(json.loads(json.dumps(encode_value(value)))) == value


def test_the_encoder_refuses_a_set_the_decoder_would_refuse() -> None:
    with pytest.raises(SerializationError, match="share one hash value") as info:
        encode_value({"ids": set(colliding_ints(40))})
    assert info.value.path == 'value["ids"]'
    with pytest.raises(SerializationError, match="keys of a dict share one hash"):
        dumps_state({"a": CacheEntry(Ok(dict.fromkeys(colliding_ints(40), 1)))})
    roomy = CodecLimits(max_hash_collisions=40)
    encoded = encode_value(set(colliding_ints(40)), limits=roomy)
    assert decode_value(encoded, limits=roomy) == set(colliding_ints(40))


def nested_lists(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_is_bounded_the_same_way_when_writing_and_reading() -> None:
    deepest = nested_lists(100)
    loaded = loads_state(dumps_state({"a": CacheEntry(Ok(deepest))}))
    assert isinstance(loaded, Ok)
    assert loaded.value.state["a"].result == Ok(deepest)
    assert decode_value(encode_value(deepest)) == deepest
    with pytest.raises(SerializationError, match=r"more than 100 levels deep") as info:
        dumps_state({"a": CacheEntry(Ok(nested_lists(101)))})
    assert info.value.path == 'state["a"].value' + "[0]" * 100
    error = state_error(document(nested_lists(101)))
    assert "nested more than 100 levels deep (CodecLimits.max_depth)" in error.message
    # A leaf that becomes a JSON object counts as a level on both sides.
    for leaf in (10**5000, float("inf")):
        deep_leaf: object = leaf
        for _ in range(99):
            deep_leaf = [deep_leaf]
        assert decode_value(encode_value(deep_leaf)) is not None
        with pytest.raises(SerializationError, match="levels deep"):
            encode_value([deep_leaf])
        with pytest.raises(StateDecodeError, match="levels deep"):
            decode_value([encode_value(deep_leaf)])
    shallow = CodecLimits(max_depth=3)
    with pytest.raises(StateDecodeError, match="more than 3 levels"):
        decode_value([[[[1]]]], limits=shallow)
    assert decode_value([[[1]]], limits=shallow) == [[[1]]]


def test_document_size_is_bounded() -> None:
    small = CodecLimits(max_document_size=200)
    text = dumps_state({"a": CacheEntry(Ok("x" * 100))})
    assert isinstance(loads_state(text, limits=small), Ok)
    big = dumps_state({"a": CacheEntry(Ok("x" * 300))})
    error = state_error(big, small)
    assert "over CodecLimits.max_document_size (200)" in error.message
    with pytest.raises(SerializationError, match="max_document_size"):
        dumps_state({"a": CacheEntry(Ok("x" * 300))}, limits=small)
    assert isinstance(loads_state(big, limits=CodecLimits(max_document_size=None)), Ok)


def test_codec_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        CodecLimits(max_depth=0)
    with pytest.raises(ValueError, match="max_hash_collisions"):
        CodecLimits(max_hash_collisions=True)
    with pytest.raises(ValueError, match="max_document_size"):
        CodecLimits(max_document_size=-1)
    with pytest.raises(ValueError, match="classes"):
        CodecLimits(classes="any")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        set_codec_limits({"max_depth": 3})  # type: ignore[arg-type]
    previous = set_codec_limits(CodecLimits(max_depth=7))
    assert codec_limits() == CodecLimits(max_depth=7)
    assert set_codec_limits(previous) == CodecLimits(max_depth=7)


async def test_stores_apply_the_process_wide_limits() -> None:
    states = StatePersistence(MemoryKV())
    await states.kv.set("state:r", document({"$type": "set", "items": colliding_ints(40)}))
    loaded = await states.load_result("r")
    assert isinstance(loaded, Err)
    assert "share one hash value" in loaded.error.message
    set_codec_limits(CodecLimits(max_hash_collisions=64))
    ok = await states.load_result("r")
    assert isinstance(ok, Ok)


# -- item 3: what the encoder writes, the decoder reads --------------------------------------
HUGE = 10**20_000 + 7  # 20,001 digits: past Python's int-to-text limit


def test_a_dict_with_a_huge_int_key_round_trips() -> None:
    state = {"a": CacheEntry(Ok({HUGE: "big", 1: "small"}), {"n": 1})}
    text = dumps_state(state)
    loaded = loads_state(text)
    assert isinstance(loaded, Ok)
    assert loaded.value.state == state


def test_a_failure_under_a_huge_key_names_it_without_raising() -> None:
    encoded = encode_value({HUGE: 1})
    assert isinstance(encoded, dict)
    items = encoded["items"]
    assert isinstance(items, list)
    items[0] = [items[0][0], {"$type": "nope"}]  # type: ignore[index]
    error = state_error(document(encoded))
    assert error.path == 'state["a"].value[<int of 66439 bits>]'
    assert "unknown value type 'nope'" in error.message


def test_the_encoder_names_a_huge_key_without_raising() -> None:
    class Opaque:
        pass

    with pytest.raises(SerializationError) as info:
        encode_value({HUGE: Opaque()})
    assert info.value.path == "value[<int of 66439 bits>]"
    with pytest.raises(SerializationError, match=r"step key <int of \d+ bits> is not a string"):
        dumps_state({HUGE: CacheEntry(Ok(1))})  # type: ignore[dict-item]


async def test_stores_load_a_huge_int_key() -> None:
    kv = MemoryKV()
    states = StatePersistence(kv)
    value = {HUGE: [HUGE]}
    await states.save("r", {"a": CacheEntry(Ok(value))})
    loaded = await states.load("r")
    assert loaded is not None
    assert loaded.state["a"].result == Ok(value)
    hitl = KVStateStore(MemoryKV())
    snapshot = RunSnapshot("run", "wf", (value,), {"a": CacheEntry(Ok(value))}, ("k",))
    await hitl.save(snapshot)
    restored = await hitl.load("run")
    assert restored is not None
    assert restored.args == (value,)
    assert restored.state["a"].result == Ok(value)


@pytest.mark.parametrize(
    "data",
    [
        {"format": HUGE, "version": 1, "steps": {}},
        {"format": -HUGE, "version": 1, "steps": {}},
        {
            "format": 1,
            "version": 1,
            "steps": {"a": {"result": {"ok": True, "value": {"$type": HUGE}}}},
        },
        {
            "format": 1,
            "version": 1,
            "steps": {
                "a": {
                    "result": {
                        "ok": True,
                        "value": {"$type": "datetime", "value": "2024-01-01", "fold": HUGE},
                    }
                }
            },
        },
        {
            "format": 1,
            "version": 1,
            "steps": {"a": {"result": {"ok": True, "value": {"$type": [HUGE]}}}},
        },
    ],
)
def test_already_parsed_documents_with_huge_ints_are_errors(data: dict[str, object]) -> None:
    loaded = parse_state(data)
    assert isinstance(loaded, Err)
    assert len(loaded.error.message) < 400


class Grumpy(TaggedError):
    code: int

    def __post_init__(self) -> None:
        if self.code < 0:
            raise KeyError("negative")


class BadText(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


class Unhashable:
    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unhashable) and other.value == self.value

    def __hash__(self) -> int:
        if self.value < 0:
            raise ValueError("no hash for negatives")
        return self.value


def test_errors_raised_by_user_code_while_decoding_are_format_errors() -> None:
    # A TaggedError's own validation raising something else than TypeError/ValueError.
    bad = {"$type": "error", "tag": "Grumpy", "fields": {"code": -1}}
    with pytest.raises(StateDecodeError, match="cannot rebuild error 'Grumpy': KeyError"):
        decode_value(bad)

    def refuse(data: object) -> object:
        raise BadText

    register_codec(Unhashable, tag="test-unhashable", encode=lambda u: u.value, decode=Unhashable)
    try:
        with pytest.raises(StateDecodeError, match=r"unhashable Unhashable in a set"):
            decode_value(
                {
                    "$type": "set",
                    "items": [{"$type": "custom", "tag": "test-unhashable", "value": -1}],
                }
            )
        register_codec(Unhashable, tag="test-unhashable", encode=lambda u: u.value, decode=refuse)
        with pytest.raises(StateDecodeError, match=r"BadText: \(no message\)"):
            decode_value({"$type": "custom", "tag": "test-unhashable", "value": 1})
    finally:
        unregister_codec(Unhashable)


def test_a_dataclass_with_an_unstored_init_argument_is_refused_when_written() -> None:
    @dataclass
    class Scaled:
        value: int
        factor: dataclasses.InitVar[int]

        def __post_init__(self, factor: int) -> None:
            self.value *= factor

    register_codec(Scaled, tag="test-scaled")
    try:
        with pytest.raises(SerializationError, match=r"__init__ needs factor.*InitVar") as info:
            encode_value({"k": Scaled(2, 3)})
        assert info.value.path == 'value["k"]'
    finally:
        unregister_codec(Scaled)


# -- item 8: fields are checked against their annotations --------------------------------------
@dataclass(frozen=True)
class Receipt:
    charge_id: str
    amount: Decimal
    lines: list[Decimal] = field(default_factory=list[Decimal])
    note: str | None = None
    paid_at: dt.datetime | None = None


class Coin(enum.Enum):
    HEADS = "h"
    TAILS = "t"


class Toss(NamedTuple):
    coin: Coin
    weight: float


@dataclass
class Shapes:
    mode: Literal["a", "b"] = "a"
    pairs: dict[str, tuple[int, str]] = field(default_factory=dict[str, "tuple[int, str]"])
    spans: tuple[int, ...] = ()
    flags: frozenset[bool] = frozenset()
    items: Sequence[int] = ()
    anything: Any = None
    error: Exception | None = None
    ordered: OrderedDict[str, int] | None = None  # unresolvable at run time: not checked


def receipt_document(**fields: object) -> str:
    encoded = encode_value(Receipt("ch_1", Decimal("19.99"), [Decimal(1)]))
    assert isinstance(encoded, dict)
    stored = encoded["fields"]
    assert isinstance(stored, dict)
    stored.update(fields)  # type: ignore[arg-type]
    return document(encoded)


def test_an_edited_field_of_the_wrong_type_is_a_format_error() -> None:
    assert isinstance(loads_state(receipt_document()), Ok)
    error = state_error(receipt_document(amount="19.99"))
    assert error.path == 'state["a"].value.amount'
    assert "must be Decimal (the annotation of Receipt.amount), not str" in error.message
    error = state_error(receipt_document(lines=[{"$type": "decimal", "value": "1"}, 2]))
    assert error.path == 'state["a"].value.lines[1]'
    error = state_error(receipt_document(note=5))
    assert error.path == 'state["a"].value.note'
    assert "must be str | None" in error.message
    assert isinstance(loads_state(receipt_document(note=None)), Ok)


def test_tagged_error_fields_are_checked() -> None:
    forged = {"$type": "error", "tag": "StepTimeout", "fields": {"name": 5, "seconds": "forever"}}
    with pytest.raises(StateDecodeError) as info:
        decode_value(forged)
    assert info.value.error.path == "value.name"
    assert "must be str (the annotation of StepTimeout.name), not int" in info.value.error.message
    # An int where a float is annotated is fine (it is how a whole number is stored).
    assert decode_value(encode_value(StepTimeout("charge", 5))) == StepTimeout("charge", 5)


def test_a_tag_among_the_fields_does_not_override_the_outer_tag() -> None:
    forged = {
        "$type": "error",
        "tag": "StepTimeout",
        "class": "resultflow.errors:StepTimeout",
        "fields": {"tag": "WorkflowTimeout", "seconds": 1.0},
    }
    with pytest.raises(StateDecodeError, match="cannot rebuild error 'StepTimeout'"):
        decode_value(forged)
    assert decode_value(encode_value(WorkflowTimeout(1.0))) == WorkflowTimeout(1.0)


def test_named_tuple_enum_and_structured_fields_are_checked() -> None:
    toss = Toss(Coin.HEADS, 1)
    assert decode_value(encode_value(toss)) == toss
    encoded = encode_value(toss)
    assert isinstance(encoded, dict)
    encoded["fields"] = {"coin": "h", "weight": 1}
    with pytest.raises(StateDecodeError, match=r"value\.coin: must be Coin"):
        decode_value(encoded)
    shapes = Shapes(
        "b",
        {"k": (1, "x")},
        (1, 2, 3),
        frozenset({True}),
        [4, 5],
        object,
        ValueError("boom"),
        None,
    )
    shapes.anything = {"free": 1}
    restored = decode_value(encode_value(shapes))
    assert isinstance(restored, Shapes)
    assert restored.error == ExceptionInfo("ValueError", "boom", None)  # stored as a description
    good = encode_value(dataclasses.replace(shapes, error=None))
    assert isinstance(good, dict)
    fields = good["fields"]
    assert isinstance(fields, dict)
    for name, bad, path in [
        ("mode", "c", "value.mode"),
        ("pairs", {"k": {"$type": "tuple", "items": [1, 2]}}, 'value.pairs["k"][1]'),
        ("pairs", {"k": {"$type": "tuple", "items": [1]}}, 'value.pairs["k"]'),
        ("spans", {"$type": "tuple", "items": [1, "2"]}, "value.spans[1]"),
        ("flags", {"$type": "frozenset", "items": [1]}, "value.flags[0]"),
        ("items", ["x"], "value.items[0]"),
        ("error", "boom", "value.error"),
    ]:
        with pytest.raises(StateDecodeError) as info:
            decode_value({**good, "fields": {**fields, name: bad}})
        assert info.value.error.path == path, name
    # The field whose annotation cannot be resolved is not checked; the others still are.
    unchecked = decode_value({**good, "fields": {**fields, "ordered": [1]}})
    assert isinstance(unchecked, Shapes)
    assert unchecked.ordered == [1]


def test_the_encoder_refuses_fields_that_could_not_be_read_back() -> None:
    with pytest.raises(SerializationError) as info:
        dumps_state({"a": CacheEntry(Ok(Receipt("ch_1", "19.99")))})  # type: ignore[arg-type]
    assert info.value.path == 'state["a"].value.amount'
    assert "must be Decimal (the annotation of Receipt.amount), not str" in str(info.value)
    with pytest.raises(SerializationError, match=r"value\.error\.name: must be str"):
        encode_value(Err(StepTimeout(5, 1.0)))  # type: ignore[arg-type]


# -- item 16: only registered classes, when asked ------------------------------------------------
BUILT: list[str] = []


@dataclass
class Gadget:
    name: str

    def __post_init__(self) -> None:
        BUILT.append(self.name)


class Shade(enum.Enum):
    DARK = 1


class AppError(TaggedError):
    reason: str


class Model(pydantic.BaseModel):
    x: int


REGISTERED = CodecLimits(classes="registered")


@pytest.mark.parametrize(
    "value",
    [Gadget("g"), Shade.DARK, Toss(Coin.HEADS, 1.0), Model(x=1), AppError("no")],
    ids=lambda value: type(value).__name__,
)
def test_registered_mode_refuses_unregistered_classes(value: object) -> None:
    data = encode_value(value)  # the default mode writes any importable class
    BUILT.clear()
    with pytest.raises(StateDecodeError, match=r"not registered.*CodecLimits\.classes"):
        decode_value(data, limits=REGISTERED)
    assert BUILT == []  # no __post_init__ ran
    with pytest.raises(SerializationError, match="not registered"):
        encode_value(value, limits=REGISTERED)
    assert decode_value(data) == value


def test_registered_mode_decodes_registered_classes_and_resultflow_errors() -> None:
    set_codec_limits(REGISTERED)
    for cls in (Gadget, Shade, Toss, Coin, Model, AppError):
        register_codec(cls)
    try:
        values = [Gadget("g"), Shade.DARK, Toss(Coin.HEADS, 1.0), Model(x=1), AppError("no")]
        values.append(StepTimeout("charge", 2.0))  # resultflow's own errors need nothing
        text = dumps_state({"a": CacheEntry(Ok(values))})
        loaded = loads_state(text)
        assert isinstance(loaded, Ok)
        assert loaded.value.state["a"].result == Ok(values)
    finally:
        for cls in (Gadget, Shade, Toss, Coin, Model, AppError):
            unregister_codec(cls)
    assert "not registered" in state_error(text).message


# -- issue 9 item 7: the tagged forms are declared once ------------------------------------------
def test_every_form_has_a_decoder_and_the_encoder_writes_each_form() -> None:
    assert set(_DECODERS) == set(Form)

    class Struct(msgspec.Struct):
        a: int

    register_codec(Struct, tag="test-forms-struct")
    samples: list[object] = [
        float("nan"),
        10**5000,
        {1: 2},
        (1,),
        {1},
        frozenset({1}),
        b"x",
        bytearray(b"x"),
        dt.datetime(2024, 1, 1),
        dt.time(1),
        dt.date(2024, 1, 1),
        dt.timedelta(1),
        Decimal(1),
        uuid.UUID(int=1),
        Ok(1),
        AppError("x"),
        ValueError("x"),
        Gadget("x"),
        Toss(Coin.HEADS, 1.0),
        Coin.HEADS,
        Model(x=1),
        Struct(1),
    ]
    register_codec(Unhashable, tag="test-forms-custom", encode=lambda u: u.value, decode=Unhashable)
    samples.append(Unhashable(1))
    try:
        written: set[object] = set()
        for sample in samples:
            encoded = encode_value(sample)
            assert isinstance(encoded, dict)
            written.add(encoded["$type"])
            assert type(encoded["$type"]) is str  # plain text, not the enum
    finally:
        unregister_codec(Struct)
        unregister_codec(Unhashable)
    assert written == {form.value for form in Form}
