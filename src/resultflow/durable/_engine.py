"""`Engine`: where durable workflows are registered, and what owns the store connection.

An engine holds the registry of workflows (`@engine.workflow`), the store (SQLite by
default, PostgreSQL to scale out), the clock timers follow, and an `on_event` sink for
the events of every execution its workers run. Workers (`engine.worker()`) claim and
run executions; the client (`engine.client`) starts, lists, inspects, signals and
controls them from any process.
"""

from __future__ import annotations

from resultflow._runtime.context import EventSink
from resultflow.clock import Clock
from resultflow.durable._client import Client
from resultflow.durable._core import EngineCore
from resultflow.durable._worker import Worker

__all__ = ["Engine"]


class Engine(EngineCore):
    """Durable workflows on one store.

    Args:
        url: the store (`sqlite:///path.db`, `sqlite://:memory:`, `postgresql://...`);
            None takes `RESULTFLOW_DB`, else `sqlite:///resultflow.db`.
        clock: the clock timers, timeouts and `start_delay` follow (a `TestClock`
            makes them virtual); leases and polling stay in real time.
        on_event: receives the events of every execution this engine's workers run.

    Use `async with Engine(...) as engine:` or `await engine.close()`; the schema is
    created or upgraded on first use.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        super().__init__(url, clock=clock, on_event=on_event)
        self._client: Client | None = None

    # -- clients and workers -------------------------------------------------------------
    @property
    def client(self) -> Client:
        """The client of this engine (typed `start` for its registered workflows)."""
        if self._client is None:
            self._client = Client(engine=self)
        return self._client

    def worker(
        self,
        concurrency: int = 16,
        queues: list[str] | None = None,
        lease_s: float = 30.0,
        *,
        poll_interval: float = 0.5,
        grace_s: float = 10.0,
    ) -> Worker:
        """A worker that claims and runs this engine's executions.

        Args:
            concurrency: the most executions it runs at once.
            queues: the queues it serves (None: the default queue).
            lease_s: how long a claim lasts without a heartbeat (renewed every third).
            poll_interval: real seconds between looks at the store for work that another
                process made runnable (in-process starts and signals wake it at once).
            grace_s: on stop, how long running executions may take to finish before they
                are released for another worker.
        """
        return Worker(
            self,
            concurrency=concurrency,
            queues=queues,
            lease_s=lease_s,
            poll_interval=poll_interval,
            grace_s=grace_s,
        )
