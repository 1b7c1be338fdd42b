"""Fixtures of the persistence tests: every KV backend, isolated per test and cleaned up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from resultflow.persistence._kv import KVStore, MemoryKV
from resultflow.persistence._kv_file import FileKV
from resultflow.persistence._kv_sqlite import SQLiteKV
from resultflow.testing._clock import TestClock

BACKENDS = ["memory", "file", "sqlite", "postgres", "redis"]

WEIRD_KEYS = [  # each one a trap for some backend: paths, NUL, case, globs, length
    "",
    " ",
    ".",
    "..",
    "../../etc/passwd",
    "/",
    "/abs/path",
    "a/b\\c",
    "\x00",
    "nul\x00inside",
    "line\nbreak\ttab\r",
    "ünïcødé",
    "日本語のキー",
    "emoji 🎉🚀",
    "CASE",
    "case",
    "~41",
    "k_a",
    "h_0",
    ".tmp-x",
    "con",
    "%_like_%",
    "*?[glob]\\",
    "x" * 1000,
    "é" * 300,
]


@dataclass
class Backend:
    """One store under test, with the virtual clock that expires its keys (None: Redis)."""

    name: str
    kv: KVStore
    clock: TestClock | None

    @property
    def short_ttl(self) -> float:
        """A TTL to expire in a test: virtual 10 s, or a real 0.1 s on Redis."""
        return 10.0 if self.clock is not None else 0.1

    async def wait_until_expired(self, key: str) -> None:
        """Let `short_ttl` pass: virtually, or by polling Redis for at most 0.2 s."""
        if self.clock is not None:
            self.clock.advance(self.short_ttl)
            return
        deadline = time.monotonic() + 0.2
        for _ in range(40):
            if not await self.kv.exists(key) or time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.01)  # real-sleep-ok: Redis expires keys in real time

    def advance(self, seconds: float) -> None:
        """Move virtual time (only for backends with a clock)."""
        assert self.clock is not None
        self.clock.advance(seconds)


async def make_backend(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> Backend:
    """Build the backend `name`; Postgres and Redis ask for the conftest fixtures."""
    clock: TestClock | None = TestClock()
    if name == "memory":
        kv: KVStore = MemoryKV(clock=clock)
    elif name == "file":
        kv = FileKV(tmp_path / "kv", clock=clock)
    elif name == "sqlite":
        kv = SQLiteKV(tmp_path / "kv.db", clock=clock)
    elif name == "postgres":
        from resultflow.persistence._kv_postgres import PostgresKV

        url: str = request.getfixturevalue("postgres_url")
        schema: str = request.getfixturevalue("postgres_schema")
        kv = PostgresKV(url, schema=schema, clock=clock)
    elif name == "redis":
        from resultflow.persistence._kv_redis import RedisKV

        url = request.getfixturevalue("redis_url")
        prefix: str = request.getfixturevalue("redis_prefix")
        kv = RedisKV(url, prefix=prefix)
        clock = None
    else:  # pragma: no cover
        raise AssertionError(name)
    return Backend(name, kv, clock)


async def clean_up(request: pytest.FixtureRequest, backend: Backend) -> None:
    """Close the store; on Redis also delete every key the test wrote under its prefix."""
    await backend.kv.close()
    if backend.name == "redis":
        from resultflow.persistence._kv_redis import RedisKV

        sweeper = RedisKV(
            request.getfixturevalue("redis_url"), prefix=request.getfixturevalue("redis_prefix")
        )
        try:
            keys = [key async for key in sweeper.scan("")]
            await asyncio.gather(*(sweeper.delete(key) for key in keys))
            assert [key async for key in sweeper.scan("")] == []
        finally:
            await sweeper.close()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each KV backend in turn (Postgres and Redis skip with a reason when down)."""
    built = await make_backend(request, request.param, tmp_path)
    try:
        yield built
    finally:
        await clean_up(request, built)


@pytest.fixture
async def kv(backend: Backend) -> KVStore:
    """The store of `backend`."""
    return backend.kv


@pytest.fixture
def weird_keys() -> list[str]:
    """Keys that trip up naive stores: paths, NUL, case twins, glob and LIKE characters."""
    return list(WEIRD_KEYS)
