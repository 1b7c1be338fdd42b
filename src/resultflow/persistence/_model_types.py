"""pydantic models and msgspec structs in the codec, without importing either library.

A value can only be a pydantic model if pydantic is already imported, so the codec looks
the libraries up in `sys.modules` instead of importing them: resultflow has no hard
dependency on either. Each model is stored as its library's own JSON form
(`model_dump_json(round_trip=True)` / `msgspec.json.encode`) and rebuilt with the same
library's JSON validation (`model_validate_json` / `msgspec.json.decode(..., type=cls)`),
so the library's rules decide how its fields look in storage.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Protocol, cast

from resultflow.persistence._forms import Form, ModelKind

__all__ = ["ModelKind", "dump_model", "load_model", "model_kind_of_class"]


class _PydanticModel(Protocol):
    def model_dump_json(self, *, round_trip: bool) -> str: ...


class _PydanticClass(Protocol):
    def model_validate_json(self, json_data: str, /) -> object: ...


class _MsgspecJson(Protocol):
    def encode(self, obj: object, /) -> bytes: ...

    def decode(self, buf: str, /, *, type: type[object]) -> object: ...


def _library_base(module_name: str, attribute: str) -> type[object] | None:
    module = sys.modules.get(module_name)
    base: object = getattr(module, attribute, None) if module is not None else None
    return base if isinstance(base, type) else None


def model_kind_of_class(cls: type[object]) -> ModelKind | None:
    """`"pydantic"` for a pydantic v2 model class, `"msgspec"` for a Struct class, else None."""
    pydantic_base = _library_base("pydantic", "BaseModel")
    if (
        pydantic_base is not None
        and issubclass(cls, pydantic_base)
        and hasattr(cls, "model_validate_json")
    ):
        return Form.PYDANTIC
    msgspec_base = _library_base("msgspec", "Struct")
    if msgspec_base is not None and issubclass(cls, msgspec_base):
        return Form.MSGSPEC
    return None


def dump_model(obj: object, kind: ModelKind) -> object:
    """Return the model as JSON-safe data in its library's own JSON form."""
    if kind == Form.PYDANTIC:
        text = cast("_PydanticModel", obj).model_dump_json(round_trip=True)
        return json.loads(text)
    raw = _msgspec_json().encode(obj)
    return json.loads(raw)


def load_model(cls: type[object], kind: ModelKind, data: object) -> object:
    """Rebuild a model of class `cls` from `dump_model` output (the library validates it)."""
    text = json.dumps(data)
    if kind == Form.PYDANTIC:
        return cast("_PydanticClass", cls).model_validate_json(text)
    return _msgspec_json().decode(text, type=cls)


def _msgspec_json() -> _MsgspecJson:
    # Only reached for a msgspec Struct, so msgspec itself is already imported.
    return cast("_MsgspecJson", importlib.import_module("msgspec.json"))
