"""The resultflow pytest plugin (registered through the `pytest11` entry point).

Fixtures: `rf_clock`, a fresh `TestClock` per test.
"""

from __future__ import annotations

import pytest

from resultflow.testing.clock import TestClock

__all__ = ["rf_clock"]


@pytest.fixture
def rf_clock() -> TestClock:
    """A fresh virtual clock: sleeps, retries, timeouts and breakers run instantly."""
    return TestClock()
