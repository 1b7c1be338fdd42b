"""docs/devtools.md tells the truth: shown outputs and the Mermaid fence match the code.

The page runs in a subprocess, so its error classes never meet this process's tag
registry.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "devtools.md"
_FENCE = re.compile(r"^```(?P<lang>\w+)\n(?P<body>.*?)^```\n\s*", re.S | re.M)

_RUNNER = """
import contextlib, io, json, sys
blocks = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
outputs = []
for code in blocks:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/devtools.md", "exec"), namespace)
    outputs.append(out.getvalue())
print(json.dumps({"outputs": outputs, "diagram": namespace.get("diagram")}))
"""


@pytest.fixture(scope="module")
def page() -> dict[str, object]:
    """The page's blocks, what each python block printed, and the text shown after it."""
    text = PAGE.read_text(encoding="utf-8")
    fences = list(_FENCE.finditer(text))
    python = [m for m in fences if m["lang"] == "python"]
    completed = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps([m["body"] for m in python]),
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
        "diagram": result["diagram"],
        "mermaid": [m["body"] for m in fences if m["lang"] == "mermaid"],
    }


def test_every_shown_output_is_what_the_code_prints(page: dict[str, object]) -> None:
    shown = page["shown"]
    assert isinstance(shown, list)
    assert len(shown) >= 7
    for printed, text in shown:
        assert printed == text


def test_the_mermaid_fence_is_the_renderer_output(page: dict[str, object]) -> None:
    assert page["mermaid"] == [f"{page['diagram']}\n"]
