"""`DurableTestEnv`: a durable engine for tests — in memory, with a worker and virtual time.

The `rf_engine` fixture yields one. Workflows are registered on `env.engine` (or an
existing workflow object with `env.register(wf)`), started through `env.client`, and
their timers, timeouts and `start_delay` follow `env.clock` (a `TestClock`), so a
workflow that sleeps for a day finishes in milliseconds.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from resultflow.testing._clock import TestClock

if TYPE_CHECKING:
    from resultflow.durable import Client, DurableWorkflow, Engine, Worker

__all__ = ["DurableTestEnv", "durable_test_env"]


@dataclass(frozen=True, slots=True)
class DurableTestEnv:
    """An engine on `sqlite://:memory:` with an in-process `worker` and a virtual `clock`."""

    engine: Engine
    client: Client
    clock: TestClock
    worker: Worker

    def register(self, workflow: DurableWorkflow[Any, Any, *tuple[Any, ...]]) -> None:
        """Let this engine's worker run `workflow` (defined on another engine)."""
        self.engine.register(workflow)


@asynccontextmanager
async def durable_test_env(clock: TestClock | None = None) -> AsyncGenerator[DurableTestEnv]:
    """Open a `DurableTestEnv`; its worker stops and its store closes on exit."""
    from resultflow.durable import Engine

    test_clock = clock or TestClock()
    engine = Engine("sqlite://:memory:", clock=test_clock)
    async with engine, engine.worker(concurrency=64, poll_interval=0.05, grace_s=1.0) as worker:
        yield DurableTestEnv(engine, engine.client, test_clock, worker)
