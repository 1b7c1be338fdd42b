"""The import layers in pyproject.toml hold (docs/architecture.md draws them).

`make test` runs `lint-imports` too; this test makes the same check part of every pytest
run, so a change that crosses a layer fails where it is tested. It also checks that the
contracts still bite: a contract that names modules which no longer exist, or that
passes on an import it exists to forbid, would be a check that checks nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(
    *config: Path, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert LINT_IMPORTS.exists(), (
        "import-linter is missing: reinstall the dev extra (`make .venv/.installed` or "
        "`pip install -e '.[dev]'`)"
    )
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", *map(str, config)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_contracts_are_kept() -> None:
    completed = _lint_imports()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "0 broken" in completed.stdout


def test_the_contracts_cover_every_top_level_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    named = {
        token.strip("()")
        for contract in config["contracts"]
        for field in ("layers", "source_modules", "packages_with_private_modules")
        for entry in contract.get(field, [])
        for token in entry.split()
    }
    package = ROOT / "src" / "resultflow"
    children = {p.stem for p in package.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in package.iterdir() if (p / "__init__.py").exists()
    }
    missing = sorted(c for c in children if f"resultflow.{c}" not in named)
    assert missing == [], f"add these modules to a layer in pyproject.toml: {missing}"


def test_a_core_module_importing_the_runtime_breaks_the_layers(tmp_path: Path) -> None:
    # The same contracts, applied to a copy of the package with one forbidden import added.
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("__pycache__"))
    errors = copy / "resultflow" / "errors.py"
    errors.write_text(errors.read_text() + "\nimport resultflow._runtime.runner\n")
    # PYTHONPATH puts the copy ahead of the editable install.
    completed = _lint_imports(
        ROOT / "pyproject.toml",
        cwd=tmp_path,
        env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "resultflow.errors is not allowed to import resultflow._runtime" in completed.stdout
