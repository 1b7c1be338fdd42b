"""Run claims on PostgreSQL expire on the database server's clock, not each client's.

Two clients share one real PostgreSQL table; the second client's own clock runs 31 s
ahead (its `PostgresKV(clock=...)`, which is what dates its rows). Before claims used
server time, that client took over a live 30 s claim and the run's steps ran twice.
"""

from __future__ import annotations

import asyncio
import time

from resultflow.hitl import KVRunClaims, KVStateStore, ServerClock
from resultflow.persistence._kv import MemoryKV
from resultflow.persistence._kv_postgres import PostgresKV
from resultflow.testing._clock import TestClock


async def test_a_client_whose_clock_is_fast_does_not_take_over_a_live_claim(
    postgres_url: str, postgres_schema: str
) -> None:
    now = time.time()
    honest = PostgresKV(postgres_url, schema=postgres_schema, clock=TestClock(start=now))
    fast = PostgresKV(postgres_url, schema=postgres_schema, clock=TestClock(start=now + 31))
    try:
        assert isinstance(honest, ServerClock)
        mine, theirs = KVRunClaims(honest), KVRunClaims(fast)
        assert await mine.claim("run-1", "host-a", 30)
        assert not await theirs.claim("run-1", "host-b", 30)
        assert await theirs.holder("run-1") == "host-a"
        assert await mine.renew("run-1", "host-a", 30)
        assert not await theirs.renew("run-1", "host-b", 30)
        await theirs.release("run-1", "host-b")  # not theirs: nothing happens
        assert await mine.holder("run-1") == "host-a"
        await mine.release("run-1", "host-a")
        assert await theirs.claim("run-1", "host-b", 30)  # released: free to anyone

        # A slow client (31 s behind) does not keep a claim alive past the server's time.
        slow = PostgresKV(postgres_url, schema=postgres_schema, clock=TestClock(start=now - 31))
        try:
            laggard = KVRunClaims(slow)
            assert await laggard.claim("run-2", "host-c", 0.2)
            await asyncio.sleep(0.3)  # real-sleep-ok: expiry is the database server's clock
            assert await laggard.holder("run-2") is None
            assert not await laggard.renew("run-2", "host-c", 0.2)
            assert await mine.claim("run-2", "host-a", 30)
        finally:
            await slow.close()
    finally:
        await honest.close()
        await fast.close()


async def test_server_time_is_the_database_clock(postgres_url: str, postgres_schema: str) -> None:
    kv = PostgresKV(postgres_url, schema=postgres_schema, clock=TestClock(start=0.0))
    try:
        assert abs(await kv.server_time() - time.time()) < 60  # not the client's clock
    finally:
        await kv.close()


async def test_a_claim_written_as_a_plain_owner_name_is_still_honoured(
    postgres_url: str, postgres_schema: str
) -> None:
    kv = PostgresKV(postgres_url, schema=postgres_schema)
    try:
        # As written by a store without a server clock, or an older version.
        await kv.set("hitl-claim:run-1", "old-host", ttl=30)
        claims = KVStateStore(kv).claims
        assert await claims.holder("run-1") == "old-host"
        assert not await claims.claim("run-1", "new-host", 30)
        await kv.set("hitl-claim:run-1", "{garbage")
        assert await claims.claim("run-1", "new-host", 30)  # unreadable: nobody's claim
    finally:
        await kv.close()


def test_stores_without_a_server_clock_keep_ttl_claims() -> None:
    assert not isinstance(MemoryKV(), ServerClock)


async def test_two_renewals_by_the_holder_at_once_both_keep_the_claim(
    postgres_url: str, postgres_schema: str
) -> None:
    kv = PostgresKV(postgres_url, schema=postgres_schema)
    try:
        claims = KVRunClaims(kv)
        assert await claims.claim("run-1", "host-a", 30)
        # The lease's background renewal and `confirm` may renew at the same moment.
        results = await asyncio.gather(*(claims.renew("run-1", "host-a", 30) for _ in range(4)))
        assert results == [True, True, True, True]
        assert await claims.holder("run-1") == "host-a"
    finally:
        await kv.close()
