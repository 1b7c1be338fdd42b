"""Step caches: where keyed step results are kept, so a repeated key does not re-run.

`StepCache` (sync) and `AsyncStepCache` are both accepted by `run(cache=...)`.
`MemoryCache` keeps entries in process with LRU eviction and an optional TTL; the
persistence backends (`resultflow.persistence`) provide durable ones.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias, runtime_checkable

from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.result import Err, Ok

__all__ = ["AnyStepCache", "AsyncStepCache", "CacheEntry", "MemoryCache", "StepCache"]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A finished step: its `result` (Ok or Err) and JSON-safe `meta` about it.

    Errors are cached too, so a resumed run fails the same way it did before.
    """

    result: Ok[object] | Err[object]
    meta: Mapping[str, object] = field(default_factory=dict[str, object])


@runtime_checkable
class StepCache(Protocol):
    """A synchronous store of step results by key."""

    def get(self, key: str) -> CacheEntry | None:
        """The entry for `key`, or None when missing or expired."""
        ...

    def set(self, key: str, entry: CacheEntry, ttl: float | None = None) -> None:
        """Store `entry` under `key`, expiring after `ttl` seconds when given."""
        ...

    def delete(self, key: str) -> None:
        """Forget `key` (no error when missing)."""
        ...

    def clear(self) -> None:
        """Forget every entry."""
        ...


@runtime_checkable
class AsyncStepCache(Protocol):
    """An asynchronous store of step results by key (same contract as `StepCache`)."""

    async def get(self, key: str) -> CacheEntry | None:
        """The entry for `key`, or None when missing or expired."""
        ...

    async def set(self, key: str, entry: CacheEntry, ttl: float | None = None) -> None:
        """Store `entry` under `key`, expiring after `ttl` seconds when given."""
        ...

    async def delete(self, key: str) -> None:
        """Forget `key` (no error when missing)."""
        ...

    async def clear(self) -> None:
        """Forget every entry."""
        ...


AnyStepCache: TypeAlias = StepCache | AsyncStepCache
"""What `run(cache=...)` accepts."""


class MemoryCache:
    """An in-process `StepCache` with LRU eviction past `max_size` and an optional TTL.

    `ttl` is the default lifetime in seconds (None: forever); `set(..., ttl=)` overrides
    it per entry. Time is read from `clock`, so tests can expire entries virtually.
    With `cache_errors=False` the cache keeps only Ok results (an Err entry is not
    stored): the choice for an idempotency cache shared by many runs, where a transient
    failure must not be replayed until the TTL runs out.
    """

    def __init__(
        self,
        max_size: int | None = 10_000,
        ttl: float | None = None,
        *,
        clock: Clock | None = None,
        cache_errors: bool = True,
    ) -> None:
        if max_size is not None and max_size <= 0:
            raise ValueError("max_size must be positive or None")
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive or None")
        self.max_size = max_size
        self.ttl = ttl
        self.cache_errors = cache_errors
        self._clock = clock or SYSTEM_CLOCK
        self._entries: OrderedDict[str, tuple[CacheEntry, float | None]] = OrderedDict()

    def get(self, key: str) -> CacheEntry | None:
        """The entry for `key` (marking it recently used), or None."""
        found = self._entries.get(key)
        if found is None:
            return None
        entry, expires_at = found
        if expires_at is not None and self._clock.monotonic() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def set(self, key: str, entry: CacheEntry, ttl: float | None = None) -> None:
        """Store `entry`, evicting the least recently used entry when full.

        An Err entry is not stored when the cache was made with `cache_errors=False`.
        """
        if not self.cache_errors and type(entry.result) is Err:
            return
        lifetime = ttl if ttl is not None else self.ttl
        expires_at = None if lifetime is None else self._clock.monotonic() + lifetime
        self._entries[key] = (entry, expires_at)
        self._entries.move_to_end(key)
        if self.max_size is not None:
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def delete(self, key: str) -> None:
        """Forget `key`."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def keys(self) -> list[str]:
        """The stored keys, least recently used first (expired ones included until read)."""
        return list(self._entries)
