"""Every ```python block in docs/ runs, and type-checks, as a page would be copied.

A page's blocks run in order, in one namespace.

Each page is one test (so a failure names the page) and runs as a script would: in a
fresh module that is `__main__` while it runs, with no top-level await (pages use
`asyncio.run`).
Code is compiled with the page as its file name and the page's own line numbers, so a
traceback points at the Markdown line that failed. Use ```text or ```pycon for
snippets that must not run.

The same blocks are also checked by mypy --strict and pyright strict (as the project's
own code is): each page becomes one module of a temporary package, with its blocks at
the page's own line numbers, and both checkers run once over all of them. A page whose
examples a user copies into a type-checked project must not fail there.
"""

from __future__ import annotations

import json
import re
import subprocess
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


# -- type-checking the examples ------------------------------------------------------------
# Pages whose examples do not type-check yet, with what is wrong: each is an expected
# failure until fixed (strict: fixing one fails the test until its entry is removed).
NOT_YET_TYPED: dict[str, str] = {
    "breaker.md": "CircuitBreaker(**settings) from a mixed dict; `outcome` may be unbound",
    "devtools.md": "reads log-record attributes (resultflow_event, ...) LogRecord does not declare",
    "limiters.md": "an untyped list and function, an Optional used as a float, tuple == list",
    "persistence-codec.md": "attributes read on `object`, Result.error and Optionals not narrowed",
    "results.md": "assigns Err.error, tests a Result as a bool, redefines main, reuses a name",
    "retry.md": "RetryPolicy(**settings), a name reused with another type, an untyped lambda",
    "security.md": "reads `.limit` on a StateFormatError without narrowing to its subclass",
}

MYPY_LINE = re.compile(r"^(?P<module>docs_\w+)\.py:(?P<line>\d+): error: (?P<message>.*)$")
PYRIGHT_LINE = re.compile(
    r"^\s*\S*?(?P<module>docs_\w+)\.py:(?P<line>\d+):\d+ - error: (?P<message>.*)$"
)


def module_name(page: Path, root: Path = DOCS) -> str:
    """The module a page's examples are checked as (`docs/hitl.md` -> `docs_hitl`)."""
    return "docs_" + re.sub(r"\W", "_", page.relative_to(root).with_suffix("").as_posix())


def typed_module(page: Path) -> str:
    """A page's blocks as one module, each code line at its line number in the page.

    A block's `from __future__ import annotations` moves to line 1 (a page's first
    line is its title, never code), where Python requires it.
    """
    text = page.read_text()
    lines = [""] * (len(text.splitlines()) + 1)
    future = False
    for block in runnable_blocks(page):
        for offset, line in enumerate(block.code.splitlines()):
            if line.strip() == "from __future__ import annotations":
                future, line = True, ""
            lines[block.line - 1 + offset] = line
    if future:
        lines[0] = "from __future__ import annotations"
    return "\n".join(lines) + "\n"


def check_types(root: Path, pages: list[Path], cache: Path) -> dict[str, list[str]]:
    """Run mypy and pyright (strict, at once) over the pages; errors by page, as page:line."""
    pages_by_module = {module_name(page): page.relative_to(DOCS).as_posix() for page in pages}
    for page in pages:
        (root / f"{module_name(page)}.py").write_text(typed_module(page))
    (root / "pyrightconfig.json").write_text(
        json.dumps({"include": ["."], "strict": ["."], "pythonVersion": "3.11"})
    )
    binaries = Path(sys.executable).parent
    mypy = subprocess.Popen(
        [
            str(binaries / "mypy"),
            "--strict",
            "--warn-unreachable",
            "--enable-error-code=ignore-without-code",
            "--enable-error-code=truthy-bool",
            "--python-version=3.11",
            f"--cache-dir={cache}",
            "--no-error-summary",
            *sorted(f"{module}.py" for module in pages_by_module),
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pyright = subprocess.run(
        [str(binaries / "pyright"), "--pythonpath", sys.executable, "-p", "pyrightconfig.json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    mypy_output, _ = mypy.communicate(timeout=600)
    assert mypy.returncode in (0, 1), f"mypy did not run:\n{mypy_output}"
    assert pyright.returncode in (0, 1), f"pyright did not run:\n{pyright.stdout}{pyright.stderr}"
    errors: dict[str, list[str]] = {page: [] for page in pages_by_module.values()}
    for checker, output, pattern in (
        ("mypy", mypy_output, MYPY_LINE),
        ("pyright", pyright.stdout, PYRIGHT_LINE),
    ):
        for line in output.splitlines():
            found = pattern.match(line)
            if found is not None:
                page = pages_by_module[found.group("module")]
                where = f"docs/{page}:{found.group('line')}"
                errors[page].append(f"{where}: {checker}: {found.group('message')}")
    return errors


@pytest.fixture(scope="module")
def docs_type_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Both checkers' errors in the docs' examples, by page (one run of each for all)."""
    return check_types(
        tmp_path_factory.mktemp("docs_types"),
        pages_with_examples(),
        REPO / ".mypy_cache" / "docs-examples",
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "page",
    [
        pytest.param(
            page.relative_to(DOCS).as_posix(),
            marks=[pytest.mark.xfail(reason=reason, strict=True)]
            if (reason := NOT_YET_TYPED.get(page.relative_to(DOCS).as_posix()))
            else [],
        )
        for page in pages_with_examples()
    ],
)
def test_docs_page_examples_type_check(page: str, docs_type_errors: dict[str, list[str]]) -> None:
    errors = docs_type_errors[page]
    assert errors == [], f"{len(errors)} type errors:\n" + "\n".join(errors)


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
