"""Step caches on the persistence stores: `KVCache` and `HydratingCache`.

`KVCache` is an `AsyncStepCache` that keeps each keyed step's result in any `KVStore`,
so cached steps survive restarts and are shared by processes using the same store.
`HydratingCache` wraps a fast (usually in-memory) cache and, on first use, fills it
with the steps persisted for one run by `StatePersistence`, so a resumed run replays
its finished steps from memory.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable
from typing import TypeVar, cast

from resultflow.cache import AsyncStepCache, CacheEntry, StepCache
from resultflow.persistence._codec import (
    FORMAT_VERSION,
    StateDecodeError,
    deserialize_entry,
    serialize_entry,
)
from resultflow.persistence._kv import CorruptEntryError, KVStore, check_key, check_ttl
from resultflow.persistence._state_persistence import StatePersistence, backend_name

__all__ = ["HydratingCache", "KVCache"]

_T = TypeVar("_T")


class KVCache:
    """An `AsyncStepCache` storing each entry as JSON in `kv` under `prefix + key`.

    `ttl` is the default lifetime of an entry in seconds (None: no expiry);
    `set(..., ttl=)` overrides it. Entries go through the persistence codec (never
    pickle): a value it cannot serialize raises `SerializationError` at `set`, and a
    stored entry that cannot be decoded raises `CorruptEntryError` at `get` rather than
    being treated as a miss (a miss would run a finished step again).

    With `cache_errors=False` only Ok results are stored (an Err entry is dropped): the
    choice for an idempotency cache shared by many runs and processes, where a
    transient failure must not be replayed until its TTL runs out.
    """

    def __init__(
        self,
        kv: KVStore,
        prefix: str = "step:",
        ttl: float | None = None,
        *,
        cache_errors: bool = True,
    ) -> None:
        self.kv = kv
        self.prefix = check_key(prefix)
        self.ttl = check_ttl(ttl)
        self.cache_errors = cache_errors

    async def get(self, key: str) -> CacheEntry | None:
        """The entry for `key`, or None when missing or expired."""
        stored_key = self._key(key)
        text = await self.kv.get(stored_key)
        return None if text is None else self._decode(stored_key, text)

    async def set(self, key: str, entry: CacheEntry, ttl: float | None = None) -> None:
        """Store `entry` under `key`, expiring after `ttl` (or the default) seconds.

        An Err entry is not stored when the cache was made with `cache_errors=False`.
        """
        if not self.cache_errors and entry.result.ok is False:
            return
        document = {"format": FORMAT_VERSION, **serialize_entry(entry, path=f"cache[{key!r}]")}
        text = json.dumps(document, allow_nan=False, separators=(",", ":"))
        lifetime = check_ttl(ttl) if ttl is not None else self.ttl
        await self.kv.set(self._key(key), text, ttl=lifetime)

    async def delete(self, key: str) -> None:
        """Forget `key`."""
        await self.kv.delete(self._key(key))

    async def clear(self) -> None:
        """Forget every entry under this cache's prefix."""
        keys = [key async for key in self.kv.scan(self.prefix)]
        for key in keys:
            await self.kv.delete(key)

    def __repr__(self) -> str:
        return f"KVCache({self.kv!r}, prefix={self.prefix!r})"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _decode(self, stored_key: str, text: str) -> CacheEntry:
        backend = backend_name(self.kv)
        try:
            document: object = json.loads(text)
        except (ValueError, RecursionError) as exc:
            # ValueError also covers a number past Python's int-to-str digit limit;
            # RecursionError, brackets nested thousands deep.
            raise CorruptEntryError(backend, stored_key, f"not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise CorruptEntryError(backend, stored_key, "a cache entry must be a JSON object")
        fields = cast("dict[str, object]", document)
        found = fields.get("format")
        if type(found) is not int or not 1 <= found <= FORMAT_VERSION:
            detail = f"unknown cache entry format {found!r} (this resultflow reads 1 to "
            raise CorruptEntryError(backend, stored_key, f"{detail}{FORMAT_VERSION})")
        try:
            return deserialize_entry(fields)
        except StateDecodeError as exc:
            raise CorruptEntryError(backend, stored_key, str(exc), error=exc.error) from exc
        except (ValueError, TypeError, RecursionError, OverflowError) as exc:
            # The codec should report every problem as StateDecodeError; whatever slips
            # through is still a damaged entry, never a crash of the step that read it.
            detail = f"cannot decode: {type(exc).__name__}"
            raise CorruptEntryError(backend, stored_key, detail) from exc


class HydratingCache:
    """An `AsyncStepCache` that fills `cache` with a run's persisted steps on first use.

    `cache` is any `StepCache` or `AsyncStepCache` (typically a `MemoryCache`).
    The first `get`, `set` or `delete` (or an explicit `await hydrate()`) loads the
    state saved for `run_id` in `persistence` and puts each step into `cache`, so the
    run replays them without executing; concurrent first calls load it once. A
    corrupt saved state raises `CorruptEntryError` (and is tried again on the next call).
    """

    def __init__(
        self, cache: StepCache | AsyncStepCache, persistence: StatePersistence, run_id: str
    ) -> None:
        self.cache = cache
        self.persistence = persistence
        self.run_id = check_key(run_id)
        self._hydrated = False
        self._lock = asyncio.Lock()

    @property
    def hydrated(self) -> bool:
        """True once the persisted steps have been loaded (or `clear()` made it moot)."""
        return self._hydrated

    async def hydrate(self) -> int:
        """Load the persisted steps into the cache once; return how many this call loaded."""
        if self._hydrated:
            return 0
        async with self._lock:
            return 0 if self._hydrated else await self._load()

    async def get(self, key: str) -> CacheEntry | None:
        """The entry for `key` (after hydrating), or None."""
        await self.hydrate()
        return await _settle(self.cache.get(key))

    async def set(self, key: str, entry: CacheEntry, ttl: float | None = None) -> None:
        """Store `entry` in the wrapped cache (after hydrating)."""
        await self.hydrate()
        await _settle(self.cache.set(key, entry, ttl))

    async def delete(self, key: str) -> None:
        """Forget `key` in the wrapped cache (after hydrating, so it stays forgotten)."""
        await self.hydrate()
        await _settle(self.cache.delete(key))

    async def clear(self) -> None:
        """Empty the wrapped cache; the persisted steps are not loaded afterwards."""
        async with self._lock:
            self._hydrated = True
            await _settle(self.cache.clear())

    def __repr__(self) -> str:
        return f"HydratingCache(run_id={self.run_id!r}, hydrated={self._hydrated})"

    async def _load(self) -> int:
        loaded = await self.persistence.load(self.run_id)
        steps = {} if loaded is None else loaded.state
        for key, entry in steps.items():
            await _settle(self.cache.set(key, entry))
        self._hydrated = True
        return len(steps)


async def _settle(value: _T | Awaitable[_T]) -> _T:
    """The value of a sync cache call, or the awaited value of an async one."""
    if inspect.isawaitable(value):
        return await cast("Awaitable[_T]", value)
    return value
