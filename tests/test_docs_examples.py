"""Every ```python block in docs/ runs: a page's blocks in order, in one namespace.

Each page is one test (so a failure names the page) and runs as a script would: in a
fresh module that is `__main__` while it runs, with no top-level await (pages use
`asyncio.run`).
Code is compiled with the page as its file name and the page's own line numbers, so a
traceback points at the Markdown line that failed. Use ```text or ```pycon for
snippets that must not run.
"""

from __future__ import annotations

import re
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
RUNNABLE = {"python", "py"}


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, its first code line (1-based), its code."""

    language: str
    line: int
    code: str


def extract_blocks(markdown: str) -> list[Block]:
    """Find fenced code blocks (``` or ~~~, indented ones too, e.g. in admonitions)."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        language = opening.group("info").lower().lstrip(".").split("{")[0]
        body: list[str] = []
        index += 1
        start = index + 1
        while index < len(lines):
            stripped = lines[index].strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                break
            line = lines[index]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        blocks.append(Block(language, start, "\n".join(body) + "\n"))
        index += 1
    return blocks


def runnable_blocks(page: Path) -> list[Block]:
    """The blocks of a page that the test suite executes."""
    return [b for b in extract_blocks(page.read_text()) if b.language in RUNNABLE]


def pages_with_examples() -> list[Path]:
    return [page for page in sorted(DOCS.rglob("*.md")) if runnable_blocks(page)]


def run_page(page: Path, root: Path = REPO) -> None:
    """Execute a page's python blocks in order in one fresh `__main__` module."""
    name = page.relative_to(root).as_posix()
    module = types.ModuleType("__main__")
    # Like a script, the page *is* `__main__` while it runs (dataclasses, typing and
    # TaggedError's registry look classes' modules up in sys.modules).
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = module
    try:
        for block in runnable_blocks(page):
            # Pad with newlines so line numbers in tracebacks are the page's line numbers;
            # dont_inherit: this file's `from __future__` imports must not leak in.
            source = "\n" * (block.line - 1) + block.code
            try:
                exec(compile(source, name, "exec", dont_inherit=True), module.__dict__)
            except Exception as exc:
                details = "".join(traceback.format_exception(exc))
                pytest.fail(f"{name}: the block at line {block.line} failed:\n{details}")
    finally:
        sys.modules["__main__"] = saved


@pytest.mark.parametrize(
    "page", pages_with_examples(), ids=lambda p: p.relative_to(DOCS).as_posix()
)
def test_docs_page_examples_run(page: Path) -> None:
    run_page(page)


# -- the extractor's own tests ------------------------------------------------------------------
SAMPLE = """\
# Title

```python
x = 1
```

```text
not code
```

!!! note
    ```python
    y = x + 1
    ```

~~~py
z = y * 2
~~~

````python
print("```")
````
"""


def test_extract_blocks_finds_languages_lines_and_dedents() -> None:
    blocks = extract_blocks(SAMPLE)
    assert [(b.language, b.line, b.code) for b in blocks] == [
        ("python", 4, "x = 1\n"),
        ("text", 8, "not code\n"),
        ("python", 13, "y = x + 1\n"),
        ("py", 17, "z = y * 2\n"),
        ("python", 21, 'print("```")\n'),
    ]


def test_run_page_shares_a_namespace_and_reports_the_failing_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nvalue = 2\n```\n\ntext\n\n```python\nassert value == 3\n```\n")
    with pytest.raises(pytest.fail.Exception) as info:
        run_page(page, tmp_path)
    message = str(info.value)
    assert "page.md: the block at line 8 failed" in message
    assert 'File "page.md", line 8' in message
    assert "AssertionError" in message


def test_run_page_behaves_like_a_script(tmp_path: Path) -> None:
    # String annotations resolve in the page's own module, as in a real script.
    page = tmp_path / "script.md"
    page.write_text(
        "```python\n"
        "from __future__ import annotations\n"
        "import dataclasses, sys\n"
        "from typing import ClassVar\n"
        "@dataclasses.dataclass\n"
        "class A:\n"
        "    kind: ClassVar[str] = 'a'\n"
        "    x: int = 0\n"
        "assert [f.name for f in dataclasses.fields(A)] == ['x']\n"
        "assert __name__ == '__main__' and A.__module__ == '__main__'\n"
        "```\n"
    )
    main_before = sys.modules["__main__"]
    run_page(page, tmp_path)
    assert sys.modules["__main__"] is main_before
