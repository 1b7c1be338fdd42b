"""Results and resume state as JSON (never pickle): the persistence codec.

`serialize_result` / `deserialize_result` convert one `Ok` / `Err`, `serialize_state` /
`deserialize_state` a whole `ResumeState`, and `dumps_state` / `loads_state` go all the
way to and from text. Values inside are converted by `encode_value` / `decode_value`
(see `resultflow.persistence.encoder` for every supported type and its stored form).

A state document looks like this (`format` is the codec's wire format, `version` is
your state's schema version, used by `resultflow.persistence.versioning`)::

    {"format": 1, "version": 1, "meta": {"owner": "ann"},
     "steps": {"charge": {"result": {"ok": true, "value": 42}, "meta": {}}}}

Writing an unsupported value raises `SerializationError` (a programming error) naming
its path, e.g. `state["charge"].value.card`. Reading bad data never raises a bare
`KeyError` or `JSONDecodeError`: `loads_state` and `parse_state` return
`Err(StateFormatError)` saying which field is wrong and which format version it claimed;
the functions that must return a plain value raise `StateDecodeError` carrying it.

Every function takes `limits=` (a `CodecLimits`; default `codec_limits()`): how deep
values may nest, how many set items or dict keys may share a hash, how long a document
may be, and which classes may be built. Writing refuses what reading would refuse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from resultflow.cache import CacheEntry
from resultflow.persistence._decoder import DecodeFailure, Decoder, decode_value
from resultflow.persistence._encoder import JSONValue, encode_result_body, encode_value
from resultflow.persistence._errors import (
    ExceptionInfo,
    SerializationError,
    StateDecodeError,
    StateFormatError,
)
from resultflow.persistence._forms import path_key, short_repr
from resultflow.persistence._limits import CodecLimitError, CodecLimits, codec_limits
from resultflow.persistence._registry import Codec, register_codec, unregister_codec
from resultflow.persistence._versioning import VersionedState
from resultflow.result import Err, Ok
from resultflow.resume import ResumeState

__all__ = [
    "FORMAT_VERSION",
    "Codec",
    "ExceptionInfo",
    "JSONValue",
    "LoadedState",
    "SerializationError",
    "StateDecodeError",
    "StateFormatError",
    "decode_value",
    "deserialize_entry",
    "deserialize_result",
    "deserialize_state",
    "dumps_state",
    "encode_value",
    "loads_state",
    "parse_state",
    "register_codec",
    "serialize_entry",
    "serialize_result",
    "serialize_state",
    "unregister_codec",
]

FORMAT_VERSION = 1
"""The codec's current wire format; `loads_state` refuses documents from a newer one."""


@dataclass(frozen=True, slots=True)
class LoadedState:
    """What `loads_state` read: the resume state, the document's meta and its version.

    `version` is the state's schema version (1 unless another was given to
    `dumps_state`).
    """

    state: dict[str, CacheEntry]
    meta: dict[str, object] | None
    version: int

    def as_versioned(self) -> VersionedState:
        """The state with its version, ready for `migrate_state` or a `versioned_loader`."""
        return VersionedState(self.version, self.state)


# -- results ---------------------------------------------------------------------------
def serialize_result(
    result: Ok[object] | Err[object], *, limits: CodecLimits | None = None
) -> dict[str, JSONValue]:
    """Return `{"ok": true, "value": ...}` or `{"ok": false, "error": ..., "cause": ...}`.

    An exception `cause` is stored as an `ExceptionInfo`. Raises `SerializationError`.
    """
    return encode_result_body(result, path="result", limits=limits)


def deserialize_result(
    data: object, *, limits: CodecLimits | None = None
) -> Ok[object] | Err[object]:
    """Rebuild the `Ok` / `Err` that `serialize_result` produced.

    Raises `StateDecodeError` (with a `StateFormatError` as `.error`) on invalid data.
    """
    try:
        return Decoder(limits).result_body(data)
    except DecodeFailure as failure:
        raise StateDecodeError(failure.to_error("result")) from None
    except RecursionError:
        raise StateDecodeError(_too_deep("result")) from None


# -- entries ---------------------------------------------------------------------------
def serialize_entry(
    entry: CacheEntry, *, path: str = "entry", limits: CodecLimits | None = None
) -> dict[str, JSONValue]:
    """Return one finished step as `{"result": {...}, "meta": {...}}`."""
    return {
        "result": encode_result_body(entry.result, path=path, limits=limits),
        "meta": _encode_meta(entry.meta, f"{path}.meta", limits),
    }


def deserialize_entry(data: object, *, limits: CodecLimits | None = None) -> CacheEntry:
    """Rebuild a `CacheEntry` from `serialize_entry` output; raises `StateDecodeError`."""
    try:
        return _entry(Decoder(limits), data)
    except DecodeFailure as failure:
        raise StateDecodeError(failure.to_error("entry")) from None
    except RecursionError:
        raise StateDecodeError(_too_deep("entry")) from None


# -- states ----------------------------------------------------------------------------
def serialize_state(
    state: ResumeState,
    meta: Mapping[str, object] | None = None,
    *,
    version: int = 1,
    limits: CodecLimits | None = None,
) -> dict[str, JSONValue]:
    """Return the resume state (and optional document `meta`) as a JSON-safe document.

    `version` is the state's schema version (see `versioned_loader`). Steps keep their
    order. Raises `SerializationError` naming the path of an unsupported value.
    """
    if type(version) is not int:
        raise TypeError(f"version must be an int, not {type(version).__name__}")
    steps: dict[str, JSONValue] = {}
    for key, entry in state.items():
        if not isinstance(cast("object", key), str):
            raise SerializationError(
                f"cannot serialize state: step key {short_repr(key)} is not a string",
                path="state",
            )
        steps[key] = serialize_entry(entry, path=f"state{path_key(key)}", limits=limits)
    return {
        "format": FORMAT_VERSION,
        "version": version,
        "meta": None if meta is None else _encode_meta(meta, "meta", limits),
        "steps": steps,
    }


def deserialize_state(data: object, *, limits: CodecLimits | None = None) -> dict[str, CacheEntry]:
    """Rebuild the resume state from `serialize_state` output; raises `StateDecodeError`."""
    loaded = parse_state(data, limits=limits)
    if isinstance(loaded, Err):
        raise StateDecodeError(loaded.error)
    return loaded.value.state


def parse_state(
    data: object, *, limits: CodecLimits | None = None
) -> Ok[LoadedState] | Err[StateFormatError]:
    """Check and decode a state document already parsed from JSON (e.g. a JSONB column)."""
    if not isinstance(data, dict):
        return Err(
            StateFormatError(
                message=f"a state document must be a JSON object, not {type(data).__name__}"
            )
        )
    document = cast("dict[str, object]", data)
    format_version = document.get("format")
    problem = _format_problem(document, format_version)
    if problem is not None:
        return Err(problem)
    assert isinstance(format_version, int)
    try:
        return Ok(_document(Decoder(limits), document))
    except DecodeFailure as failure:
        # The outermost segment names the root: state["key"], meta, version or steps.
        return Err(failure.to_error("", format_version))
    except RecursionError:
        return Err(
            StateFormatError(message="the state is nested too deeply", version=format_version)
        )


def dumps_state(
    state: ResumeState,
    meta: Mapping[str, object] | None = None,
    *,
    version: int = 1,
    limits: CodecLimits | None = None,
) -> str:
    """Return the resume state as JSON text (see `serialize_state`).

    Raises `SerializationError` — a programming error — whose message names the path
    of the offending value, e.g. `state["charge"].value.card`, or says the text is
    longer than `CodecLimits.max_document_size`.
    """
    chosen = limits or codec_limits()
    document = serialize_state(state, meta, version=version, limits=chosen)
    text = json.dumps(document, allow_nan=False, separators=(",", ":"))
    size = chosen.max_document_size
    if size is not None and len(text) > size:
        raise SerializationError(
            f"cannot serialize state: the document is {len(text)} characters long, over "
            f"CodecLimits.max_document_size ({size}), so it could not be read back",
            path="state",
        )
    return text


def loads_state(
    text: str | bytes, *, limits: CodecLimits | None = None
) -> Ok[LoadedState] | Err[StateFormatError]:
    """Read JSON text written by `dumps_state`.

    Malformed or truncated text, missing or invalid fields, an unknown error tag or
    class, a newer format or data past the `limits` (default: `codec_limits()`) all give
    `Err(StateFormatError)` naming the field and the format version; nothing else is
    raised for bad data.
    """
    chosen = limits or codec_limits()
    size = chosen.max_document_size
    if size is not None and len(text) > size:
        return Err(
            CodecLimitError(
                message=f"the document is {len(text)} characters long, over "
                f"CodecLimits.max_document_size ({size})",
                limit="max_document_size",
            )
        )
    try:
        data: object = json.loads(text)
    except json.JSONDecodeError as exc:
        return Err(
            StateFormatError(
                message=f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}); "
                "the text may be truncated or corrupted"
            )
        )
    except UnicodeDecodeError as exc:
        return Err(StateFormatError(message=f"not UTF-8 text: {exc}"))
    except ValueError as exc:  # e.g. a number past Python's integer text limit
        return Err(StateFormatError(message=f"not readable JSON: {exc}"))
    except RecursionError:
        return Err(StateFormatError(message="the JSON is nested too deeply"))
    return parse_state(data, limits=chosen)


def _encode_meta(meta: Mapping[str, object], path: str, limits: CodecLimits | None) -> JSONValue:
    for key in meta:
        if not isinstance(cast("object", key), str):
            raise SerializationError(
                f"cannot serialize {path}: meta key {short_repr(key)} is not a string",
                path=path,
            )
    return encode_value(dict(meta), path=path, limits=limits)


# -- reading documents ----------------------------------------------------------------
def _too_deep(path: str) -> StateFormatError:
    return StateFormatError(message=f"{path}: the data is nested too deeply", path=path)


def _format_problem(document: dict[str, object], found: object) -> StateFormatError | None:
    if "format" not in document:
        return StateFormatError(
            message="format: missing field: this is not a resultflow state document",
            path="format",
        )
    if type(found) is not int:
        return StateFormatError(
            message=f"format: must be an integer, not {short_repr(found)}", path="format"
        )
    if found > FORMAT_VERSION:
        return StateFormatError(
            message=f"format: state format {short_repr(found)} is newer than this resultflow "
            f"reads (up to {FORMAT_VERSION}); upgrade resultflow to load it",
            path="format",
            version=found,
        )
    if found < 1:
        return StateFormatError(
            message=f"format: unknown state format {short_repr(found)}",
            path="format",
            version=found,
        )
    return None


def _document(decoder: Decoder, document: dict[str, object]) -> LoadedState:
    version = document.get("version")
    if type(version) is not int:
        problem = (
            "missing" if "version" not in document else f"not an integer: {short_repr(version)}"
        )
        raise DecodeFailure(f"the state 'version' field is {problem}", "version")
    raw_steps = document.get("steps")
    if not isinstance(raw_steps, dict):
        problem = "missing" if "steps" not in document else "not a JSON object"
        raise DecodeFailure(f"the 'steps' field is {problem}", "steps")
    steps = _steps(decoder, cast("dict[str, object]", raw_steps))
    raw_meta = document.get("meta")
    meta = None if raw_meta is None else _meta(decoder, raw_meta, "meta")
    return LoadedState(state=steps, meta=meta, version=version)


def _steps(decoder: Decoder, raw_steps: dict[str, object]) -> dict[str, CacheEntry]:
    state: dict[str, CacheEntry] = {}
    for key, raw_entry in raw_steps.items():
        try:
            state[key] = _entry(decoder, raw_entry)
        except DecodeFailure as failure:
            failure.segments.append(f"state{path_key(key)}")
            raise
    return state


def _entry(decoder: Decoder, data: object) -> CacheEntry:
    if not isinstance(data, dict):
        raise DecodeFailure(f"a step entry must be a JSON object, not {type(data).__name__}")
    entry = cast("dict[str, object]", data)
    if "result" not in entry:
        raise DecodeFailure("a step entry is missing its 'result' field")
    result = decoder.result_body(entry["result"])
    meta = _meta(decoder, entry.get("meta", {}), ".meta")
    return CacheEntry(result, meta)


def _meta(decoder: Decoder, data: object, segment: str) -> dict[str, object]:
    try:
        meta = decoder.value(data)
    except DecodeFailure as failure:
        failure.segments.append(segment)
        raise
    if not isinstance(meta, dict):
        raise DecodeFailure("meta must be a JSON object", segment)
    checked = cast("dict[object, object]", meta)
    if not all(isinstance(key, str) for key in checked):
        raise DecodeFailure("meta keys must be strings", segment)
    return cast("dict[str, object]", checked)
