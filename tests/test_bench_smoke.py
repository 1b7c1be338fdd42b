"""The benchmark suite still runs (tiny sizes; no timing is asserted, only the shape)."""

from __future__ import annotations

import math

import pytest
from bench import breaker_overhead, retry_path, step_overhead
from bench.__main__ import render
from bench.timing import Figure, machine


@pytest.mark.slow
def test_benchmarks_produce_figures_side_by_side() -> None:
    figures = [
        *step_overhead.measure(steps=60, repeat=1),
        *retry_path.measure(calls=5, repeat=1),
        *breaker_overhead.measure(calls=50, repeat=1),
    ]
    assert len(figures) == 7
    for figure in figures:
        assert figure.peer_name
        assert figure.unit == "µs"
        # Overheads are differences of timings: at these tiny sizes they are noise and
        # may even be negative, so only their presence is checked, never their values.
        assert math.isfinite(figure.ours)
        assert math.isfinite(figure.peer)
    text = render({"when": "now", "machine": machine()}, figures)
    assert text.startswith("# Benchmarks")
    assert text.count("\n| ") == len(figures) + 2  # header, separator, a row per figure


def test_figure_ratio_and_dict() -> None:
    figure = Figure("f", 2.0, 4.0, "peer", "µs")
    assert figure.ratio == 0.5
    assert figure.as_dict()["ratio"] == 0.5
    assert Figure("f", 1.0, 0.0, "peer", "µs").ratio == math.inf
