"""The auto-jump never moves virtual time past real work still in flight.

Threads (asyncio.to_thread / run_in_executor), sockets and subprocesses take real time;
if virtual time jumped while they ran, a `timeout=5` would fire on a 50 ms read. Each
test here does a short, real piece of such work next to a virtual deadline and checks
that the work wins. The real waits are the point of these tests (`# real-sleep-ok`).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time

from resultflow import Ok, Step, StepTimeout
from resultflow.result import Result
from resultflow.testing import TestClock, WorkflowHarness

REAL_IO_S = 0.05


def blocking_read() -> str:
    time.sleep(REAL_IO_S)  # real-sleep-ok: stands for a blocking driver call in a thread
    return "row"


async def test_an_unscripted_step_doing_thread_io_is_not_timed_out_by_virtual_time() -> None:
    async def load() -> Result[str, StepTimeout]:
        return Ok(await asyncio.to_thread(blocking_read))

    async def body(step: Step[StepTimeout]) -> str:
        return await step(load, name="load", timeout=5)

    harness = WorkflowHarness()
    assert await harness.run(body) == Ok("row")
    assert harness.clock.monotonic() == 0.0


async def test_a_sleeper_waits_for_executor_work_before_time_jumps() -> None:
    clock = TestClock()
    order: list[str] = []

    async def sleeper() -> None:
        await clock.sleep(5)
        order.append(f"sleeper woke at {clock.monotonic()}")

    async def worker() -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, blocking_read)
        order.append(f"thread done at {clock.monotonic()}")

    await asyncio.gather(sleeper(), worker())
    assert order == ["thread done at 0.0", "sleeper woke at 5.0"]


async def test_a_socket_read_in_flight_blocks_the_jump() -> None:
    clock = TestClock()
    left, right = socket.socketpair()
    left.setblocking(False)

    def answer_later() -> None:
        time.sleep(REAL_IO_S)  # real-sleep-ok: the peer answers after real time
        right.sendall(b"pong")

    sender = threading.Thread(target=answer_later)
    sender.start()
    try:
        loop = asyncio.get_running_loop()
        read = asyncio.ensure_future(loop.sock_recv(left, 4))
        timer = asyncio.ensure_future(clock.sleep(5))
        done, _ = await asyncio.wait({read, timer}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {read}
        assert read.result() == b"pong"
        assert clock.monotonic() == 0.0
        await timer
        assert clock.monotonic() == 5.0
    finally:
        sender.join()
        left.close()
        right.close()


async def test_a_stream_waiting_for_data_blocks_the_jump() -> None:
    clock = TestClock()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        await asyncio.to_thread(time.sleep, REAL_IO_S)  # real-sleep-ok: a slow server
        writer.write(b"pong\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        timer = asyncio.ensure_future(clock.sleep(5))
        line = await reader.readline()
        assert line == b"pong\n"
        assert clock.monotonic() == 0.0
        await timer
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_running_subprocess_blocks_the_jump() -> None:
    clock = TestClock()
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    timer = asyncio.ensure_future(clock.sleep(5))
    assert await process.wait() == 0
    assert clock.monotonic() == 0.0
    await timer
    assert clock.monotonic() == 5.0


async def test_time_still_jumps_when_only_idle_connections_are_open() -> None:
    # An open connection nobody reads from (a pool's idle socket), and a server waiting
    # for its client's next request, are not work in flight.
    clock = TestClock()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(0.01)  # real-sleep-ok: lets the server start reading the connection
    try:
        started = time.perf_counter()
        await clock.sleep(30)
        assert clock.monotonic() == 30.0
        assert time.perf_counter() - started < 0.2
    finally:
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
