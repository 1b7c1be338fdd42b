"""The persistence codec with pydantic models and msgspec structs (skipped when missing)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from resultflow.persistence import (
    StateDecodeError,
    decode_value,
    encode_value,
    register_codec,
    unregister_codec,
)
from resultflow.result import Ok

pydantic = pytest.importorskip("pydantic")
msgspec = pytest.importorskip("msgspec")


class Address(pydantic.BaseModel):
    city: str
    since: dt.date


class Customer(pydantic.BaseModel):
    name: str
    address: Address
    tags: tuple[str, ...] = ()
    blob: bytes = b""


class Item(msgspec.Struct):
    sku: str
    qty: int
    added: dt.datetime | None = None


def test_pydantic_models_round_trip_through_pydantic_json() -> None:
    customer = Customer(
        name="Ann",
        address=Address(city="Oslo", since=dt.date(2020, 1, 1)),
        tags=("vip",),
        blob=b"hi",
    )
    encoded = encode_value(Ok(customer))
    assert isinstance(encoded, dict)
    assert encoded["value"] == {
        "$type": "pydantic",
        "class": "test_codec_models:Customer",
        "data": {
            "name": "Ann",
            "address": {"city": "Oslo", "since": "2020-01-01"},
            "tags": ["vip"],
            "blob": "hi",
        },
    }
    assert round_trip(Ok(customer)) == Ok(customer)


def test_invalid_pydantic_data_is_a_format_error() -> None:
    with pytest.raises(StateDecodeError, match="cannot rebuild test_codec_models:Address"):
        decode_value(
            {"$type": "pydantic", "class": "test_codec_models:Address", "data": {"city": 1}}
        )


def test_msgspec_structs_round_trip() -> None:
    item = Item("A-1", 2, dt.datetime(2024, 1, 1, 12, 0))
    assert round_trip([item]) == [item]
    assert encode_value(item) == {
        "$type": "msgspec",
        "class": "test_codec_models:Item",
        "data": {"sku": "A-1", "qty": 2, "added": "2024-01-01T12:00:00"},
    }


def round_trip(value: object) -> object:
    text = json.dumps(encode_value(value), allow_nan=False)
    return decode_value(json.loads(text))


def test_local_models_need_registration() -> None:
    class Local(pydantic.BaseModel):
        x: int

    with pytest.raises(Exception, match="register_codec"):
        encode_value(Local(x=1))
    register_codec(Local, tag="test-local-model")
    try:
        assert round_trip(Local(x=2)) == Local(x=2)
    finally:
        unregister_codec(Local)
