"""`render_tree`: a run as an ASCII tree with status marks and durations.

```text
workflow checkout [ok] 1.25s
|-- [ok] load-user 100ms
|-- [ok] charge 400ms (2 retries)
|-- [err] all fetch 300ms
|   |-- [ok] user 200ms
|   `-- [err] posts 300ms: NotFound: no posts for 7
`-- [skipped] notify: no email address
```

Plain ASCII on purpose: it survives every terminal, log collector and CI page. One
line per node, always: line breaks in names, keys or reasons become spaces.
"""

from __future__ import annotations

from resultflow.devtools._describe import format_duration
from resultflow.devtools._records import Node, RunRecord, ScopeRecord, StepRecord

__all__ = ["render_tree", "status_mark"]


def render_tree(run: RunRecord) -> str:
    """Render `run` as an ASCII tree: one line per step or scope, scopes indented."""
    lines = [_one_line(_run_line(run))]
    tree = run.tree()
    _render_children(tree, None, "", lines)
    return "\n".join(lines)


def status_mark(status: str) -> str:
    """The bracketed mark for a status: `[ok]`, `[err]`, `[cached]`, `[skipped]`, ..."""
    return _MARKS.get(status, f"[{status}]")


_MARKS = {
    "success": "[ok]",
    "error": "[err]",
    "cached": "[cached]",
    "skipped": "[skipped]",
    "aborted": "[aborted]",
    "cancelled": "[cancelled]",
    "running": "[running]",
}


def _run_line(run: RunRecord) -> str:
    text = f"workflow {run.label} {status_mark(run.status)}"
    if run.duration_s is not None and run.status != "skipped":
        text += f" {format_duration(run.duration_s)}"
    if run.error:
        text += f": {run.error}"
    return text


def _render_children(
    tree: dict[str | None, tuple[Node, ...]], parent: str | None, indent: str, lines: list[str]
) -> None:
    children = tree.get(parent, ())
    for index, node in enumerate(children):
        last = index == len(children) - 1
        lines.append(f"{indent}{'`-- ' if last else '|-- '}{_one_line(_node_line(node))}")
        if isinstance(node, ScopeRecord):
            _render_children(tree, node.scope_id, indent + ("    " if last else "|   "), lines)


def _node_line(node: Node) -> str:
    """The text of one tree line (without the connector) for a step or a scope."""
    if isinstance(node, ScopeRecord):
        return _timed(f"{status_mark(node.status)} {node.label}", node.duration_s)
    return _step_line(node)


def _step_line(step: StepRecord) -> str:
    text = f"{status_mark(step.status)} {step.label}"
    if step.key is not None and step.key != step.label:
        text += f" (key={step.key})"
    if step.status in ("success", "error", "aborted"):
        text = _timed(text, step.duration_s)
    notes: list[str] = []
    if step.retries:
        notes.append(f"{step.retries} {'retry' if step.retries == 1 else 'retries'}")
    if step.timed_out:
        notes.append("timed out")
    if notes:
        text += f" ({', '.join(notes)})"
    detail = step.error if step.status == "error" else step.reason
    if detail:
        text += f": {detail}"
    return text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _timed(text: str, duration_s: float | None) -> str:
    return text if duration_s is None else f"{text} {format_duration(duration_s)}"
