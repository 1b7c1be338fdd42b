"""Type tests: run mypy and pyright over tests/typing and compare with expectations.

- `tests/typing/positive/*.py` must type-check with **zero** diagnostics under
  `mypy --strict` and pyright strict (the repo's configuration for both).
- `tests/typing/negative/*.py` holds usage that must be rejected. Every line that must
  be rejected ends with a marker comment::

      r.map("x")  # expect-error
      parse(1)  # expect-error: str
      bad()  # expect-error: arg-type || reportArgumentType

  Each marked line must get at least one error from **both** checkers, and no unmarked
  line may get any. After `expect-error:` comes a case-insensitive substring that at
  least one of the line's errors must contain, for each checker; `||` separates
  alternatives (mypy's text includes its `[code]`, pyright's its `(rule)`). Put the
  marker on the line where the checkers report the error (the first line of the
  offending expression: keep negative cases on one line).

Each checker runs once per directory (both checkers in parallel), so adding a file costs
almost nothing. New files are discovered automatically; a negative file with no marker
is reported as a broken test. File names must be unique within a directory and must
not shadow an importable module (prefer names like `thing_usage.py`, `thing_rejected.py`).
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tokenize
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TYPING_DIR = Path(__file__).resolve().parent
REPO = TYPING_DIR.parents[1]
POSITIVE = TYPING_DIR / "positive"
NEGATIVE = TYPING_DIR / "negative"
CHECKERS = ("mypy", "pyright")
MARKER = re.compile(r"#\s*expect-error\b(?:\s*:\s*(?P<expected>.*\S))?\s*$")
MYPY_LINE = re.compile(
    r"^(?P<path>.+?):(?P<line>\d+):(?:\d+:)? (?P<severity>error|note|warning): (?P<message>.*)$"
)


# -- data -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Diagnostic:
    """One error reported by a checker, at a 1-based line of a file."""

    checker: str
    path: Path
    line: int
    message: str


@dataclass(frozen=True)
class Expectation:
    """A marked line: the checkers must report an error here (mentioning one of `any_of`)."""

    line: int
    any_of: tuple[str, ...] = ()

    def accepts(self, message: str) -> bool:
        """True if the message satisfies the marker's substring (or there is none)."""
        folded = message.casefold()
        return not self.any_of or any(part.casefold() in folded for part in self.any_of)


@dataclass
class CheckerRun:
    """What the checkers reported for one directory."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # a checker crashed or misbehaved
    seconds: dict[str, float] = field(default_factory=dict)

    def for_file(self, path: Path) -> list[Diagnostic]:
        """The diagnostics of one file."""
        resolved = path.resolve()
        return [d for d in self.diagnostics if d.path == resolved]


# -- parsing ------------------------------------------------------------------------------------
def parse_expectations(source: str) -> dict[int, Expectation]:
    """Find `# expect-error[: substring]` marker comments (real comments, not strings)."""
    expectations: dict[int, Expectation] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        match = MARKER.search(token.string)
        if match is None:
            continue
        expected = match.group("expected") or ""
        parts = tuple(p.strip() for p in expected.split("||") if p.strip())
        line = token.start[0]
        expectations[line] = Expectation(line, parts)
    return expectations


def parse_mypy_output(text: str) -> list[Diagnostic]:
    """Parse `mypy --show-absolute-path --no-pretty` output; notes are dropped."""
    diagnostics: list[Diagnostic] = []
    for raw in text.splitlines():
        match = MYPY_LINE.match(raw)
        if match is None or match.group("severity") == "note":
            continue
        diagnostics.append(
            Diagnostic(
                "mypy",
                Path(match.group("path")).resolve(),
                int(match.group("line")),
                match.group("message"),
            )
        )
    return diagnostics


def parse_pyright_json(text: str) -> tuple[list[Diagnostic], int]:
    """Parse `pyright --outputjson`: (errors and warnings, number of files analyzed)."""
    report = json.loads(text)
    diagnostics: list[Diagnostic] = []
    for item in report.get("generalDiagnostics", []):
        if item.get("severity") not in ("error", "warning"):
            continue
        rule = item.get("rule")
        message = item["message"] + (f" ({rule})" if rule else "")
        diagnostics.append(
            Diagnostic(
                "pyright",
                Path(item["file"]).resolve(),
                int(item["range"]["start"]["line"]) + 1,
                message,
            )
        )
    return diagnostics, int(report.get("summary", {}).get("filesAnalyzed", 0))


# -- matching ------------------------------------------------------------------------------------
def find_problems(
    name: str,
    source: str,
    diagnostics: Iterable[Diagnostic],
    *,
    negative: bool,
    checkers: Sequence[str] = CHECKERS,
) -> list[str]:
    """Compare one file's diagnostics with its markers; return readable problems.

    For a positive file every diagnostic is a problem. For a negative file each marked
    line needs a matching error from every checker, unmarked lines need none, and a
    file without markers is itself a problem (it could never fail).
    """
    lines = source.splitlines()
    expectations = parse_expectations(source) if negative else {}
    problems: list[str] = []
    if negative and not expectations:
        problems.append(f"{name}: no `# expect-error` marker, so this test can never fail")
    by_line: dict[tuple[str, int], list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        by_line.setdefault((diagnostic.checker, diagnostic.line), []).append(diagnostic)

    def text_of(line: int) -> str:
        return lines[line - 1].strip() if 0 < line <= len(lines) else "?"

    for checker in checkers:
        for line, expectation in sorted(expectations.items()):
            found = by_line.get((checker, line), [])
            if not found:
                problems.append(f"{name}:{line}: {checker} accepted `{text_of(line)}`")
            elif not any(expectation.accepts(d.message) for d in found):
                wanted = " || ".join(expectation.any_of)
                got = "; ".join(d.message for d in found)
                problems.append(f"{name}:{line}: no {checker} error mentions {wanted!r}: {got}")
    for (checker, line), found in sorted(by_line.items()):
        if line not in expectations:
            for diagnostic in found:
                problems.append(
                    f"{name}:{line}: unexpected {checker} error: {diagnostic.message}"
                    f"  (line: `{text_of(line)}`)"
                )
    return problems


# -- running the checkers ------------------------------------------------------------------------
def python_files(directory: Path) -> list[Path]:
    """The files a directory contributes to the type tests."""
    return sorted(directory.glob("*.py"))


def pyright_config(directory: Path, config_dir: Path) -> dict[str, object]:
    """The repo's pyright settings, checking `directory` (and only it) in strict mode.

    Pyright ignores absolute paths in `include`/`strict`, so paths are made relative to
    the directory holding the temporary config file.
    """
    with (REPO / "pyproject.toml").open("rb") as file:
        settings = dict(tomllib.load(file)["tool"]["pyright"])

    def relative(path: Path) -> str:
        return os.path.relpath(path, config_dir)

    target = relative(directory)
    settings["include"] = [target]
    settings["strict"] = [target]
    settings.pop("exclude", None)
    for key in ("stubPath", "typeshedPath"):
        if isinstance(settings.get(key), str):
            settings[key] = relative(REPO / str(settings[key]))
    if isinstance(settings.get("extraPaths"), list):
        settings["extraPaths"] = [relative(REPO / str(p)) for p in settings["extraPaths"]]
    return settings


def run_checkers(directory: Path) -> CheckerRun:
    """Run mypy and pyright (in parallel) over every file of `directory`."""
    run = CheckerRun()
    files = python_files(directory)
    if not files:
        run.failures.append(f"no .py files in {directory}")
        return run
    with tempfile.TemporaryDirectory(prefix="rf-typing-") as tmp:
        config_path = Path(tmp) / "pyrightconfig.json"
        config_path.write_text(json.dumps(pyright_config(directory, Path(tmp))))
        commands = {
            "mypy": [
                sys.executable,
                "-m",
                "mypy",
                "--config-file",
                str(REPO / "pyproject.toml"),
                "--strict",
                "--show-absolute-path",
                "--no-pretty",
                "--no-error-summary",
                "--show-error-codes",
                "--hide-error-context",
                "--show-column-numbers",
                str(directory),
            ],
            "pyright": [
                sys.executable,
                "-m",
                "pyright",
                "--outputjson",
                "--project",
                str(config_path),
                "--pythonpath",
                sys.executable,
            ],
        }
        env = {**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1", "NO_COLOR": "1"}
        started = time.perf_counter()
        processes = {
            name: subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, command in commands.items()
        }
        outputs: dict[str, tuple[int, str, str]] = {}
        for name, process in processes.items():
            stdout, stderr = process.communicate(timeout=600)
            outputs[name] = (process.returncode, stdout, stderr)
            run.seconds[name] = time.perf_counter() - started

    code, stdout, stderr = outputs["mypy"]
    if code not in (0, 1):
        run.failures.append(f"mypy exited with {code}:\n{stdout}\n{stderr}")
    run.diagnostics += parse_mypy_output(stdout)
    if code == 1 and not any(d.checker == "mypy" for d in run.diagnostics):
        run.failures.append(f"mypy failed but reported nothing parseable:\n{stdout}\n{stderr}")

    code, stdout, stderr = outputs["pyright"]
    if code not in (0, 1):
        run.failures.append(f"pyright exited with {code}:\n{stdout}\n{stderr}")
    else:
        diagnostics, analyzed = parse_pyright_json(stdout)
        run.diagnostics += diagnostics
        if analyzed < len(files):
            run.failures.append(f"pyright analyzed {analyzed} of {len(files)} files")
    return run


@functools.cache
def checker_run(directory: Path) -> CheckerRun:
    """Run the checkers over a directory once per test session."""
    return run_checkers(directory)


def report(problems: Sequence[str], run: CheckerRun) -> str:
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in run.seconds.items())
    return "\n".join([*problems, f"(checkers took: {timing})"])


# -- the tests ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_positive_files_type_check_cleanly() -> None:
    run = checker_run(POSITIVE)
    assert not run.failures, "\n".join(run.failures)
    problems: list[str] = []
    for path in python_files(POSITIVE):
        problems += find_problems(path.name, path.read_text(), run.for_file(path), negative=False)
    assert not problems, report(problems, run)


@pytest.mark.slow
@pytest.mark.parametrize("path", python_files(NEGATIVE), ids=lambda p: p.name)
def test_negative_file_is_rejected_exactly_on_marked_lines(path: Path) -> None:
    run = checker_run(NEGATIVE)
    assert not run.failures, "\n".join(run.failures)
    problems = find_problems(path.name, path.read_text(), run.for_file(path), negative=True)
    assert not problems, report(problems, run)


# -- the machinery's own tests (fast, no checker involved) -----------------------------------
FAKE = """\
def f(x: int) -> None: ...
f("a")  # expect-error
f(b"b")  # expect-error: bytes || reportArgumentType
s = "# expect-error inside a string is not a marker"
f(1)
"""


def fake(checker: str, line: int, message: str = "Argument 1 has incompatible type") -> Diagnostic:
    return Diagnostic(checker, Path("/fake.py"), line, message)


def test_markers_are_parsed_from_comments_only() -> None:
    expectations = parse_expectations(FAKE)
    assert sorted(expectations) == [2, 3]
    assert expectations[2].any_of == ()
    assert expectations[3].any_of == ("bytes", "reportArgumentType")


def test_a_negative_file_fails_when_the_checkers_report_nothing() -> None:
    problems = find_problems("fake.py", FAKE, [], negative=True)
    assert problems == [
        'fake.py:2: mypy accepted `f("a")  # expect-error`',
        'fake.py:3: mypy accepted `f(b"b")  # expect-error: bytes || reportArgumentType`',
        'fake.py:2: pyright accepted `f("a")  # expect-error`',
        'fake.py:3: pyright accepted `f(b"b")  # expect-error: bytes || reportArgumentType`',
    ]


def test_a_negative_file_fails_when_only_one_checker_reports() -> None:
    diagnostics = [fake("mypy", 2), fake("mypy", 3, 'type "bytes"')]
    problems = find_problems("fake.py", FAKE, diagnostics, negative=True)
    assert problems == [
        'fake.py:2: pyright accepted `f("a")  # expect-error`',
        'fake.py:3: pyright accepted `f(b"b")  # expect-error: bytes || reportArgumentType`',
    ]


def test_a_negative_file_fails_on_an_unmarked_error() -> None:
    diagnostics = [
        *(fake(c, 2) for c in CHECKERS),
        fake("mypy", 3, 'incompatible type "bytes"'),
        fake("pyright", 3, "not assignable (reportArgumentType)"),
        fake("pyright", 5, "something else"),
    ]
    problems = find_problems("fake.py", FAKE, diagnostics, negative=True)
    assert problems == ["fake.py:5: unexpected pyright error: something else  (line: `f(1)`)"]


def test_a_negative_file_fails_when_the_substring_is_missing() -> None:
    diagnostics = [*(fake(c, 2) for c in CHECKERS), fake("mypy", 3), fake("pyright", 3)]
    problems = find_problems("fake.py", FAKE, diagnostics, negative=True)
    assert len(problems) == 2
    assert problems[0].startswith("fake.py:3: no mypy error mentions 'bytes || reportArgumentType'")


def test_a_negative_file_passes_when_everything_matches() -> None:
    diagnostics = [
        *(fake(c, 2) for c in CHECKERS),
        fake("mypy", 3, 'incompatible type "bytes"  [arg-type]'),
        fake("pyright", 3, "not assignable (reportArgumentType)"),
    ]
    assert find_problems("fake.py", FAKE, diagnostics, negative=True) == []


def test_a_negative_file_without_markers_is_broken() -> None:
    problems = find_problems("empty.py", "x = 1\n", [], negative=True)
    assert problems == ["empty.py: no `# expect-error` marker, so this test can never fail"]


def test_a_positive_file_fails_on_any_diagnostic() -> None:
    assert find_problems("ok.py", FAKE, [], negative=False) == []
    problems = find_problems("ok.py", FAKE, [fake("mypy", 2)], negative=False)
    assert problems == [
        "ok.py:2: unexpected mypy error: Argument 1 has incompatible type"
        '  (line: `f("a")  # expect-error`)'
    ]


def test_parse_mypy_output() -> None:
    text = (
        '/abs/a.py:3:5: error: Argument 1 has incompatible type "str"  [arg-type]\n'
        "/abs/a.py:3:5: note: a note is not an error\n"
        "/abs/b.py:10: error: Missing return statement  [return]\n"
        "garbage line\n"
    )
    assert parse_mypy_output(text) == [
        Diagnostic(
            "mypy", Path("/abs/a.py"), 3, 'Argument 1 has incompatible type "str"  [arg-type]'
        ),
        Diagnostic("mypy", Path("/abs/b.py"), 10, "Missing return statement  [return]"),
    ]


def test_parse_pyright_json() -> None:
    text = json.dumps(
        {
            "generalDiagnostics": [
                {
                    "file": "/abs/a.py",
                    "severity": "error",
                    "message": "Bad\n  detail",
                    "range": {"start": {"line": 2, "character": 0}},
                    "rule": "reportArgumentType",
                },
                {
                    "file": "/abs/a.py",
                    "severity": "information",
                    "message": "Type of x is int",
                    "range": {"start": {"line": 4, "character": 0}},
                },
            ],
            "summary": {"filesAnalyzed": 1},
        }
    )
    diagnostics, analyzed = parse_pyright_json(text)
    assert analyzed == 1
    assert diagnostics == [
        Diagnostic("pyright", Path("/abs/a.py"), 3, "Bad\n  detail (reportArgumentType)")
    ]


def test_pyright_config_is_strict_on_the_target_with_relative_paths(tmp_path: Path) -> None:
    config = pyright_config(NEGATIVE, tmp_path)
    target = os.path.relpath(NEGATIVE, tmp_path)
    assert config["include"] == [target]
    assert config["strict"] == [target]
    assert (tmp_path / target).resolve() == NEGATIVE


def test_every_type_test_directory_has_files() -> None:
    assert python_files(POSITIVE)
    assert python_files(NEGATIVE)
