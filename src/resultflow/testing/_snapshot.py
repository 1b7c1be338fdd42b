r"""Snapshots of a run: its executed steps and its result as JSON-safe data, and their diff.

```python
first = snapshot(harness.invocations(), result)
Path("checkout.snap.json").write_text(first.to_json())
...
diff = compare_snapshots(Snapshot.from_json(stored_text), snapshot(harness.invocations(), result))
assert diff.equal, "\n".join(diff.differences)
```

A snapshot holds, for each invocation, its `name`, `key`, `scripted` flag and result,
then the run's result. Durations, step ids, workflow ids and `args` are left out, so a
snapshot stays stable between runs. Values are normalised for reading and comparing,
not for decoding back: tuples and sets become lists, errors become
`{"$error": tag, ...fields}`, exceptions `{"$exception": type, "message": ...}`
(no traceback), dataclasses `{"$dataclass": name, ...fields}`; other values go through
`resultflow.persistence.encode_value` (datetimes, decimals, UUIDs, enums, models) and
anything it cannot encode is kept as `{"$repr": repr(value)}`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from resultflow.errors import TaggedError
from resultflow.result import Err, Ok
from resultflow.testing._invocation import Invocation

if TYPE_CHECKING:
    from resultflow.persistence import JSONValue

__all__ = ["Snapshot", "SnapshotDiff", "compare_snapshots", "normalize", "snapshot"]

SNAPSHOT_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A run's steps and result as JSON-safe data (`data`); store it with `to_json`."""

    data: dict[str, JSONValue]

    def to_json(self) -> str:
        """The snapshot as stable, indented JSON text (keys sorted)."""
        return json.dumps(self.data, indent=2, sort_keys=True, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        """Read a snapshot written by `to_json`; a `ValueError` says what is wrong."""
        try:
            data: object = json.loads(text)
        except RecursionError as exc:  # no snapshot is nested this deep
            raise ValueError("not a snapshot: JSON nested too deeply") from exc
        if not isinstance(data, dict):
            raise ValueError(f"a snapshot is a JSON object, not {type(data).__name__}")
        found = cast("dict[str, object]", data)
        missing = [key for key in ("format", "steps", "result") if key not in found]
        if missing:
            raise ValueError(f"not a snapshot: missing key(s) {missing}")
        if found["format"] != SNAPSHOT_FORMAT:
            raise ValueError(f"unsupported snapshot format {found['format']!r}")
        return cls(cast("dict[str, JSONValue]", found))


@dataclass(frozen=True, slots=True)
class SnapshotDiff:
    """How two snapshots differ: `equal`, and one readable line per difference."""

    equal: bool
    differences: list[str]

    def __bool__(self) -> bool:
        return self.equal


def snapshot(
    invocations: Iterable[Invocation], result: Ok[object] | Err[object] | None
) -> Snapshot:
    """Capture the executed steps and the run's result as a `Snapshot`."""
    steps: list[JSONValue] = [
        {
            "name": inv.name,
            "key": inv.key,
            "scripted": inv.scripted,
            "result": normalize(inv.result),
        }
        for inv in invocations
    ]
    return Snapshot({"format": SNAPSHOT_FORMAT, "steps": steps, "result": normalize(result)})


def compare_snapshots(a: Snapshot, b: Snapshot) -> SnapshotDiff:
    """Compare two snapshots; each difference is a line `path: <in a> != <in b>`.

    Steps are labelled by name (`steps[1] 'charge'`), so a line reads like
    `steps[1] 'charge'.result.value: 42 != 43`.
    """
    differences: list[str] = []
    _diff(a.data, b.data, "", differences)
    return SnapshotDiff(not differences, differences)


def normalize(value: object) -> JSONValue:
    """The JSON-safe, comparison-friendly form of `value` used inside snapshots."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Ok):
        return {"ok": True, "value": normalize(cast("Ok[object]", value).value)}
    if isinstance(value, Err):
        return {"ok": False, "error": normalize(cast("Err[object]", value).error)}
    if isinstance(value, TaggedError):
        # Not the "class" to_dict adds for a shared tag: it depends on what else is loaded.
        fields = {
            name: normalize(item)
            for name, item in value.to_dict().items()
            if name not in ("tag", "class")
        }
        return {"$error": value.tag, **fields}
    if isinstance(value, BaseException):
        return {"$exception": _type_name(type(value)), "message": str(value)}
    if isinstance(value, Mapping):
        items = cast("Mapping[object, object]", value).items()
        return {k if isinstance(k, str) else repr(k): normalize(v) for k, v in items}
    if isinstance(value, list | tuple):
        return [normalize(item) for item in cast("Iterable[object]", value)]
    if isinstance(value, set | frozenset):
        members = [normalize(item) for item in cast("Iterable[object]", value)]
        return sorted(members, key=lambda item: json.dumps(item, sort_keys=True))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: normalize(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$dataclass": type(value).__qualname__, **fields}
    # The codec (and its storage modules) is imported only here, for the rare value
    # the cases above do not cover, so `import resultflow.testing` stays cheap.
    from resultflow.persistence import SerializationError, encode_value

    try:
        return encode_value(value)
    except SerializationError:
        return {"$repr": repr(value)}


# -- the diff --------------------------------------------------------------------------
def _diff(a: JSONValue, b: JSONValue, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys(), key=_key_order):
            where = f"{path}.{key}" if path else key
            if key not in b:
                out.append(f"{where}: {_show(a[key])} != (missing)")
            elif key not in a:
                out.append(f"{where}: (missing) != {_show(b[key])}")
            else:
                _diff(a[key], b[key], where, out)
        return
    if isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            where = f"{path}[{index}]{_step_label(a, b, index, path)}"
            if index >= len(b):
                out.append(f"{where}: {_show(a[index])} != (missing)")
            elif index >= len(a):
                out.append(f"{where}: (missing) != {_show(b[index])}")
            else:
                _diff(a[index], b[index], where, out)
        return
    if type(a) is not type(b) or a != b:
        out.append(f"{path or '(root)'}: {_show(a)} != {_show(b)}")


# Differences list these keys first (in this order), then the rest alphabetically, so a
# snapshot read back from sorted JSON diffs exactly like one built in memory.
_FIRST_KEYS = {"format": 0, "name": 1, "key": 2, "scripted": 3, "steps": 4, "result": 5, "ok": 6}


def _key_order(key: str) -> tuple[int, str]:
    return (_FIRST_KEYS.get(key, len(_FIRST_KEYS)), key)


def _step_label(a: list[JSONValue], b: list[JSONValue], index: int, path: str) -> str:
    if path != "steps":
        return ""
    source = a if index < len(a) else b
    item = source[index]
    if isinstance(item, dict):
        label = item.get("name") or item.get("key")
        if isinstance(label, str):
            return f" {label!r}"
    return ""


def _show(value: JSONValue) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _type_name(cls: type[BaseException]) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
