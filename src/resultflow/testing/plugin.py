"""The resultflow pytest plugin (registered through the `pytest11` entry point).

Installing resultflow makes these fixtures available in every test file:

- `rf_clock`: a fresh `TestClock` per test (virtual time that jumps when everything
  is waiting on it);
- `rf_harness`: a fresh `WorkflowHarness` per test, running on that same `rf_clock`,
  so a test can script steps and move time in one place;
- `rf_engine`: a durable engine on `sqlite://:memory:` with an in-process worker and
  `rf_clock`, so durable timers, timeouts and `start_delay` fire without waiting
  (`.engine`, `.client`, `.clock`, `.register(workflow)`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from resultflow.testing._clock import TestClock
from resultflow.testing._durable_env import DurableTestEnv, durable_test_env
from resultflow.testing._harness import WorkflowHarness

__all__ = ["rf_clock", "rf_engine", "rf_harness"]


@pytest.fixture
def rf_clock() -> TestClock:
    """A fresh virtual clock: sleeps, retries, timeouts and breakers run instantly."""
    return TestClock()


@pytest.fixture
def rf_harness(rf_clock: TestClock) -> WorkflowHarness:
    """A fresh workflow harness on the test's `rf_clock`."""
    return WorkflowHarness(clock=rf_clock)


@pytest_asyncio.fixture
async def rf_engine(rf_clock: TestClock) -> AsyncIterator[DurableTestEnv]:
    """A durable engine in memory with a running worker, on the test's `rf_clock`."""
    async with durable_test_env(rf_clock) as env:
        yield env
