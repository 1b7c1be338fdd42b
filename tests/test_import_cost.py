"""`import resultflow` stays cheap: no optional integration is imported before it is used.

Import *time* is measured by `python -m bench` (bench/import_time.py), not asserted here:
a timing on a shared machine is noise. What is asserted is what makes it cheap — which
modules a fresh interpreter has loaded after an import.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import resultflow.reliability

OPTIONAL_INTEGRATIONS = (
    "returns",
    "opentelemetry",
    "psycopg",
    "psycopg_pool",
    "redis",
    "starlette",
    "jinja2",
    "hypothesis",
)


def loaded_after(statement: str) -> set[str]:
    """Top-level packages and resultflow modules a fresh interpreter has after `statement`."""
    program = (
        f"import json, sys\n{statement}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules}"
        " | {m for m in sys.modules if m.startswith('resultflow')})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout))


def test_import_resultflow_loads_no_optional_integration() -> None:
    loaded = loaded_after("import resultflow")
    assert loaded.isdisjoint(OPTIONAL_INTEGRATIONS), loaded & set(OPTIONAL_INTEGRATIONS)
    # The core needs timeouts and guards only: retries (tenacity), breakers, limiters,
    # policies, sagas, persistence (sqlite3) come with the code that uses them.
    assert "tenacity" not in loaded
    assert "sqlite3" not in loaded
    assert {
        "resultflow.reliability._retry",
        "resultflow.reliability._breaker",
        "resultflow.reliability._limiters",
        "resultflow.reliability._policies",
        "resultflow.saga",
        "resultflow.persistence",
        "resultflow.hitl",
        "resultflow.otel",
        "resultflow.testing",
        "resultflow.devtools",
    }.isdisjoint(loaded)


@pytest.mark.parametrize(
    ("statement", "integration"),
    [
        ("import resultflow.testing", "returns"),
        ("import resultflow.devtools", "returns"),
        ("from resultflow.reliability import CircuitBreaker, RetryPolicy", "redis"),
        ("from resultflow.saga import run_saga", "returns"),
    ],
)
def test_optional_packages_load_only_what_they_use(statement: str, integration: str) -> None:
    loaded = loaded_after(statement)
    assert integration not in loaded
    assert "resultflow.persistence" not in loaded  # the codec is loaded on first use


def test_a_step_still_accepts_a_returns_result_once_returns_is_imported() -> None:
    program = """
import asyncio
from returns.result import Failure, Success
from resultflow import Err, Ok, run

async def body(step):
    a = await step(lambda: Success(1))
    return a + await step(lambda: Success(2))

async def failing(step):
    return await step(lambda: Failure("no"))

print(asyncio.run(run(body)), asyncio.run(run(failing)))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "Ok(3) Err('no')"


def test_every_reliability_name_resolves_from_its_module() -> None:
    for name in resultflow.reliability.__all__:
        value = getattr(resultflow.reliability, name)
        assert value is not None, name
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = resultflow.reliability.no_such_name  # type: ignore[attr-defined]


def test_the_import_time_bench_counts_each_module_once_after_asyncio() -> None:
    from bench.import_time import own_import_ms

    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       100 |        100 | _io\n"
        "import time:       300 |        900 |   asyncio.events\n"
        "import time:       200 |       1100 | asyncio\n"
        "import time:       500 |        500 |   resultflow.result\n"
        "import time:      1000 |       1500 | resultflow\n"
        "import time:       250 |        250 | resultflow.otel\n"
    )
    assert own_import_ms(stderr) == 1.75  # resultflow (with its child) + resultflow.otel
    assert own_import_ms(stderr, after="resultflow") == 0.25
