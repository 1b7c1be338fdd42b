"""Packaging: the core imports with only the required dependencies; extras fail clearly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import resultflow

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = ["opentelemetry", "psycopg", "psycopg_pool", "redis", "starlette", "jinja2"]


def _run_without_extras(code: str) -> subprocess.CompletedProcess[str]:
    blocker = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in OPTIONAL)
    return subprocess.run(
        [sys.executable, "-c", blocker + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_core_modules_import_without_optional_dependencies() -> None:
    completed = _run_without_extras(
        """
        import importlib
        for name in [
            "resultflow", "resultflow.reliability", "resultflow.saga", "resultflow.hitl",
            "resultflow.persistence", "resultflow.devtools", "resultflow.testing", "resultflow.cli",
            "resultflow.reliability._breaker_redis", "resultflow.reliability._limiters.redis",
        ]:
            importlib.import_module(name)
        print("imported")
        """
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "imported"


def test_optional_integrations_name_their_extra() -> None:
    completed = _run_without_extras(
        """
        import importlib
        for name in ["resultflow.otel", "resultflow.persistence._kv_postgres",
                     "resultflow.persistence._kv_redis"]:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                print(name, "->", exc)
        from resultflow.reliability._breaker_redis import RedisBreakerStore
        try:
            RedisBreakerStore("redis://127.0.0.1:6379/0")
        except ImportError as exc:
            print("RedisBreakerStore ->", exc)
        """
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 4
    assert "resultflow[otel]" in lines[0]
    assert "resultflow[postgres]" in lines[1]
    assert "resultflow[redis]" in lines[2]
    assert "resultflow[redis]" in lines[3]


def test_the_version_has_one_source_and_the_package_ships_types() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "src/resultflow/_version.py"
    assert resultflow.__version__ in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert (ROOT / "src" / "resultflow" / "py.typed").exists()
    assert set(project["project"]["optional-dependencies"]) >= {
        "otel",
        "postgres",
        "redis",
        "web",
        "all",
        "dev",
    }
    assert project["project"]["scripts"]["resultflow"] == "resultflow.cli:main"
