"""`render_mermaid`: a run as a Mermaid flowchart.

Top-level steps and scopes are chained from a start node to an end node in the order
they ran; each concurrent scope is a `subgraph` holding its steps side by side (nested
scopes nest). Nodes carry a class per status (`ok`, `error`, `cached`, `skipped`,
`aborted`, `running`); cache hits are drawn as cylinders. Node ids are generated
(`n1`, `n2`, ...), never taken from user data, and every label goes through
`mermaid_label`, so no step name can break or inject into the diagram.
"""

from __future__ import annotations

import itertools

from resultflow.devtools._describe import format_duration
from resultflow.devtools._records import Node, RunRecord, ScopeRecord, StepRecord

__all__ = ["mermaid_label", "render_mermaid"]

_MAX_LABEL = 80

# Characters that Mermaid's lexer or its HTML labels would interpret, as entity codes.
# `:` is included because Mermaid pre-processes `style ...:...#...;` text before parsing.
_ENTITIES = {
    "&": "#38;",
    "#": "#35;",
    '"': "#34;",
    "<": "#60;",
    ">": "#62;",
    "`": "#96;",
    ":": "#58;",
    ";": "#59;",
}

_CLASS_DEFS = {
    "ok": "fill:#e8f5e9,stroke:#2e7d32,color:#1b5e20",
    "error": "fill:#ffebee,stroke:#c62828,color:#b71c1c,stroke-width:2px",
    "cached": "fill:#e3f2fd,stroke:#1565c0,color:#0d47a1",
    "skipped": "fill:#f5f5f5,stroke:#9e9e9e,color:#616161,stroke-dasharray:4 3",
    "aborted": "fill:#fff8e1,stroke:#f9a825,color:#795548,stroke-dasharray:4 3",
    "running": "fill:#fffde7,stroke:#fbc02d,color:#5d4037",
}

_STATUS_CLASS = {
    "success": "ok",
    "error": "error",
    "cached": "cached",
    "skipped": "skipped",
    "aborted": "aborted",
    "running": "running",
    "cancelled": "aborted",
}


def render_mermaid(run: RunRecord) -> str:
    """Render `run` as Mermaid flowchart text (`flowchart TD ...`)."""
    return _MermaidWriter(run).render()


def mermaid_label(text: str) -> str:
    """Make `text` safe inside a quoted Mermaid label: one line, entities for specials.

    Whitespace runs (newlines included) become one space, control characters are
    dropped, and the characters Mermaid would interpret become `#NN;` entity codes.
    Other unicode is kept as it is. Long text is cut to 80 characters.
    """
    flat = " ".join("".join(ch for ch in text if ch.isprintable() or ch.isspace()).split())
    if len(flat) > _MAX_LABEL:
        flat = flat[: _MAX_LABEL - 3] + "..."
    return "".join(_ENTITIES.get(ch, ch) for ch in flat)


class _MermaidWriter:
    """Assigns node ids and collects lines, classes and edges for one run."""

    def __init__(self, run: RunRecord) -> None:
        self._run = run
        self._tree = run.tree()
        self._lines: list[str] = ["flowchart TD"]
        self._classes: dict[str, list[str]] = {}
        self._count = 0

    def render(self) -> str:
        run = self._run
        start = "run_start"
        end = "run_end"
        self._lines.append(f'  {start}(["{_quoted_lines([run.label])}"])')
        chain = [start]
        for node in self._tree.get(None, ()):
            chain.append(self._node(node, "  "))
        self._lines.append(f'  {end}(["{_quoted_lines(_run_end_parts(run))}"])')
        self._classify(end, run.status)
        chain.append(end)
        self._lines.extend(f"  {a} --> {b}" for a, b in itertools.pairwise(chain))
        for name, definition in _CLASS_DEFS.items():
            if name in self._classes:
                self._lines.append(f"  classDef {name} {definition}")
        for name, ids in self._classes.items():
            self._lines.append(f"  class {','.join(ids)} {name}")
        return "\n".join(self._lines)

    def _node(self, node: Node, indent: str) -> str:
        self._count += 1
        node_id = f"n{self._count}"
        if isinstance(node, ScopeRecord):
            title = _quoted_lines([_with_duration(node.label, node.duration_s)])
            self._lines.append(f'{indent}subgraph {node_id}["{title}"]')
            children = self._tree.get(node.scope_id, ())
            for child in children:
                self._node(child, indent + "  ")
            if not children:
                # An empty subgraph still needs a body line to be drawn.
                self._count += 1
                self._lines.append(f'{indent}  n{self._count}["(no steps)"]')
            self._lines.append(f"{indent}end")
        else:
            label = _quoted_lines(_step_parts(node))
            shape = ("[(", ")]") if node.status == "cached" else ("[", "]")
            if node.compensation:
                shape = ("(", ")")
            self._lines.append(f'{indent}{node_id}{shape[0]}"{label}"{shape[1]}')
        self._classify(node_id, node.status)
        return node_id

    def _classify(self, node_id: str, status: str) -> None:
        self._classes.setdefault(_STATUS_CLASS.get(status, "running"), []).append(node_id)


def _quoted_lines(parts: list[str]) -> str:
    return "<br/>".join(mermaid_label(part) for part in parts if part)


def _with_duration(text: str, duration_s: float | None) -> str:
    return text if duration_s is None else f"{text} ({format_duration(duration_s)})"


def _step_parts(step: StepRecord) -> list[str]:
    parts = [step.label]
    if step.key is not None and step.key != step.label:
        parts.append(f"key {step.key}")
    if step.status == "cached":
        parts.append("cache hit")
    elif step.status == "skipped":
        parts.append(f"skipped: {step.reason}" if step.reason else "skipped")
    elif step.status == "running":
        parts.append("running")
    elif step.duration_s is not None:
        parts.append(format_duration(step.duration_s))
    if step.retries:
        parts.append(f"{step.retries} {'retry' if step.retries == 1 else 'retries'}")
    if step.timed_out:
        parts.append("timed out")
    if step.status == "error" and step.error:
        parts.append(step.error)
    if step.status == "aborted":
        parts.append(f"aborted: {step.reason}" if step.reason else "aborted")
    return parts


def _run_end_parts(run: RunRecord) -> list[str]:
    words = {
        "success": "done",
        "error": "failed",
        "cancelled": "cancelled",
        "skipped": "skipped",
        "running": "running",
    }
    parts = [words[run.status]]
    if run.duration_s is not None and run.status not in ("running", "skipped"):
        parts[0] += f" in {format_duration(run.duration_s)}"
    if run.error:
        parts.append(run.error)
    return parts
