"""`Worker`: claims runnable executions of its engine and replays them, under leases.

A worker loops: claim as many runnable executions as it has free slots (leases held
under its owner id), run each in its own task through the replay driver, and when
there is nothing to claim wait until something may be runnable — an in-process
notification, the next timer of the engine's clock, or the poll interval for work
that other processes create. A heartbeat task renews its leases every third of
`lease_s` and picks up pause and cancel requests (a cancel also cancels the running
step's task). A worker that dies loses its leases; another takes the executions over
and replays them from their checkpoints.

Stopping (`stop()`, SIGTERM under `run()`, leaving `async with`): no new claims;
running executions get `grace_s` to finish, then they are cancelled and released for
another worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Self

from resultflow.durable._replay import ExecutionReplay
from resultflow.durable._store import ExecutionRecord
from resultflow.durable._types import Status, WorkflowInfo

if TYPE_CHECKING:
    from resultflow.durable._core import EngineCore

__all__ = ["Worker"]

log = logging.getLogger("resultflow.durable")


class Worker:
    """Runs an engine's executions; see `Engine.worker` for the arguments."""

    def __init__(
        self,
        engine: EngineCore,
        *,
        concurrency: int = 16,
        queues: list[str] | None = None,
        lease_s: float = 30.0,
        poll_interval: float = 0.5,
        grace_s: float = 10.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if lease_s <= 0 or poll_interval <= 0 or grace_s < 0:
            raise ValueError("lease_s and poll_interval must be > 0 and grace_s >= 0")
        self.engine = engine
        self.concurrency = concurrency
        self.queues = list(queues) if queues else ["default"]
        self.lease_s = lease_s
        self.poll_interval = poll_interval
        self.grace_s = grace_s
        self.owner = default_owner()
        self._running: dict[str, tuple[asyncio.Task[None], ExecutionReplay]] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- running --------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until `stop()` or SIGTERM, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGTERM, self.stop)
            handles_sigterm = True
        except (NotImplementedError, RuntimeError, ValueError):
            handles_sigterm = False  # not the main thread, or no signals here
        try:
            await self._serve()
        finally:
            if handles_sigterm:
                loop.remove_signal_handler(signal.SIGTERM)

    def stop(self) -> None:
        """Stop claiming; running executions finish or are released within `grace_s`."""
        self._stopping.set()
        self.engine.notify_work()

    async def __aenter__(self) -> Self:
        await self.engine.open()
        self._task = asyncio.create_task(self._serve())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._task is not None:
            await self._task

    @property
    def running(self) -> list[str]:
        """The ids of the executions this worker runs right now."""
        return list(self._running)

    async def _serve(self) -> None:
        store = await self.engine.open()
        known: list[WorkflowInfo] = []
        heartbeat = asyncio.create_task(self._heartbeat())
        listener = asyncio.create_task(self._listen())
        try:
            while not self._stopping.is_set():
                workflows = self.engine.registered
                if workflows != known:  # registered since the last look (tests do this)
                    await store.register_workflows(workflows, self.engine.clock.now())
                    known = workflows
                free = self.concurrency - len(self._running)
                claimed: list[ExecutionRecord] = []
                if free > 0:
                    claimed = await store.claim(
                        self.owner,
                        workflows,
                        self.queues,
                        limit=free,
                        lease_s=self.lease_s,
                        now=self.engine.clock.now(),
                    )
                    for record in claimed:
                        self._start(record)
                if len(claimed) < free or free == 0:
                    await self._idle(free > 0)
        finally:
            heartbeat.cancel()
            listener.cancel()
            await asyncio.gather(heartbeat, listener, return_exceptions=True)
            await self._drain()

    def _start(self, record: ExecutionRecord) -> None:
        workflow = self.engine.lookup(record.workflow, record.version)
        if workflow is None:  # pragma: no cover - claims filter by registered workflows
            return
        replay = ExecutionReplay(self.engine, record, self.owner, workflow)
        task = asyncio.create_task(
            replay.execute(), name=f"resultflow execution {record.execution_id}"
        )
        self._running[record.execution_id] = (task, replay)

        def finished(done: asyncio.Task[None]) -> None:
            self._running.pop(record.execution_id, None)
            if not done.cancelled() and done.exception() is not None:
                log.error(
                    "execution %s: the worker failed while running it",
                    record.execution_id,
                    exc_info=done.exception(),
                )
            self.engine.notify_work()

        task.add_done_callback(finished)

    async def _idle(self, can_claim: bool) -> None:
        """Wait until work may be there: a notification, the next timer, or a poll."""
        engine = self.engine
        waits: list[asyncio.Task[object]] = [asyncio.create_task(engine._work.wait())]  # pyright: ignore[reportPrivateUsage]
        if can_claim:
            next_wake = await engine.store.next_wake_at(engine.registered, self.queues)
            if next_wake is not None:
                delay = next_wake - engine.clock.now()
                if delay <= 0:
                    delay = 0.01  # runnable but not ours to claim yet (leased): look again soon
                    waits.append(asyncio.create_task(asyncio.sleep(delay)))
                else:
                    waits.append(asyncio.create_task(engine.clock.sleep(delay)))
        if not engine.store_url.in_memory:
            waits.append(asyncio.create_task(asyncio.sleep(self.poll_interval)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
            engine._work.clear()  # pyright: ignore[reportPrivateUsage]

    async def _listen(self) -> None:
        """On PostgreSQL, wake at once when another process makes work runnable.

        LISTEN/NOTIFY; when the listening connection fails the worker still polls every
        `poll_interval`, and it listens again after a pause.
        """
        from resultflow.durable._store import NOTIFY_CHANNEL, PostgresDatabase

        database = self.engine.store.database
        if not isinstance(database, PostgresDatabase):
            return
        while True:
            try:
                await database.listen(NOTIFY_CHANNEL, self.engine.notify_work)
            except Exception:
                log.warning("not listening for work (polling meanwhile)", exc_info=True)
            await asyncio.sleep(max(self.poll_interval, 1.0))

    async def _heartbeat(self) -> None:
        """Renew leases every lease_s/3; pass pause and cancel requests to the runs."""
        store = self.engine.store
        while True:
            await asyncio.sleep(self.lease_s / 3)
            if not self._running:
                continue
            try:
                held = await store.renew_leases(self.owner, self.lease_s)
                requests = await store.control_requests(self.owner)
            except Exception:  # the store is down: keep running, try again next beat
                log.warning(
                    "heartbeat failed; leases will be renewed on the next beat", exc_info=True
                )
                continue
            for execution_id, (task, replay) in list(self._running.items()):
                if task.done():
                    continue  # it closed or released the execution itself
                if execution_id not in held:
                    log.warning("execution %s: lease lost; stopping it here", execution_id)
                    task.cancel()
                    continue
                request = requests.get(execution_id)
                if request is not None and replay.control != request:
                    if request == "cancel":
                        replay.request_cancel()
                        task.cancel()
                    else:
                        replay.control = request

    async def _drain(self) -> None:
        """Give running executions `grace_s` to finish, then cancel and release them."""
        if not self._running:
            return
        tasks = [task for task, _ in self._running.values()]
        _, pending = await asyncio.wait(tasks, timeout=self.grace_s)
        replays = dict(self._running.values())
        for task in pending:
            replays[task].shutting_down = True
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for replay in replays.values():
            if replay.shutting_down:
                await self._release(replay)

    async def _release(self, replay: ExecutionReplay) -> None:
        try:
            await self.engine.store.release(
                self.owner, replay.execution_id, replay.attempt, status=Status.PENDING, wake_at=0.0
            )
        except Exception:
            log.warning(
                "execution %s: could not release it; its lease will expire",
                replay.execution_id,
                exc_info=True,
            )


def default_owner() -> str:
    """A worker identity unique on this host: hostname, process id, a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
