"""`export_run` / `import_run`: a run as a self-describing JSON document, and back.

```text
{"format": "resultflow.run", "version": 1, "run": {"workflow_id": ..., "nodes": [...]}}
```

Import validates every field and fails with `RunImportError` (a ValueError) naming the
offending path, e.g. `run.nodes[2].status: expected one of ...`; unknown fields are
rejected too, so a typo never silently drops data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Final, TypeVar, cast

from resultflow.devtools._records import (
    Node,
    RunRecord,
    RunStatus,
    ScopeRecord,
    ScopeStatus,
    StepRecord,
    StepStatus,
)
from resultflow.errors import ResultflowError

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "RunImportError", "export_run", "import_run"]

EXPORT_FORMAT: Final = "resultflow.run"
EXPORT_VERSION: Final = 1

_RUN_STATUSES: tuple[RunStatus, ...] = ("running", "success", "error", "cancelled", "skipped")
_STEP_STATUSES: tuple[StepStatus, ...] = (
    "running",
    "success",
    "error",
    "cached",
    "skipped",
    "aborted",
)
_SCOPE_STATUSES: tuple[ScopeStatus, ...] = ("running", "success", "error")

_S = TypeVar("_S", bound=str)


class RunImportError(ResultflowError, ValueError):
    """`import_run` was given text that is not an exported run; the message says where."""


def export_run(run: RunRecord, *, indent: int | None = None) -> str:
    """Serialize `run` to a JSON string that `import_run` reads back unchanged."""
    document = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "run": _run_to_dict(run)}
    return json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=False)


def import_run(text: str | bytes) -> RunRecord:
    """Parse an `export_run` document; raise `RunImportError` when anything is off."""
    try:
        document: object = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunImportError(f"not valid JSON: {exc}") from exc
    except RecursionError as exc:  # absurdly nested input; no export is nested this deep
        raise RunImportError("not an exported run: JSON nested too deeply") from exc
    top = _Reader(document, "document")
    fmt = top.get_str("format")
    if fmt != EXPORT_FORMAT:
        raise RunImportError(f"document.format: expected {EXPORT_FORMAT!r}, got {fmt!r}")
    version = top.get_int("version")
    if version != EXPORT_VERSION:
        raise RunImportError(f"document.version: unsupported version {version}")
    top.reject_unknown({"format", "version", "run"})
    run = _run_from_reader(_Reader(top.get("run"), "run"))
    _check_unique_ids(run)
    return run


# -- writing ----------------------------------------------------------------------------
def _run_to_dict(run: RunRecord) -> dict[str, object]:
    return {
        "workflow_id": run.workflow_id,
        "name": run.name,
        "status": run.status,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration_s": run.duration_s,
        "error": run.error,
        "error_tag": run.error_tag,
        "nodes": [_node_to_dict(node) for node in run.nodes],
    }


def _node_to_dict(node: Node) -> dict[str, object]:
    if isinstance(node, ScopeRecord):
        return {
            "node": "scope",
            "scope_id": node.scope_id,
            "kind": node.kind,
            "name": node.name,
            "parent_id": node.parent_id,
            "status": node.status,
            "start_ts": node.start_ts,
            "end_ts": node.end_ts,
            "duration_s": node.duration_s,
        }
    return {
        "node": "step",
        "step_id": node.step_id,
        "name": node.name,
        "key": node.key,
        "parent_id": node.parent_id,
        "status": node.status,
        "start_ts": node.start_ts,
        "end_ts": node.end_ts,
        "duration_s": node.duration_s,
        "cache_hit": node.cache_hit,
        "retries": node.retries,
        "timed_out": node.timed_out,
        "error": node.error,
        "error_tag": node.error_tag,
        "reason": node.reason,
        "compensation": node.compensation,
    }


# -- reading ----------------------------------------------------------------------------
def _run_from_reader(reader: _Reader) -> RunRecord:
    nodes_value = reader.get("nodes")
    if not isinstance(nodes_value, list):
        raise RunImportError(f"run.nodes: expected a list, got {_kind(nodes_value)}")
    items = cast("list[object]", nodes_value)
    nodes = tuple(
        _node_from_reader(_Reader(item, f"run.nodes[{i}]")) for i, item in enumerate(items)
    )
    run = RunRecord(
        workflow_id=reader.get_str("workflow_id"),
        name=reader.get_optional_str("name"),
        status=reader.get_choice("status", _RUN_STATUSES),
        started_at=reader.get_float("started_at"),
        ended_at=reader.get_optional_float("ended_at"),
        duration_s=reader.get_optional_float("duration_s"),
        error=reader.get_optional_str("error"),
        error_tag=reader.get_optional_str("error_tag"),
        nodes=nodes,
    )
    reader.reject_unknown(
        {"workflow_id", "name", "status", "started_at", "ended_at", "duration_s", "error"}
        | {"error_tag", "nodes"}
    )
    return run


def _node_from_reader(reader: _Reader) -> Node:
    kind = reader.get_choice("node", ("step", "scope"))
    if kind == "scope":
        scope = ScopeRecord(
            scope_id=reader.get_str("scope_id"),
            kind=reader.get_str("kind"),
            name=reader.get_optional_str("name"),
            parent_id=reader.get_optional_str("parent_id"),
            status=reader.get_choice("status", _SCOPE_STATUSES),
            start_ts=reader.get_float("start_ts"),
            end_ts=reader.get_optional_float("end_ts"),
            duration_s=reader.get_optional_float("duration_s"),
        )
        reader.reject_unknown(_SCOPE_KEYS)
        return scope
    step = StepRecord(
        step_id=reader.get_str("step_id"),
        name=reader.get_optional_str("name"),
        key=reader.get_optional_str("key"),
        parent_id=reader.get_optional_str("parent_id"),
        status=reader.get_choice("status", _STEP_STATUSES),
        start_ts=reader.get_float("start_ts"),
        end_ts=reader.get_optional_float("end_ts"),
        duration_s=reader.get_optional_float("duration_s"),
        cache_hit=reader.get_bool("cache_hit"),
        retries=reader.get_int("retries", minimum=0),
        timed_out=reader.get_bool("timed_out"),
        error=reader.get_optional_str("error"),
        error_tag=reader.get_optional_str("error_tag"),
        reason=reader.get_optional_str("reason"),
        compensation=reader.get_bool("compensation"),
    )
    reader.reject_unknown(_STEP_KEYS)
    return step


_SCOPE_KEYS = frozenset(
    {"node", "scope_id", "kind", "name", "parent_id", "status", "start_ts", "end_ts"}
    | {"duration_s"}
)
_STEP_KEYS = frozenset(
    {"node", "step_id", "name", "key", "parent_id", "status", "start_ts", "end_ts"}
    | {"duration_s", "cache_hit", "retries", "timed_out", "error", "error_tag", "reason"}
    | {"compensation"}
)


def _check_unique_ids(run: RunRecord) -> None:
    seen: set[str] = set()
    for index, node in enumerate(run.nodes):
        node_id = node.scope_id if isinstance(node, ScopeRecord) else node.step_id
        if node_id in seen:
            raise RunImportError(f"run.nodes[{index}]: duplicate node id {node_id!r}")
        seen.add(node_id)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


class _Reader:
    """Typed access to one JSON object, with errors that name the field's path."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise RunImportError(f"{path}: expected an object, got {_kind(value)}")
        self._data = cast("Mapping[str, object]", value)
        self._path = path

    def get(self, name: str) -> object:
        if name not in self._data:
            raise RunImportError(f"{self._path}.{name}: missing")
        return self._data[name]

    def reject_unknown(self, known: set[str] | frozenset[str]) -> None:
        unknown = sorted(set(self._data) - known)
        if unknown:
            raise RunImportError(f"{self._path}: unknown field(s) {', '.join(unknown)}")

    def get_str(self, name: str) -> str:
        value = self.get(name)
        if not isinstance(value, str) or not value:
            raise self._wrong(name, "a non-empty string", value)
        return value

    def get_optional_str(self, name: str) -> str | None:
        value = self.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._wrong(name, "a string or null", value)
        return value

    def get_float(self, name: str) -> float:
        value = self.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(name, "a number", value)
        if not math.isfinite(value):
            raise self._wrong(name, "a finite number", value)
        return float(value)

    def get_optional_float(self, name: str) -> float | None:
        return None if self.get(name) is None else self.get_float(name)

    def get_int(self, name: str, *, minimum: int | None = None) -> int:
        value = self.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(name, "an integer", value)
        if minimum is not None and value < minimum:
            raise RunImportError(f"{self._path}.{name}: must be >= {minimum}, got {value}")
        return value

    def get_bool(self, name: str) -> bool:
        value = self.get(name)
        if not isinstance(value, bool):
            raise self._wrong(name, "a boolean", value)
        return value

    def get_choice(self, name: str, choices: tuple[_S, ...]) -> _S:
        value = self.get(name)
        for choice in choices:
            if value == choice:
                return choice
        expected = ", ".join(repr(c) for c in choices)
        raise RunImportError(f"{self._path}.{name}: expected one of {expected}, got {value!r}")

    def _wrong(self, name: str, expected: str, value: object) -> RunImportError:
        return RunImportError(f"{self._path}.{name}: expected {expected}, got {_kind(value)}")
