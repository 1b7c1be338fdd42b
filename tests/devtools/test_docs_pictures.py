"""The docs' pictures tell the truth: shown outputs, timelines and Mermaid fences match the code.

- docs/devtools.md: every text block right after a python block is what that block
  prints (the tree, the timeline, ...), and its Mermaid fence is `render_mermaid`'s
  output for the page's real run;
- docs/otel.md: its Mermaid fence is the trace chart the page computes from the spans
  its run exported;
- every ```mermaid fence of every page parses with Mermaid's own parser, so what the
  site renders is a diagram and not an error box.

Pages run in a subprocess, so their error classes never meet this process's tag registry.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
_FENCE = re.compile(r"^```(?P<lang>\w+)\n(?P<body>.*?)^```\n\s*", re.S | re.M)

ParseAll = Callable[[list[str]], list[dict[str, object]]]

_RUNNER = """
import contextlib, io, json, sys
request = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
outputs = []
for code in request["blocks"]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, request["page"], "exec"), namespace)
    outputs.append(out.getvalue())
print(json.dumps({"outputs": outputs, "picture": namespace.get(request["variable"])}))
"""


def _run_page(page: str, variable: str) -> dict[str, object]:
    """Run a page's python blocks; return what each printed (and the text shown after
    it), the value of `variable` at the end, and the page's Mermaid fences."""
    text = (DOCS / page).read_text(encoding="utf-8")
    fences = list(_FENCE.finditer(text))
    python = [m for m in fences if m["lang"] == "python"]
    request = {"page": f"docs/{page}", "variable": variable, "blocks": [m["body"] for m in python]}
    completed = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    shown: list[tuple[str, str]] = []
    for match, printed in zip(python, result["outputs"], strict=True):
        following = _FENCE.match(text, match.end())
        # A text block right after a python block shows what it prints.
        if following is not None and following["lang"] == "text":
            shown.append((printed, following["body"]))
    return {
        "shown": shown,
        "picture": result["picture"],
        "mermaid": [m["body"] for m in fences if m["lang"] == "mermaid"],
    }


@pytest.fixture(scope="module")
def devtools_page() -> dict[str, object]:
    return _run_page("devtools.md", "diagram")


@pytest.fixture(scope="module")
def otel_page() -> dict[str, object]:
    return _run_page("otel.md", "trace_picture")


def test_every_shown_output_is_what_the_code_prints(devtools_page: dict[str, object]) -> None:
    shown = devtools_page["shown"]
    assert isinstance(shown, list)
    assert len(shown) >= 7
    for printed, text in shown:
        assert printed == text


def test_the_mermaid_fence_is_the_renderer_output(devtools_page: dict[str, object]) -> None:
    assert devtools_page["mermaid"] == [f"{devtools_page['picture']}\n"]


def test_the_otel_trace_picture_is_the_pages_own_trace(otel_page: dict[str, object]) -> None:
    picture = otel_page["picture"]
    assert isinstance(picture, str)
    assert otel_page["mermaid"] == [f"{picture}\n"]
    bars = [line.strip() for line in picture.splitlines()[4:]]
    # One bar per span, parents first, on the run's virtual time (ms from the start).
    assert bars == [
        "workflow checkout :0, 1700",
        "scope load :0, 500",
        "step load[0] :0, 200",
        "step load[1] :0, 500",
        "step reserve :500, 1500",
        "attempt 1 :crit, 500, 500",
        "attempt 2 :1500, 1500",
        "step refresh :1500, 1700",
    ]


def test_every_mermaid_fence_in_the_docs_parses(parse_all: ParseAll) -> None:
    fences = [
        (page.name, match["body"])
        for page in sorted(DOCS.rglob("*.md"))
        for match in _FENCE.finditer(page.read_text(encoding="utf-8"))
        if match["lang"] == "mermaid"
    ]
    results = parse_all([body for _, body in fences])
    failures = [(name, r) for (name, _), r in zip(fences, results, strict=True) if not r["ok"]]
    assert failures == []
    kinds = {(name, r["type"]) for (name, _), r in zip(fences, results, strict=True)}
    assert {("devtools.md", "flowchart-v2"), ("otel.md", "gantt")} <= kinds
