"""`FileKV`: a `KVStore` kept as one JSON file per key in a directory.

Writes are atomic (a temp file in the same directory, fsync, then `os.replace`), so a
reader sees the old value or the new one, never half of one, even after a crash.
Any key is safe: file names come from a reversible encoding that keeps only `a-z`,
`0-9`, `-` and `_` and writes every other byte of the UTF-8 key as `~xx`, so "../",
"/", NUL, dots and upper case (case-insensitive file systems) cannot escape the
directory or collide. A key whose encoded name would be too long for the file system
gets the name of its SHA-256 digest instead. Every file also records its key, its
value and its expiry time (wall-clock epoch seconds from the injectable clock).
A file that cannot be read (not JSON, numbers or nesting past Python's limits, fields
of the wrong type) raises `CorruptEntryError` from `get`; `scan` and `purge_expired`
skip it and log a warning on the `resultflow.persistence` logger.

Every change of a key (`set`, `delete`, `compare_and_set`, `purge_expired`) holds an
exclusive `fcntl.flock` on a lock file for that key, `.lock-<sha256 of the key>` in the
same directory, so `compare_and_set` re-reads and replaces the value atomically, also
against other processes using the directory. The lock file is removed when the change is
done (a waiter that locked a removed file tries again), so none are left behind; the
kernel drops the lock of a process that dies. This is POSIX `flock`: use a local file
system (not NFS). Where there is no `fcntl` (Windows), the lock is one per process, and
`compare_and_set` is atomic only among the stores of that process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path
from typing import TypeVar, TypeVarTuple, cast

from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.persistence._kv import (
    CorruptEntryError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    check_key,
    check_ttl,
    check_value,
)

__all__ = ["FileKV", "decode_file_name", "encode_file_name"]

_Args = TypeVarTuple("_Args")
_Out = TypeVar("_Out")

_BACKEND = "file"
logger = logging.getLogger("resultflow.persistence")
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_ENCODED_PREFIX = "k_"
_HASHED_PREFIX = "h_"
_TEMP_PREFIX = ".tmp-"
_LOCK_PREFIX = ".lock-"
# Most file systems allow 255 bytes per name, some (eCryptfs) only 143: stay well below.
_MAX_NAME = 140


class FileKV:
    """A `KVStore` in a directory: one atomically written JSON file per key.

    Args:
        directory: Where the files live; created (with its parents) on first use.
            Keep it on a local file system: the per-key locks are POSIX `flock`.
        clock: Where expiry times are read (wall-clock seconds, so expiry survives
            restarts); the system clock by default, a `TestClock` in tests.
        fsync: False skips the fsync calls: faster, but a power loss may lose the
            latest writes (never corrupt them).
    """

    backend = _BACKEND

    def __init__(
        self, directory: str | os.PathLike[str], *, clock: Clock | None = None, fsync: bool = True
    ) -> None:
        self.directory = Path(directory)
        self._clock = clock or SYSTEM_CLOCK
        self._fsync = fsync
        self._closed = False
        self._ready = False

    async def get(self, key: str) -> str | None:
        """The value under `key`, or None when missing or expired."""
        path = await self._path(check_key(key))
        record = await self._call(_read_record, path, key)
        if record is None or self._expired(record[1]):
            return None
        return record[0]

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store `value` under `key` atomically, expiring after `ttl` seconds when given."""
        check_key(key)
        check_value(value)
        data = self._encode(key, value, check_ttl(ttl))
        path = await self._path(key)
        await self._call(_locked_write, path, key, data, self._fsync)

    async def delete(self, key: str) -> None:
        """Forget `key` (no error when missing)."""
        path = await self._path(check_key(key))
        await self._call(_locked_remove, path, key, self._fsync)

    async def exists(self, key: str) -> bool:
        """True when `key` holds a live value."""
        return await self.get(key) is not None

    async def compare_and_set(
        self, key: str, expected: str | None, value: str, ttl: float | None = None
    ) -> bool:
        """Set `key` to `value` if it holds exactly `expected` (None: missing or expired).

        Holds the key's lock file while it re-reads and replaces the file, so it is
        atomic across processes (POSIX). Raises `CorruptEntryError` when the current
        file cannot be read.
        """
        check_key(key)
        if expected is not None:
            check_value(expected)
        check_value(value)
        lifetime = check_ttl(ttl)
        path = await self._path(key)
        now = self._clock.now()
        data = self._encode(key, value, lifetime, now)
        return await self._call(_compare_and_write, path, key, expected, data, now, self._fsync)

    async def scan(self, prefix: str = "") -> AsyncIterator[str]:
        """Iterate over the live keys starting with `prefix` (a snapshot of the directory)."""
        check_key(prefix)
        await self._open()
        keys = await self._call(_list_keys, self.directory, prefix, self._clock.now())
        for key in keys:
            yield key

    async def purge_expired(self) -> int:
        """Delete the files of expired keys and return how many were removed.

        Expired keys already read as missing; this only reclaims disk space. A key
        rewritten while it is being purged keeps its new value.
        """
        await self._open()
        return await self._call(_purge_expired, self.directory, self._clock.now())

    async def close(self) -> None:
        """Mark the store closed (files stay on disk)."""
        self._closed = True

    def __repr__(self) -> str:
        return f"FileKV({str(self.directory)!r})"

    def _expired(self, expires_at: float | None) -> bool:
        return _is_expired(expires_at, self._clock.now())

    def _encode(
        self, key: str, value: str, lifetime: float | None, now: float | None = None
    ) -> bytes:
        start = self._clock.now() if now is None else now
        expires_at = None if lifetime is None else start + lifetime
        return json.dumps({"key": key, "value": value, "expires_at": expires_at}).encode("utf-8")

    async def _path(self, key: str) -> Path:
        await self._open()
        return self.directory / file_name_for(key)

    async def _open(self) -> None:
        if self._closed:
            raise StoreClosedError(_BACKEND)
        if self._ready:
            return
        try:
            await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            detail = f"cannot use directory {self.directory}: {exc}"
            raise StoreUnavailableError(_BACKEND, detail) from exc
        self._ready = True

    async def _call(self, function: Callable[[*_Args], _Out], *args: *_Args) -> _Out:
        try:
            return await asyncio.to_thread(function, *args)
        except (StoreError, ValueError, TypeError):
            raise
        except OSError as exc:
            raise StoreError(_BACKEND, f"{type(exc).__name__}: {exc}") from exc


def encode_file_name(key: str) -> str:
    """The reversible file-name form of `key`: `a-z0-9-_` kept, other UTF-8 bytes as `~xx`."""
    parts: list[str] = []
    for char in key:
        if char in _PLAIN:
            parts.append(char)
        else:
            parts.extend(f"~{byte:02x}" for byte in char.encode("utf-8"))
    return "".join(parts)


def decode_file_name(name: str) -> str:
    """The key that `encode_file_name` turned into `name`; ValueError if `name` is not one."""
    data = bytearray()
    index = 0
    while index < len(name):
        char = name[index]
        if char == "~":
            pair = name[index + 1 : index + 3]
            if len(pair) != 2 or any(c not in "0123456789abcdef" for c in pair):
                raise ValueError(f"bad escape at {index} in {name!r}")
            data.append(int(pair, 16))
            index += 3
        elif char in _PLAIN:
            data.append(ord(char))
            index += 1
        else:
            raise ValueError(f"unexpected character {char!r} in {name!r}")
    key = data.decode("utf-8")
    if encode_file_name(key) != name:  # e.g. "~61" for "a": not the canonical form
        raise ValueError(f"{name!r} is not a canonical encoded key")
    return key


def file_name_for(key: str) -> str:
    """The file name that holds `key`: its encoding, or its SHA-256 digest when too long."""
    encoded = _ENCODED_PREFIX + encode_file_name(key)
    if len(encoded) <= _MAX_NAME:
        return encoded
    return _HASHED_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def lock_name_for(key: str) -> str:
    """The name of the lock file a change of `key` holds: `.lock-` and the key's SHA-256."""
    return _LOCK_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


# -- per-key locks ---------------------------------------------------------------------

if sys.platform == "win32":  # pragma: no cover - no fcntl: one lock per process
    _PROCESS_LOCK = threading.RLock()

    @contextlib.contextmanager
    def _key_lock(directory: Path, key: str) -> Generator[None]:
        with _PROCESS_LOCK:
            yield

else:
    import fcntl

    @contextlib.contextmanager
    def _key_lock(directory: Path, key: str) -> Generator[None]:
        """Hold the exclusive lock of `key` (other threads and processes wait)."""
        lock_path = directory / lock_name_for(key)
        descriptor = _lock_linked_file(lock_path)
        try:
            yield
        finally:
            # Still ours: we hold the lock on the file linked at `lock_path`. Waiters
            # that opened it see it unlinked once they get the lock, and try again.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock_path)
            os.close(descriptor)

    def _lock_linked_file(lock_path: Path) -> int:
        """Open and lock `lock_path`, until the locked file is the one still linked there."""
        while True:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                held = os.fstat(descriptor)
                try:
                    linked = os.stat(lock_path)
                except FileNotFoundError:
                    linked = None
            except BaseException:
                os.close(descriptor)
                raise
            if linked is not None and (linked.st_dev, linked.st_ino) == (
                held.st_dev,
                held.st_ino,
            ):
                return descriptor
            os.close(descriptor)  # the holder before us removed it: lock the new one


# -- blocking file work, run in a thread ---------------------------------------------


def _is_expired(expires_at: float | None, now: float) -> bool:
    return expires_at is not None and now >= expires_at


def _locked_write(path: Path, key: str, data: bytes, fsync: bool) -> None:
    with _key_lock(path.parent, key):
        _write_atomically(path, data, fsync)


def _locked_remove(path: Path, key: str, fsync: bool) -> None:
    with _key_lock(path.parent, key):
        _remove(path, fsync)


def _compare_and_write(
    path: Path, key: str, expected: str | None, data: bytes, now: float, fsync: bool
) -> bool:
    with _key_lock(path.parent, key):
        record = _read_record(path, key)
        current = None if record is None or _is_expired(record[1], now) else record[0]
        if current != expected:
            return False
        _write_atomically(path, data, fsync)
        return True


def _read_record(path: Path, key: str) -> tuple[str, float | None] | None:
    """The (value, expires_at) stored in `path` for `key`, or None when there is none."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    stored_key, value, expires_at = _parse(raw, key)
    if stored_key != key:
        raise CorruptEntryError(_BACKEND, key, f"{path.name} holds key {stored_key!r}")
    return value, expires_at


def _parse(raw: bytes, key: str) -> tuple[str, str, float | None]:
    try:
        data: object = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON, bytes that are not UTF-8 and numbers past Python's
        # int-to-str digit limit; RecursionError, arrays nested thousands deep.
        raise CorruptEntryError(_BACKEND, key, f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CorruptEntryError(_BACKEND, key, "not a JSON object")
    fields = cast("dict[str, object]", data)
    stored_key, value, expires_at = fields.get("key"), fields.get("value"), fields.get("expires_at")
    if not isinstance(stored_key, str) or not isinstance(value, str):
        raise CorruptEntryError(_BACKEND, key, "'key' and 'value' must be strings")
    if expires_at is None:
        return stored_key, value, None
    if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
        raise CorruptEntryError(_BACKEND, key, "'expires_at' must be a number or null")
    try:
        moment = float(expires_at)
    except OverflowError:  # an int too large for a float
        moment = math.inf
    if not math.isfinite(moment):  # NaN would never expire, nor compare
        raise CorruptEntryError(_BACKEND, key, "'expires_at' must be a finite number")
    return stored_key, value, moment


def _write_atomically(path: Path, data: bytes, fsync: bool) -> None:
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            if fsync:
                os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    if fsync:
        _fsync_directory(path.parent)


def _remove(path: Path, fsync: bool) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    if fsync:
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open directories.
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _stored_records(directory: Path, prefix: str) -> list[tuple[Path, str, float | None]]:
    """(path, key, expires_at) of every readable entry whose key starts with `prefix`."""
    encoded_prefix = encode_file_name(prefix)
    found: list[tuple[Path, str, float | None]] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(_ENCODED_PREFIX):
                if not name[len(_ENCODED_PREFIX) :].startswith(encoded_prefix):
                    continue  # cheap filter: the encoding preserves prefixes
            elif not name.startswith(_HASHED_PREFIX):
                continue  # temp files and foreign files
            if not entry.is_file():
                continue
            path = Path(entry.path)
            try:
                key, _, expires_at = _parse(path.read_bytes(), name)
            except FileNotFoundError:
                continue  # deleted meanwhile
            except CorruptEntryError as exc:
                # One damaged file must not break every listing: skip it, and say so.
                _report_skipped(path, exc)
                continue
            if file_name_for(key) == name and key.startswith(prefix):
                found.append((path, key, expires_at))
    return found


def _list_keys(directory: Path, prefix: str, now: float) -> list[str]:
    return [
        key
        for _, key, expires_at in _stored_records(directory, prefix)
        if expires_at is None or now < expires_at
    ]


def _purge_expired(directory: Path, now: float) -> int:
    removed = 0
    for path, key, expires_at in _stored_records(directory, ""):
        if not _is_expired(expires_at, now):
            continue
        # Decide again under the key's lock: a value written since the listing is fresh.
        with _key_lock(directory, key):
            try:
                record = _read_record(path, key)
            except CorruptEntryError as exc:
                _report_skipped(path, exc)  # replaced by something we cannot judge: keep it
                continue
            if record is None or not _is_expired(record[1], now):
                continue
            path.unlink()
            removed += 1
    return removed


def _report_skipped(path: Path, error: CorruptEntryError) -> None:
    """Log a file that a listing skipped because it cannot be read."""
    logger.warning(
        "FileKV skipped unreadable file %s: %s (get() of its key raises CorruptEntryError; "
        "delete() removes it)",
        path,
        error.detail,
    )
