"""FileKV specifics: safe file names, atomic writes, crash leftovers, expiry on disk."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resultflow.persistence import _kv_file as kv_file
from resultflow.persistence._kv import CorruptEntryError, StoreError, StoreUnavailableError
from resultflow.persistence._kv_file import FileKV, decode_file_name, encode_file_name
from resultflow.testing._clock import TestClock

SAFE_NAME = re.compile(r"[kh]_[a-z0-9_~-]*")
valid_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)


def listing(directory: Path) -> list[str]:
    """The sorted names in `directory` (files and folders)."""
    return sorted(path.name for path in directory.iterdir())


@given(valid_text)
def test_file_name_encoding_round_trips(key: str) -> None:
    encoded = encode_file_name(key)
    assert re.fullmatch(r"[a-z0-9_~-]*", encoded)
    assert decode_file_name(encoded) == key


@given(valid_text, valid_text)
def test_file_name_encoding_is_injective_and_keeps_prefixes(a: str, b: str) -> None:
    if a != b:
        assert encode_file_name(a) != encode_file_name(b)
    assert encode_file_name(a + b).startswith(encode_file_name(a))


@pytest.mark.parametrize("name", ["~", "~4", "~zz", "~61", "A", "a.b", "~ff", "a/b"])
def test_decode_rejects_names_that_are_not_canonical(name: str) -> None:
    with pytest.raises(ValueError):
        decode_file_name(name)


async def test_every_key_becomes_a_safe_file_inside_the_directory(
    tmp_path: Path, weird_keys: list[str]
) -> None:
    directory = tmp_path / "store"
    kv = FileKV(directory)
    for key in weird_keys:
        await kv.set(key, "v")
    assert listing(tmp_path) == ["store"]  # nothing escaped the directory
    names = listing(directory)
    assert len(names) == len(weird_keys)
    for name in names:
        assert SAFE_NAME.fullmatch(name), name
        assert len(name) <= 140
    assert names.count("k_case") == 1 and "k_~43~41~53~45" in names  # CASE vs case


async def test_long_keys_get_hashed_names_and_scan_returns_them(tmp_path: Path) -> None:
    kv = FileKV(tmp_path)
    long_key = "step:" + "é" * 5000  # far beyond any file-name limit
    await kv.set(long_key, "long")
    await kv.set("step:short", "short")
    [hashed] = [name for name in listing(tmp_path) if name.startswith("h_")]
    assert len(hashed) == 2 + 64
    assert await kv.get(long_key) == "long"
    assert {key async for key in kv.scan("step:")} == {long_key, "step:short"}
    assert [key async for key in kv.scan("step:é")] == [long_key]
    await kv.delete(long_key)
    assert listing(tmp_path) == ["k_step~3ashort"]


async def test_files_record_key_value_and_expiry_as_json(tmp_path: Path) -> None:
    clock = TestClock(start=1000.0)
    kv = FileKV(tmp_path, clock=clock)
    await kv.set("a/b", "v", ttl=5)
    stored = json.loads((tmp_path / "k_a~2fb").read_text("utf-8"))
    assert stored == {"key": "a/b", "value": "v", "expires_at": 1005.0}


async def test_values_and_expiry_survive_a_new_store_on_the_same_directory(
    tmp_path: Path,
) -> None:
    clock = TestClock()
    await FileKV(tmp_path, clock=clock).set("k", "v", ttl=60)
    reopened = FileKV(tmp_path, clock=clock)
    assert await reopened.get("k") == "v"
    clock.advance(61)
    assert await reopened.get("k") is None


async def test_writes_leave_no_temp_files(tmp_path: Path) -> None:
    kv = FileKV(tmp_path)
    for index in range(20):
        await kv.set("k", str(index))
    assert listing(tmp_path) == ["k_k"]


async def test_failed_write_keeps_the_old_value_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kv = FileKV(tmp_path)
    await kv.set("k", "old")

    def refuse(source: str, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kv_file.os, "replace", refuse)
    with pytest.raises(StoreError, match="No space left"):
        await kv.set("k", "new")
    monkeypatch.undo()
    assert await kv.get("k") == "old"
    assert listing(tmp_path) == ["k_k"]


async def test_crash_leftovers_and_foreign_files_are_not_keys(tmp_path: Path) -> None:
    kv = FileKV(tmp_path)
    await kv.set("real", "v")
    (tmp_path / ".tmp-abc123").write_text('{"key": "half", "value": "x"')  # crashed write
    (tmp_path / "README.txt").write_text("not ours")
    (tmp_path / "k_UPPER").write_text("{}")  # not a canonical encoded name
    (tmp_path / "h_deadbeef").write_text("garbage")
    (tmp_path / "k_sub").mkdir()
    assert [key async for key in kv.scan("")] == ["real"]


async def test_a_file_holding_another_key_is_corrupt(tmp_path: Path) -> None:
    kv = FileKV(tmp_path)
    await kv.set("a", "v")
    (tmp_path / "k_a").rename(tmp_path / "k_b")
    with pytest.raises(CorruptEntryError, match="holds key 'a'"):
        await kv.get("b")
    assert [key async for key in kv.scan("")] == []


@pytest.mark.parametrize(
    "content",
    [
        b"{half",
        b"\xff\xfe",
        b"[]",
        b'{"key": "k"}',
        b'{"key": "k", "value": 1}',
        b'{"key": "k", "value": "v", "expires_at": "soon"}',
        # Past Python's limits: json.loads raises ValueError / RecursionError for these.
        b'{"key": "k", "value": "v", "expires_at": ' + b"9" * 5000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"key": "k", "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        # Numbers that are not a moment: never expiring (NaN) or beyond a float.
        b'{"key": "k", "value": "v", "expires_at": NaN}',
        b'{"key": "k", "value": "v", "expires_at": Infinity}',
        b'{"key": "k", "value": "v", "expires_at": ' + b"9" * 400 + b"}",
    ],
)
async def test_corrupt_files_raise_on_get_and_are_skipped_by_scan(
    tmp_path: Path, content: bytes
) -> None:
    kv = FileKV(tmp_path)
    await kv.set("ok", "v")
    (tmp_path / "k_k").write_bytes(content)
    with pytest.raises(CorruptEntryError) as raised:
        await kv.get("k")
    assert raised.value.key == "k" and raised.value.backend == "file"
    assert [key async for key in kv.scan("")] == ["ok"]
    assert await kv.purge_expired() == 0
    assert (tmp_path / "k_k").exists()  # kept for inspection; delete() removes it
    await kv.delete("k")
    assert not (tmp_path / "k_k").exists()


async def test_a_skipped_corrupt_file_is_reported_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kv = FileKV(tmp_path)
    (tmp_path / "k_k").write_bytes(b"[" * 100_000)
    with caplog.at_level("WARNING", logger="resultflow.persistence"):
        assert [key async for key in kv.scan("")] == []
    assert [record.getMessage() for record in caplog.records] == [
        f"FileKV skipped unreadable file {tmp_path / 'k_k'}: not JSON: maximum recursion "
        "depth exceeded while decoding a JSON array from a unicode string (get() of its "
        "key raises CorruptEntryError; delete() removes it)"
    ]


async def test_purge_expired_removes_only_expired_files(tmp_path: Path) -> None:
    clock = TestClock()
    kv = FileKV(tmp_path, clock=clock)
    await kv.set("old", "v", ttl=1)
    await kv.set("fresh", "v", ttl=100)
    await kv.set("forever", "v")
    assert await kv.purge_expired() == 0
    clock.advance(2)
    assert await kv.purge_expired() == 1
    assert listing(tmp_path) == ["k_forever", "k_fresh"]


async def test_a_purge_decides_under_the_key_lock_and_keeps_a_value_written_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two purges list the expired file; a writer holds the key's lock and writes a fresh
    value while both wait for it; then neither purge deletes anything."""
    clock = TestClock()
    kv = FileKV(tmp_path, clock=clock, fsync=False)
    await kv.set("k", "old", ttl=1)
    clock.advance(2)
    path = tmp_path / kv_file.file_name_for("k")
    fresh = json.dumps({"key": "k", "value": "fresh", "expires_at": None}).encode()
    waiting = threading.Semaphore(0)
    real_lock = kv_file._key_lock

    def key_lock(directory: Path, key: str) -> contextlib.AbstractContextManager[None]:
        if threading.current_thread().name.startswith("purge"):
            waiting.release()  # a purge listed the expired file and now waits for the lock
        return real_lock(directory, key)

    now = clock.now()
    monkeypatch.setattr(kv_file, "_key_lock", key_lock)
    with ThreadPoolExecutor(2, "purge") as pool:
        with real_lock(tmp_path, "k"):
            purges = [pool.submit(kv_file._purge_expired, tmp_path, now) for _ in range(2)]
            assert waiting.acquire(timeout=5) and waiting.acquire(timeout=5)
            kv_file._write_atomically(path, fresh, False)  # the lock holder writes
            assert not any(purge.done() for purge in purges)
        # the lock is released: the purges get it and find the fresh value
        removed = [purge.result(5) for purge in purges]
    monkeypatch.undo()
    assert removed == [0, 0]
    assert await kv.get("k") == "fresh"
    assert listing(tmp_path) == [path.name]  # no leftovers, no lock file


async def test_overlapping_purges_remove_an_expired_file_once(tmp_path: Path) -> None:
    clock = TestClock()
    kv = FileKV(tmp_path, clock=clock, fsync=False)
    await kv.set("k", "old", ttl=1)
    clock.advance(2)
    now = clock.now()
    with ThreadPoolExecutor(4) as pool:
        removed = list(pool.map(lambda _: kv_file._purge_expired(tmp_path, now), range(4)))
    assert sum(removed) == 1
    assert listing(tmp_path) == []


async def test_directory_is_created_and_an_unusable_one_is_unavailable(tmp_path: Path) -> None:
    nested = FileKV(tmp_path / "a" / "b")
    await nested.set("k", "v")
    assert (tmp_path / "a" / "b" / "k_k").exists()

    blocker = tmp_path / "file"
    blocker.write_text("x")
    broken = FileKV(blocker / "store")
    with pytest.raises(StoreUnavailableError, match="cannot use directory"):
        await broken.get("k")


async def test_fsync_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(kv_file.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    await FileKV(tmp_path / "fast", fsync=False).set("k", "v")
    assert synced == []
    await FileKV(tmp_path / "safe").set("k", "v")
    assert len(synced) == 2  # the file, then its directory


async def test_compare_and_set_on_a_corrupt_file_raises_and_leaves_no_lock_file(
    tmp_path: Path,
) -> None:
    kv = FileKV(tmp_path)
    (tmp_path / "k_k").write_bytes(b"{half")
    with pytest.raises(CorruptEntryError):
        await kv.compare_and_set("k", None, "v")
    assert (tmp_path / "k_k").read_bytes() == b"{half"
    assert listing(tmp_path) == ["k_k"]


async def test_a_stale_lock_file_left_by_a_crash_does_not_block(tmp_path: Path) -> None:
    kv = FileKV(tmp_path)
    (tmp_path / kv_file.lock_name_for("k")).touch()  # a process died holding it
    assert await kv.compare_and_set("k", None, "v") is True
    await kv.delete("other")
    assert listing(tmp_path) == ["k_k"]  # lock files are removed after each change
    assert [key async for key in kv.scan("")] == ["k"]


async def test_a_held_key_lock_makes_compare_and_set_wait(tmp_path: Path) -> None:
    kv = FileKV(tmp_path, fsync=False)
    await kv.set("k", "a")
    with ThreadPoolExecutor(1) as pool:
        with kv_file._key_lock(tmp_path, "k"):
            attempt = pool.submit(asyncio.run, kv.compare_and_set("k", "a", "b"))
            kv_file._write_atomically(
                tmp_path / "k_k", json.dumps({"key": "k", "value": "c"}).encode(), False
            )
            assert not attempt.done()
        assert attempt.result(5) is False  # it compared with the value written meanwhile
    assert await kv.get("k") == "c"
