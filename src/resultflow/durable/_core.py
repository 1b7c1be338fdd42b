"""`EngineCore`: the registry, store, clock and wake-ups that workers and clients share.

`Engine` (in `_engine`) adds the client and worker factories on top; the worker, the
client and the replay driver depend only on this core, so nothing imports in a circle.
An engine holds the registry of workflows (`@engine.workflow`), the store (SQLite by
default, PostgreSQL to scale out; see `parse_store_url`), the clock timers follow, and
an `on_event` sink for the events of every execution its workers run. Workers
(`engine.worker()`) claim and run executions; the client (`engine.client`) starts,
lists, inspects, signals and controls them from any process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from typing_extensions import TypeVarTuple

from resultflow._runtime.context import EventSink
from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.durable._step import DurableStep
from resultflow.durable._store import DurableStore, open_store
from resultflow.durable._types import WorkflowInfo
from resultflow.durable._workflow import DurableWorkflow

if TYPE_CHECKING:
    from resultflow.saga import SagaStep

__all__ = ["EngineCore"]

T = TypeVar("T")
E = TypeVar("E")
Ts = TypeVarTuple("Ts")


class EngineCore:
    """Durable workflows on one store (see `Engine`, which users create).

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
        from resultflow.durable._store import parse_store_url

        self.url = url
        self.store_url = parse_store_url(url)  # a bad URL fails here, not at first use
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.on_event = on_event
        self._workflows: dict[tuple[str, str], DurableWorkflow[Any, Any, *tuple[Any, ...]]] = {}
        self._store: DurableStore | None = None
        self._opening: asyncio.Lock | None = None
        self._work = asyncio.Event()

    def set_url(self, url: str | None) -> None:
        """Point the engine at another store before it opens (`resultflow worker --db`)."""
        from resultflow.durable._store import parse_store_url

        if self._store is not None:
            raise RuntimeError("the engine is open: set its URL before first use")
        self.store_url = parse_store_url(url)
        self.url = url

    # -- registry -----------------------------------------------------------------------
    def workflow(
        self, name: str | None = None, version: str = "1"
    ) -> Callable[[Callable[[DurableStep[E], *Ts], Awaitable[T]]], DurableWorkflow[T, E, *Ts]]:
        """Register `async def body(step: DurableStep[E], *args) -> T` as a durable workflow.

        Args:
            name: the name executions are started and stored under (default: the
                function's name).
            version: its version; a worker claims only the versions it registered.
        """

        def register(
            body: Callable[[DurableStep[E], *Ts], Awaitable[T]],
        ) -> DurableWorkflow[T, E, *Ts]:
            workflow: DurableWorkflow[T, E, *Ts] = DurableWorkflow(
                body, name or body.__name__, version
            )
            self._register(workflow)
            return workflow

        return register

    def saga_workflow(
        self, name: str | None = None, version: str = "1"
    ) -> Callable[[Callable[[SagaStep[E], *Ts], Awaitable[T]]], DurableWorkflow[T, E, *Ts]]:
        """Register a durable saga: `saga.step(op, compensate=...)` undone on failure or cancel.

        Compensations run newest first, each checkpointed, so a crash mid-rollback does
        not repeat an undo; `terminate` runs none.
        """

        def register(
            body: Callable[[SagaStep[E], *Ts], Awaitable[T]],
        ) -> DurableWorkflow[T, E, *Ts]:
            workflow: DurableWorkflow[T, E, *Ts] = DurableWorkflow(
                body, name or body.__name__, version, saga=True
            )
            self._register(workflow)
            return workflow

        return register

    def register(self, workflow: DurableWorkflow[Any, Any, *tuple[Any, ...]]) -> None:
        """Let this engine's workers run `workflow` (for one defined on another engine).

        Raises `ValueError` when another body is registered under its name and version.
        """
        self._register(workflow)

    def _register(self, workflow: DurableWorkflow[Any, Any, *tuple[Any, ...]]) -> None:
        key = (workflow.name, workflow.version)
        if key in self._workflows and self._workflows[key].body is not workflow.body:
            raise ValueError(
                f"workflow {workflow.name!r} version {workflow.version!r} is already registered"
            )
        self._workflows[key] = workflow

    @property
    def registered(self) -> list[WorkflowInfo]:
        """The workflows registered in this process, in registration order."""
        return [WorkflowInfo(name, version) for name, version in self._workflows]

    def lookup(self, name: str, version: str) -> DurableWorkflow[Any, Any, *tuple[Any, ...]] | None:
        """The workflow registered here under `name` and `version`, if any."""
        return self._workflows.get((name, version))

    # -- store ------------------------------------------------------------------------
    @property
    def store(self) -> DurableStore:
        """The open store (`await engine.open()` first; clients and workers do it)."""
        if self._store is None:
            raise RuntimeError(
                "the engine is not open: use `async with Engine(...)` or `await engine.open()`"
            )
        return self._store

    async def open(self) -> DurableStore:
        """Open the store (creating or upgrading its schema) and record the workflows."""
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._store is None:
                store = await open_store(self.url)
                if self._workflows:
                    await store.register_workflows(self.registered, self.clock.now())
                self._store = store
        return self._store

    async def close(self) -> None:
        """Close the store connections (workers should be stopped first)."""
        if self._store is not None:
            store, self._store = self._store, None
            await store.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- work signalling (in process) ----------------------------------------------------
    def notify_work(self) -> None:
        """Wake this process's idle workers: an execution became runnable."""
        self._work.set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
