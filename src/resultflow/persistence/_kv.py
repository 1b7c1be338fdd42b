"""The `KVStore` protocol every persistence backend implements, its errors, and `MemoryKV`.

A KV store maps `str` keys to `str` values, with an optional time to live per key, a
prefix scan and an atomic `compare_and_set` (so several processes can agree on who
changed a value first). `StatePersistence`, `KVCache` and `KVApprovalStore` are built on
it, so one small protocol is all a new backend has to provide. The backends:

| class | module | extra |
| --- | --- | --- |
| `MemoryKV` | `resultflow.persistence.kv` | none |
| `FileKV` | `resultflow.persistence.kv_file` | none |
| `SQLiteKV` | `resultflow.persistence.kv_sqlite` | none |
| `PostgresKV` | `resultflow.persistence.kv_postgres` | `postgres` |
| `RedisKV` | `resultflow.persistence.kv_redis` | `redis` |

Store failures are exceptions (the store cannot do its job, much like a full disk),
so callers catch them at the level they care about (the tree is drawn in
`resultflow.errors`; the breaker and limiter stores raise `StoreError`s too)::

    StoreError                 any failure of a store (driver errors are wrapped)
     ├── StoreUnavailableError the server is down or the file cannot be opened
     ├── StoreClosedError      the store was used after `close()`
     └── CorruptEntryError     a stored value could not be decoded

Wrong argument types and invalid keys (`TypeError` / `ValueError`) are programming
mistakes and are raised as they are.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.errors import StoreClosedError, StoreError, StoreUnavailableError
from resultflow.persistence._errors import CorruptEntryError

__all__ = [
    "CorruptEntryError",
    "KVStore",
    "MemoryKV",
    "StoreClosedError",
    "StoreError",
    "StoreUnavailableError",
    "check_key",
    "check_ttl",
    "check_value",
]


@runtime_checkable
class KVStore(Protocol):
    """An async string-to-string store with per-key TTL and prefix scans.

    Every method may raise a `StoreError` when the backend fails.
    """

    async def get(self, key: str) -> str | None:
        """The value stored under `key`, or None when missing or expired."""
        ...

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store `value` under `key` (replacing any value), expiring after `ttl` seconds."""
        ...

    async def delete(self, key: str) -> None:
        """Forget `key` (no error when missing)."""
        ...

    async def exists(self, key: str) -> bool:
        """True when `key` holds a value that has not expired."""
        ...

    async def compare_and_set(
        self, key: str, expected: str | None, value: str, ttl: float | None = None
    ) -> bool:
        """Set `key` to `value` only if it currently holds exactly `expected`; True if it did.

        `expected=None` means the key must be missing (or expired). The comparison and
        the write are one atomic step, also against other processes sharing the store:
        of several callers racing from the same `expected`, exactly one gets True. Like
        `set`, the new value expires after `ttl` seconds (None: never).
        """
        ...

    def scan(self, prefix: str = "") -> AsyncIterator[str]:
        """Iterate over the live keys that start with `prefix`, in no particular order."""
        ...

    async def close(self) -> None:
        """Release connections and files; the store is unusable afterwards."""
        ...


def check_key(key: object) -> str:
    """Return `key` if it is a `str` a store can hold, else raise TypeError / ValueError.

    Any Unicode string is accepted (empty, NUL, slashes, any length); only strings
    that cannot be encoded as UTF-8 (lone surrogates) are refused, because no backend
    could store them faithfully.
    """
    if not isinstance(key, str):
        raise TypeError(f"a store key must be a str, not {type(key).__name__}")
    _require_utf8(key, "key")
    return key


def check_value(value: object) -> str:
    """Return `value` if it is a `str` a store can hold, else raise TypeError / ValueError."""
    if not isinstance(value, str):
        raise TypeError(f"a store value must be a str, not {type(value).__name__}")
    _require_utf8(value, "value")
    return value


def check_ttl(ttl: object) -> float | None:
    """Return `ttl` if it is None or a positive number of seconds, else raise ValueError."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(f"ttl must be a number of seconds or None, not {type(ttl).__name__}")
    if not ttl > 0 or ttl == float("inf"):
        raise ValueError(f"ttl must be a positive, finite number of seconds or None, got {ttl!r}")
    return float(ttl)


def _require_utf8(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"a store {what} must be valid Unicode (no lone surrogates)") from exc


class MemoryKV:
    """An in-process `KVStore`: a dict with expiry times read from an injectable clock.

    The default store, and the one tests use. Every change holds one lock, so
    `compare_and_set` is atomic even when the store is shared by threads running their
    own event loops.

    Args:
        clock: Decides when entries with a TTL expire (its monotonic time); the system
            clock by default, so a `TestClock` expires them virtually.
    """

    backend = "memory"

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SYSTEM_CLOCK
        self._entries: dict[str, tuple[str, float | None]] = {}
        self._lock = threading.RLock()
        self._closed = False

    async def get(self, key: str) -> str | None:
        """The value under `key`, or None when missing or expired."""
        self._check_open()
        return self._live(check_key(key))

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store `value` under `key`, expiring after `ttl` seconds when given."""
        self._check_open()
        check_key(key)
        check_value(value)
        entry = (value, self._expiry(check_ttl(ttl)))
        with self._lock:
            self._entries[key] = entry

    async def delete(self, key: str) -> None:
        """Forget `key`."""
        self._check_open()
        check_key(key)
        with self._lock:
            self._entries.pop(key, None)

    async def exists(self, key: str) -> bool:
        """True when `key` holds a live value."""
        self._check_open()
        return self._live(check_key(key)) is not None

    async def compare_and_set(
        self, key: str, expected: str | None, value: str, ttl: float | None = None
    ) -> bool:
        """Set `key` to `value` if it holds exactly `expected` (None: missing or expired)."""
        self._check_open()
        check_key(key)
        if expected is not None:
            check_value(expected)
        check_value(value)
        entry = (value, self._expiry(check_ttl(ttl)))
        with self._lock:
            if self._live(key) != expected:
                return False
            self._entries[key] = entry
            return True

    async def scan(self, prefix: str = "") -> AsyncIterator[str]:
        """Iterate over the live keys starting with `prefix` (a snapshot taken at the start)."""
        self._check_open()
        check_key(prefix)
        for key in [k for k in self._entries if k.startswith(prefix)]:
            if self._live(key) is not None:
                yield key

    async def close(self) -> None:
        """Drop every entry; later calls raise `StoreClosedError`."""
        self._closed = True
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return sum(1 for key in list(self._entries) if self._live(key) is not None)

    def __repr__(self) -> str:
        return f"MemoryKV({len(self._entries)} keys)"

    def _expiry(self, lifetime: float | None) -> float | None:
        return None if lifetime is None else self._clock.monotonic() + lifetime

    def _live(self, key: str) -> str | None:
        found = self._entries.get(key)
        if found is None:
            return None
        value, expires_at = found
        if expires_at is not None and self._clock.monotonic() >= expires_at:
            with self._lock:
                # Drop it only if it is still the expired entry we read.
                if self._entries.get(key) is found:
                    del self._entries[key]
            return None
        return value

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(self.backend)
