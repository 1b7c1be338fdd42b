"""The KVStore contract, run against every backend: memory, file, SQLite, PostgreSQL, Redis.

Postgres and Redis run against the real servers (conftest fixtures); the stores that
keep expiry times themselves use a TestClock, Redis uses real 0.1 s PX TTLs.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path

import pytest

from resultflow.persistence._kv import KVStore, StoreClosedError

WORKER = Path(__file__).with_name("cas_race_worker.py")


async def keys_of(kv: KVStore, prefix: str = "") -> set[str]:
    found = [key async for key in kv.scan(prefix)]
    assert len(found) == len(set(found)), "scan returned a key twice"
    return set(found)


# -- basic operations ---------------------------------------------------------------


async def test_is_a_kvstore(kv: KVStore) -> None:
    assert isinstance(kv, KVStore)


async def test_get_missing_is_none(kv: KVStore) -> None:
    assert await kv.get("missing") is None
    assert await kv.exists("missing") is False


async def test_set_then_get(kv: KVStore) -> None:
    await kv.set("a", "1")
    assert await kv.get("a") == "1"
    assert await kv.exists("a") is True
    assert await kv.get("b") is None


async def test_overwrite_replaces_value(kv: KVStore) -> None:
    await kv.set("a", "first")
    await kv.set("a", "second")
    assert await kv.get("a") == "second"
    assert await keys_of(kv) == {"a"}


async def test_delete(kv: KVStore) -> None:
    await kv.set("a", "1")
    await kv.set("b", "2")
    await kv.delete("a")
    assert await kv.get("a") is None
    assert await kv.exists("a") is False
    assert await kv.get("b") == "2"
    await kv.delete("a")  # deleting a missing key is fine
    await kv.delete("never-there")


async def test_empty_and_odd_values_round_trip(kv: KVStore) -> None:
    values = ["", "\x00", "a\x00b", "ünïcødé 🎉", '{"json": [1, 2]}', "line\nbreak", " " * 3]
    for index, value in enumerate(values):
        await kv.set(f"v{index}", value)
    for index, value in enumerate(values):
        assert await kv.get(f"v{index}") == value


async def test_large_value(kv: KVStore) -> None:
    value = ("0123456789abcdef" * 65_536) + "é🎉"  # ~1 MiB plus multi-byte characters
    await kv.set("big", value)
    assert await kv.get("big") == value


# -- time to live -------------------------------------------------------------------


async def test_ttl_expires(backend) -> None:
    kv = backend.kv
    await kv.set("short", "x", ttl=backend.short_ttl)
    await kv.set("forever", "y")
    assert await kv.get("short") == "x"
    await backend.wait_until_expired("short")
    assert await kv.get("short") is None
    assert await kv.exists("short") is False
    assert await keys_of(kv) == {"forever"}
    assert await kv.get("forever") == "y"


async def test_ttl_not_yet_expired(backend) -> None:
    if backend.clock is None:
        pytest.skip("needs virtual time: Redis expiry is real time")
    await backend.kv.set("k", "v", ttl=10)
    backend.advance(9.9)
    assert await backend.kv.get("k") == "v"
    assert await keys_of(backend.kv) == {"k"}
    backend.advance(0.2)
    assert await backend.kv.get("k") is None


async def test_overwrite_without_ttl_makes_key_permanent(backend) -> None:
    kv = backend.kv
    await kv.set("k", "old", ttl=backend.short_ttl)
    await kv.set("k", "new")
    await backend.wait_until_expired("k")
    assert await kv.get("k") == "new"


async def test_overwrite_with_ttl_makes_key_expire(backend) -> None:
    kv = backend.kv
    await kv.set("k", "old")
    await kv.set("k", "new", ttl=backend.short_ttl)
    await backend.wait_until_expired("k")
    assert await kv.get("k") is None


async def test_expired_key_can_be_set_again(backend) -> None:
    kv = backend.kv
    await kv.set("k", "old", ttl=backend.short_ttl)
    await backend.wait_until_expired("k")
    await kv.set("k", "again")
    assert await kv.get("k") == "again"


@pytest.mark.parametrize("ttl", [0, -1, -0.5, math.nan, math.inf])
async def test_invalid_ttl_is_rejected(kv: KVStore, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await kv.set("k", "v", ttl=ttl)
    assert await kv.get("k") is None


async def test_ttl_must_be_a_number(kv: KVStore) -> None:
    with pytest.raises(TypeError, match="ttl"):
        await kv.set("k", "v", ttl="5")  # type: ignore[arg-type]


# -- scan ---------------------------------------------------------------------------


async def test_scan_by_prefix(kv: KVStore) -> None:
    for key in ["a:1", "a:2", "a:", "ab", "b:1", "A:1"]:
        await kv.set(key, "v")
    assert await keys_of(kv, "a:") == {"a:1", "a:2", "a:"}
    assert await keys_of(kv, "a") == {"a:1", "a:2", "a:", "ab"}
    assert await keys_of(kv, "b:1") == {"b:1"}
    assert await keys_of(kv, "zzz") == set()
    assert await keys_of(kv) == {"a:1", "a:2", "a:", "ab", "b:1", "A:1"}


async def test_scan_of_empty_store(kv: KVStore) -> None:
    assert await keys_of(kv) == set()
    assert await keys_of(kv, "x") == set()


async def test_scan_treats_glob_and_like_characters_literally(kv: KVStore) -> None:
    keys = ["x*1", "x?2", "x[3]", "x]4", "xa", "xab", "x\\y", "x%5", "x_6", "xz"]
    for key in keys:
        await kv.set(key, "v")
    assert await keys_of(kv, "x*") == {"x*1"}
    assert await keys_of(kv, "x?") == {"x?2"}
    assert await keys_of(kv, "x[") == {"x[3]"}
    assert await keys_of(kv, "x[3") == {"x[3]"}
    assert await keys_of(kv, "x]") == {"x]4"}
    assert await keys_of(kv, "x\\") == {"x\\y"}
    assert await keys_of(kv, "x%") == {"x%5"}
    assert await keys_of(kv, "x_") == {"x_6"}
    assert await keys_of(kv, "xa") == {"xa", "xab"}
    assert await keys_of(kv, "x") == set(keys)


async def test_scan_prefix_with_multibyte_characters(kv: KVStore) -> None:
    for key in ["é1", "é2", "ê", "e", "é"]:
        await kv.set(key, "v")
    assert await keys_of(kv, "é") == {"é1", "é2", "é"}
    assert await keys_of(kv, "ê") == {"ê"}


async def test_scan_returns_every_key_across_batches(kv: KVStore) -> None:
    keys = [f"many:{index:05d}" for index in range(650)]  # more than one 500-key batch
    await asyncio.gather(*(kv.set(key, "v") for key in keys))
    await kv.set("other", "v")
    assert await keys_of(kv, "many:") == set(keys)


async def test_scan_skips_deleted_keys(kv: KVStore) -> None:
    for key in ["p:1", "p:2", "p:3"]:
        await kv.set(key, "v")
    await kv.delete("p:2")
    assert await keys_of(kv, "p:") == {"p:1", "p:3"}


# -- keys ---------------------------------------------------------------------------


async def test_keys_of_a_megabyte_work_in_every_operation(kv: KVStore) -> None:
    """Past PostgreSQL's ~2.7 KB btree limit: a 1 MiB key, and long keys that differ
    only after their first 1024 bytes (the part a scan index may hold)."""
    huge = "k" * (1 << 20)
    twins = ["p" * 3000 + "a", "p" * 3000 + "b", "p" * 3000]
    await kv.set(huge, "huge")
    for index, key in enumerate(twins):
        await kv.set(key, str(index))
    assert await kv.get(huge) == "huge" and await kv.exists(huge)
    assert [await kv.get(key) for key in twins] == ["0", "1", "2"]
    assert await kv.compare_and_set(huge, "huge", "next") is True
    assert await kv.compare_and_set(huge, "huge", "late") is False
    assert await kv.get(huge) == "next"
    assert await keys_of(kv, "k") == {huge}
    assert await keys_of(kv, "p" * 3000) == set(twins)
    assert await keys_of(kv, "p" * 3000 + "b") == {twins[1]}
    assert await keys_of(kv, "p" * 2000 + "q") == set()
    await kv.delete(huge)
    assert await kv.get(huge) is None
    assert await keys_of(kv) == set(twins)


async def test_scan_of_long_keys_sharing_their_first_kilobyte_across_batches(
    kv: KVStore,
) -> None:
    shared = "s" * 1100
    keys = [f"{shared}{index:04d}" for index in range(520)]  # more than one batch
    await asyncio.gather(*(kv.set(key, "v") for key in keys))
    await kv.set("s", "v")
    assert await keys_of(kv, shared) == set(keys)
    assert await keys_of(kv, "s") == {*keys, "s"}


async def test_weird_keys_are_distinct_and_round_trip(kv: KVStore, weird_keys: list[str]) -> None:
    for index, key in enumerate(weird_keys):
        await kv.set(key, f"value-{index}")
    for index, key in enumerate(weird_keys):
        assert await kv.get(key) == f"value-{index}", repr(key)
        assert await kv.exists(key)
    assert await keys_of(kv) == set(weird_keys)
    assert await keys_of(kv, "nul\x00") == {"nul\x00inside"}
    assert await keys_of(kv, "..") == {"..", "../../etc/passwd"}
    for key in weird_keys:
        await kv.delete(key)
    assert await keys_of(kv) == set()


@pytest.mark.parametrize("bad", [b"bytes", 1, None])
async def test_non_string_keys_and_values_are_rejected(kv: KVStore, bad: object) -> None:
    with pytest.raises(TypeError, match="key"):
        await kv.get(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key"):
        await kv.set(bad, "v")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value"):
        await kv.set("k", bad)  # type: ignore[arg-type]
    assert await kv.get("k") is None


async def test_lone_surrogates_are_rejected(kv: KVStore) -> None:
    with pytest.raises(ValueError, match="Unicode"):
        await kv.set("bad\ud800", "v")
    with pytest.raises(ValueError, match="Unicode"):
        await kv.set("k", "bad\udfff")
    assert await keys_of(kv) == set()


# -- concurrency --------------------------------------------------------------------


async def test_many_concurrent_sets(kv: KVStore) -> None:
    await asyncio.gather(*(kv.set(f"c:{index}", str(index)) for index in range(200)))
    values = await asyncio.gather(*(kv.get(f"c:{index}") for index in range(200)))
    assert values == [str(index) for index in range(200)]
    assert len(await keys_of(kv, "c:")) == 200


async def test_concurrent_writers_of_one_key_leave_one_whole_value(kv: KVStore) -> None:
    values = [f"writer-{index}-" + "x" * 10_000 for index in range(40)]
    await asyncio.gather(*(kv.set("same", value) for value in values))
    assert await kv.get("same") in values
    assert await keys_of(kv) == {"same"}


async def test_concurrent_mixed_operations(kv: KVStore) -> None:
    await asyncio.gather(*(kv.set(f"m:{index}", "v") for index in range(50)))
    await asyncio.gather(
        *(kv.delete(f"m:{index}") for index in range(0, 50, 2)),
        *(kv.set(f"n:{index}", "w") for index in range(25)),
        *(kv.get(f"m:{index}") for index in range(50)),
    )
    assert await keys_of(kv, "m:") == {f"m:{index}" for index in range(1, 50, 2)}
    assert len(await keys_of(kv, "n:")) == 25


# -- lifecycle ----------------------------------------------------------------------


async def test_closed_store_refuses_work(kv: KVStore) -> None:
    await kv.set("k", "v")
    await kv.close()
    with pytest.raises(StoreClosedError):
        await kv.get("k")
    with pytest.raises(StoreClosedError):
        await kv.set("k", "v")
    with pytest.raises(StoreClosedError):
        await kv.delete("k")
    with pytest.raises(StoreClosedError):
        await kv.exists("k")
    with pytest.raises(StoreClosedError):
        [key async for key in kv.scan("")]
    await kv.close()  # closing twice is fine


# -- compare_and_set ----------------------------------------------------------------


async def test_compare_and_set_on_a_missing_key(kv: KVStore) -> None:
    assert await kv.compare_and_set("k", "anything", "v") is False  # missing is not a value
    assert await kv.compare_and_set("k", "", "v") is False  # nor is it the empty string
    assert await kv.get("k") is None
    assert await kv.compare_and_set("k", None, "first") is True
    assert await kv.get("k") == "first"
    assert await kv.compare_and_set("k", None, "second") is False  # no longer missing
    assert await kv.get("k") == "first"
    assert await keys_of(kv) == {"k"}


async def test_compare_and_set_with_a_matching_and_a_stale_expected_value(kv: KVStore) -> None:
    await kv.set("k", "a")
    assert await kv.compare_and_set("k", "b", "x") is False
    assert await kv.compare_and_set("k", "A", "x") is False  # exact match, case included
    assert await kv.compare_and_set("k", "a ", "x") is False
    assert await kv.compare_and_set("k", None, "x") is False
    assert await kv.get("k") == "a"
    assert await kv.compare_and_set("k", "a", "b") is True
    assert await kv.get("k") == "b"
    assert await kv.compare_and_set("k", "a", "c") is False  # "a" is stale now
    assert await kv.compare_and_set("k", "b", "b") is True  # same value: still a match
    assert await kv.get("k") == "b"


async def test_compare_and_set_of_empty_and_odd_values(kv: KVStore) -> None:
    await kv.set("k", "")
    assert await kv.compare_and_set("k", None, "x") is False  # "" is a value, not missing
    assert await kv.compare_and_set("k", "", "a\x00b") is True
    assert await kv.compare_and_set("k", "a\x00c", "y") is False
    assert await kv.compare_and_set("k", "a\x00b", "ünïcødé 🎉") is True
    assert await kv.compare_and_set("k", "unicode", "z") is False
    big = "0123456789abcdef" * 65_536 + "é"
    assert await kv.compare_and_set("k", "ünïcødé 🎉", big) is True
    assert await kv.compare_and_set("k", big[:-1], "z") is False
    assert await kv.compare_and_set("k", big, "small") is True
    assert await kv.get("k") == "small"


async def test_compare_and_set_with_weird_keys(kv: KVStore, weird_keys: list[str]) -> None:
    for key in weird_keys:
        assert await kv.compare_and_set(key, None, f"v:{key}") is True, repr(key)
    for key in weird_keys:
        assert await kv.compare_and_set(key, f"v:{key}", f"w:{key}") is True, repr(key)
        assert await kv.get(key) == f"w:{key}"
    assert await keys_of(kv) == set(weird_keys)


async def test_compare_and_set_treats_an_expired_key_as_missing(backend) -> None:
    kv = backend.kv
    await kv.set("k", "old", ttl=backend.short_ttl)
    await backend.wait_until_expired("k")
    assert await kv.compare_and_set("k", "old", "x") is False  # the old value is gone
    assert await kv.get("k") is None
    assert await kv.compare_and_set("k", None, "new") is True
    assert await kv.get("k") == "new"
    await backend.wait_until_expired("k")
    assert await kv.get("k") == "new"  # set without ttl: permanent


async def test_compare_and_set_honours_ttl(backend) -> None:
    kv = backend.kv
    assert await kv.compare_and_set("k", None, "v", ttl=backend.short_ttl) is True
    assert await kv.get("k") == "v"
    await backend.wait_until_expired("k")
    assert await kv.get("k") is None
    assert await keys_of(kv) == set()
    # a value with a TTL replaced without one becomes permanent, and the other way round
    await kv.set("p", "old", ttl=backend.short_ttl)
    assert await kv.compare_and_set("p", "old", "new") is True
    await kv.set("q", "old")
    assert await kv.compare_and_set("q", "old", "new", ttl=backend.short_ttl) is True
    await backend.wait_until_expired("q")
    assert await kv.get("p") == "new"
    assert await kv.get("q") is None


async def test_compare_and_set_ttl_in_virtual_time(backend) -> None:
    if backend.clock is None:
        pytest.skip("needs virtual time: Redis expiry is real time")
    kv = backend.kv
    assert await kv.compare_and_set("k", None, "v", ttl=10) is True
    backend.advance(9.9)
    assert await kv.compare_and_set("k", None, "other") is False  # still live
    assert await kv.compare_and_set("k", "v", "v2", ttl=10) is True  # a fresh 10 s
    backend.advance(9.9)
    assert await kv.get("k") == "v2"
    backend.advance(0.2)
    assert await kv.get("k") is None
    assert await kv.compare_and_set("k", "v2", "late") is False


async def test_a_failed_compare_and_set_changes_nothing(backend) -> None:
    kv = backend.kv
    await kv.set("k", "v", ttl=backend.short_ttl)
    assert await kv.compare_and_set("k", "other", "x") is False
    assert await kv.compare_and_set("k", None, "x") is False
    await backend.wait_until_expired("k")
    assert await kv.get("k") is None  # the failed attempts did not touch the TTL


async def test_compare_and_set_checks_its_arguments(kv: KVStore) -> None:
    await kv.set("k", "v")
    with pytest.raises(TypeError, match="key"):
        await kv.compare_and_set(1, None, "v")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value"):
        await kv.compare_and_set("k", b"v", "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value"):
        await kv.compare_and_set("k", "v", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unicode"):
        await kv.compare_and_set("k", "v", "bad\ud800")
    for ttl in (0, -1, math.nan, math.inf):
        with pytest.raises(ValueError, match="ttl"):
            await kv.compare_and_set("k", "v", "x", ttl=ttl)
    with pytest.raises(TypeError, match="ttl"):
        await kv.compare_and_set("k", "v", "x", ttl="5")  # type: ignore[arg-type]
    assert await kv.get("k") == "v"
    await kv.close()
    with pytest.raises(StoreClosedError):
        await kv.compare_and_set("k", "v", "x")


@pytest.mark.parametrize("expected", [None, "start"])
async def test_concurrent_compare_and_set_has_exactly_one_winner(
    kv: KVStore, expected: str | None
) -> None:
    if expected is not None:
        await kv.set("race", expected)
    contenders = [f"task-{index}" for index in range(30)]
    outcomes = await asyncio.gather(
        *(kv.compare_and_set("race", expected, name) for name in contenders)
    )
    winners = [name for name, won in zip(contenders, outcomes, strict=True) if won]
    assert len(winners) == 1
    assert await kv.get("race") == winners[0]


async def test_concurrent_increments_lose_no_update(kv: KVStore) -> None:
    async def increment() -> int:
        retries = 0
        while True:
            current = await kv.get("counter")
            if await kv.compare_and_set("counter", current, str(int(current or "0") + 1)):
                return retries
            retries += 1

    await asyncio.gather(*(increment() for _ in range(25)))
    assert await kv.get("counter") == "25"


def worker_config(request: pytest.FixtureRequest, backend, tmp_path: Path) -> dict[str, object]:
    """How a worker process opens the same data as `backend.kv`."""
    kv = backend.kv
    if backend.name == "file":
        return {"backend": "file", "directory": str(kv.directory)}
    if backend.name == "sqlite":
        return {"backend": "sqlite", "path": kv.path}
    if backend.name == "postgres":
        return {
            "backend": "postgres",
            "url": request.getfixturevalue("postgres_url"),
            "schema": kv.schema,
        }
    return {"backend": "redis", "url": request.getfixturevalue("redis_url"), "prefix": kv.prefix}


@pytest.mark.slow
@pytest.mark.parametrize("expected", [None, "start"])
async def test_processes_racing_compare_and_set_have_exactly_one_winner(
    request: pytest.FixtureRequest, backend, tmp_path: Path, expected: str | None
) -> None:
    """Three OS processes race on the same keys: each key has exactly one winner, whose
    value is the one stored, and 3 x 40 read-CAS increments of one counter all count."""
    if backend.name == "memory":
        pytest.skip("MemoryKV lives in one process")
    kv = backend.kv
    keys = [f"race:{index}" for index in range(40)]
    if expected is not None:
        await asyncio.gather(*(kv.set(key, expected) for key in keys))
    else:
        await kv.exists("race:0")  # creates the table before the workers start
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    names = ["p0", "p1", "p2"]
    base = worker_config(request, backend, tmp_path)
    common = {
        "barrier": str(barrier),
        "workers": len(names),
        "keys": keys,
        "expected": expected,
        "counter": "counter",
        "increments": 40,
    }
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            json.dumps({**base, **common, "name": name}),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for name in names
    ]
    reports = []
    for worker in workers:
        out, err = await asyncio.wait_for(worker.communicate(), timeout=120)
        assert worker.returncode == 0, err.decode()
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    won = {name: set(report["won"]) for name, report in zip(names, reports, strict=True)}
    for key in keys:
        winners = [name for name in names if key in won[name]]
        assert len(winners) == 1, (key, winners)
        assert await kv.get(key) == winners[0]
    assert await kv.get("counter") == str(3 * 40)
