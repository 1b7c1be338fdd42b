"""Turning a durable execution's values into stored JSON and back, through the codec.

Everything an execution stores (its arguments, each checkpoint's Result, signal and
task payloads, published events) goes through `resultflow.persistence`'s codec: JSON
only, never pickle. A value the codec cannot encode is refused before anything is
written (`InvalidInput` at the client); stored text that no longer decodes is a
`StateFormatError` raised to the engine, which fails that execution alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from resultflow.persistence import (
    SerializationError,
    decode_value,
    deserialize_result,
    encode_value,
    serialize_result,
)
from resultflow.result import Err, Ok

__all__ = [
    "decode_payload",
    "decode_result",
    "dumps_args",
    "dumps_payload",
    "dumps_result",
    "loads_args",
]


def dumps_args(args: Sequence[object]) -> str:
    """The JSON of an argument list; `SerializationError` names the first bad argument."""
    return json.dumps([encode_value(arg, path=f"args[{i}]") for i, arg in enumerate(args)])


def loads_args(text: str) -> list[object]:
    """The argument list stored by `dumps_args`."""
    data = json.loads(text)
    if not isinstance(data, list):
        raise SerializationError("stored arguments are not a list", path="args")
    return [decode_value(item, path=f"args[{i}]") for i, item in enumerate(data)]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]


def dumps_result(result: Ok[object] | Err[object]) -> str:
    """The JSON of a Result (a checkpoint's or an execution's)."""
    return json.dumps(serialize_result(result))


def decode_result(text: str) -> Ok[object] | Err[object]:
    """The Result stored by `dumps_result`."""
    return deserialize_result(json.loads(text))


def dumps_payload(value: object, *, path: str = "payload") -> str:
    """The JSON of one value (a signal payload, a task result, an event)."""
    return json.dumps(encode_value(value, path=path))


def decode_payload(text: str) -> object:
    """The value stored by `dumps_payload`."""
    return decode_value(json.loads(text))
