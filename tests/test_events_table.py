"""docs/events.md pairs every event class with its wire name; this test keeps it true.

The table is generated from `resultflow.events` (the `WorkflowEvent` union, each class's
`type` default and its docstring's first line). When an event is added or renamed, the
failure shows the table to paste between the markers.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from resultflow import events

PAGE = Path(__file__).resolve().parent.parent / "docs" / "events.md"
START = (
    "<!-- events-table:start (generated from resultflow.events by tests/test_events_table.py) -->"
)
END = "<!-- events-table:end -->"


def _wire_name(cls: type) -> str:
    (type_field,) = [f for f in dataclasses.fields(cls) if f.name == "type"]
    assert isinstance(type_field.default, str), cls
    return type_field.default


def expected_table() -> str:
    """The table as it must appear in docs/events.md."""
    rows = [
        "| wire name (`event.type`) | class in `resultflow.events` | emitted when |",
        "| --- | --- | --- |",
    ]
    for cls in typing.get_args(events.WorkflowEvent):
        summary = (cls.__doc__ or "").strip().splitlines()[0]
        rows.append(f"| `{_wire_name(cls)}` | `{cls.__name__}` | {summary} |")
    return "\n".join(rows) + "\n"


def test_the_events_page_lists_every_class_with_its_wire_name() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert START in text and END in text
    documented = text.split(START, 1)[1].split(END, 1)[0].lstrip("\n")
    assert documented == expected_table(), f"paste this between the markers:\n{expected_table()}"


def test_wire_names_are_unique_and_every_event_class_is_in_the_union() -> None:
    union = typing.get_args(events.WorkflowEvent)
    wire_names = [_wire_name(cls) for cls in union]
    assert len(wire_names) == len(set(wire_names))
    # Every concrete event class exported by resultflow.events is one of the union's.
    exported = {
        getattr(events, name)
        for name in events.__all__
        if isinstance(getattr(events, name), type)
        and dataclasses.is_dataclass(getattr(events, name))
        and name not in ("EventBase", "StepEventBase")
    }
    assert exported == set(union)
