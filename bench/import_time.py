"""Import time of `resultflow` and of each optional package, in fresh interpreters.

Each figure is what `python -X importtime -c "import asyncio; import <module>"` reports
for everything imported after asyncio (the sum of the cumulative times of the top-level
imports that follow it), so asyncio, which every user of the library pays anyway, is not
counted. Each module is imported in a new subprocess, several times, interleaved with
the others, and the median is kept.

Bytecode is cached the way an installed package has it: the subprocesses run without
PYTHONDONTWRITEBYTECODE and with their own PYTHONPYCACHEPREFIX, and a warm-up import
of every module comes first, so no figure includes compiling source.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from bench.timing import Figure

__all__ = ["OPTIONAL", "import_ms", "measure", "own_import_ms"]

OPTIONAL: tuple[str, ...] = (
    "resultflow.reliability",
    "resultflow.saga",
    "resultflow.testing",
    "resultflow.devtools",
    "resultflow.persistence",
    "resultflow.hitl",
    "resultflow.otel",
)
"""The packages a program imports on top of `resultflow` when it uses them."""

PEER = "returns.result"
"""dry-python `returns`' Result, the peer for the core import."""


def own_import_ms(importtime_stderr: str, after: str = "asyncio") -> float:
    """Milliseconds imported after the top-level import `after`, from `-X importtime`.

    A top-level line is one whose module name is not indented; its cumulative time
    covers everything it pulled in, so summing the top-level lines after `after` counts
    each module once.
    """
    total_us = 0
    seen_after = False
    for line in importtime_stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _self_us, cumulative_us, raw_name = line.split(":", 1)[1].split("|")
        if raw_name.startswith("  ", 1):  # a nested import: counted by its parent
            continue
        name = raw_name.strip()
        if seen_after:
            total_us += int(cumulative_us)
        elif name == after:
            seen_after = True
    return total_us / 1000


def _environment(cache_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


# The CPU time of the same import is printed too: on a shared machine, wall time grows
# with the load while CPU time mostly does not, so it tells noise from regressions.
_PROGRAM = """\
import asyncio, time
started = time.process_time()
import {module}
print((time.process_time() - started) * 1000)
"""


def import_ms(module: str, env: dict[str, str]) -> tuple[float, float]:
    """One fresh interpreter's (wall, CPU) import time of `module` beyond asyncio, in ms."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _PROGRAM.format(module=module)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return own_import_ms(done.stderr), float(done.stdout)


def _medians(modules: Sequence[str], runs: int) -> dict[str, tuple[float, float]]:
    samples: dict[str, list[tuple[float, float]]] = {module: [] for module in modules}
    with tempfile.TemporaryDirectory(prefix="rf-import-pyc-") as cache_dir:
        env = _environment(cache_dir)
        for module in modules:  # warm-up: writes the bytecode cache
            import_ms(module, env)
        for _ in range(runs):
            for module in modules:
                samples[module].append(import_ms(module, env))
    return {
        module: (
            statistics.median(wall for wall, _ in values),
            statistics.median(cpu for _, cpu in values),
        )
        for module, values in samples.items()
    }


def measure(runs: int = 7, optional: Sequence[str] = OPTIONAL) -> list[Figure]:
    """Median import times: resultflow vs `returns`, then each optional package."""
    medians = _medians(["resultflow", PEER, *optional], runs)
    core, core_cpu = medians["resultflow"]
    figures = [
        Figure(
            "import resultflow (ms beyond asyncio)",
            core,
            medians[PEER][0],
            f"import {PEER}",
            "ms",
            note=f"CPU {core_cpu:.1f} ms; median of {runs} fresh interpreters; target < 40 ms",
        )
    ]
    for module in optional:
        wall, cpu = medians[module]
        figures.append(
            Figure(
                f"import {module} (ms beyond asyncio)",
                wall,
                core,
                "import resultflow",
                "ms",
                note=f"CPU {cpu:.1f} ms; includes resultflow itself",
            )
        )
    return figures
