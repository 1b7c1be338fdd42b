"""The codec's wire format, declared once: the `"$type"` key and every tagged form.

The encoder writes only these forms and the decoder reads only these forms; a test checks
that each form has a decoder and that the encoder produces each of them, so adding a form
is one edit here plus its two halves. The fields each form carries are listed in
`resultflow.persistence._encoder`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Literal, TypeAlias

__all__ = ["TYPE_KEY", "ClassKind", "Form", "ModelKind", "path_key", "short_repr"]

TYPE_KEY = "$type"
"""The key that marks a tagged (non-JSON) value in encoded data."""


class Form(StrEnum):
    """The value of the `"$type"` key: which tagged form an encoded object is."""

    FLOAT = "float"
    """nan and the infinities: `value` is "nan", "inf" or "-inf"."""
    INT = "int"
    """An int too long for decimal text: `hex`."""
    DICT = "dict"
    """A dict with a non-str key or a "$type" key: `items`, a list of [key, value]."""
    TUPLE = "tuple"
    """`items`."""
    SET = "set"
    """`items`, in a stable order."""
    FROZENSET = "frozenset"
    """`items`, in a stable order."""
    BYTES = "bytes"
    """`base64`."""
    BYTEARRAY = "bytearray"
    """`base64`."""
    DATETIME = "datetime"
    """`value` (ISO 8601), optional `zone` (a ZoneInfo key) and `fold`."""
    TIME = "time"
    """`value` (ISO 8601), optional `zone` and `fold`."""
    DATE = "date"
    """`value` (ISO 8601)."""
    TIMEDELTA = "timedelta"
    """`days`, `seconds`, `microseconds`."""
    DECIMAL = "decimal"
    """`value`, the exact text."""
    UUID = "uuid"
    """`value`, the canonical text."""
    RESULT = "result"
    """`ok`, then `value`, or `error` and `cause`."""
    ERROR = "error"
    """A TaggedError: `tag`, `class` ("module:QualName") and `fields`."""
    EXCEPTION = "exception"
    """An exception's description: `type`, `message`, `traceback` (read as ExceptionInfo)."""
    CUSTOM = "custom"
    """A type with a registered codec: `tag` and the encoded `value`."""
    DATACLASS = "dataclass"
    """`class` (a registered tag or "module:QualName") and `fields`."""
    NAMEDTUPLE = "namedtuple"
    """`class` and `fields`."""
    ENUM = "enum"
    """`class` and the member's `value`."""
    PYDANTIC = "pydantic"
    """`class` and `data`, the model's own JSON form."""
    MSGSPEC = "msgspec"
    """`class` and `data`, the struct's own JSON form."""


ModelKind: TypeAlias = Literal[Form.PYDANTIC, Form.MSGSPEC]
"""The forms whose library builds and validates the value."""

ClassKind: TypeAlias = Literal[Form.DATACLASS, Form.ENUM, Form.NAMEDTUPLE, ModelKind]
"""The forms that name a class: stored by structure, without custom functions."""


# -- paths in messages --------------------------------------------------------------------
# Error messages name where a value sits, e.g. `state["charge"].value[2]`. They are only
# built once something has failed, and never fail themselves: a key's repr may be huge,
# may raise (an int past Python's int-to-text limit), or may run a user's __repr__.
_MAX_KEY_TEXT = 80


def path_key(key: object) -> str:
    """The path segment for a mapping key: `["charge"]` for a string, `[3]` otherwise."""
    if isinstance(key, str):
        text = json.dumps(key)
        return f"[{text}]" if len(text) <= _MAX_KEY_TEXT else f"[{text[:_MAX_KEY_TEXT]}...]"
    return f"[{short_repr(key)}]"


def short_repr(value: object) -> str:
    """`repr(value)` cut to a readable length, or a description when repr cannot run."""
    if type(value) is int and value.bit_length() > 256:
        return f"<int of {value.bit_length()} bits>"
    try:
        text = repr(value)
    except Exception:  # a failing or refusing __repr__ must not hide the real problem
        return f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_KEY_TEXT else f"{text[:_MAX_KEY_TEXT]}..."
