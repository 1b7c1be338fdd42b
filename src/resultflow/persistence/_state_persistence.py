"""`StatePersistence`: save, load, list and delete the resume state of runs in any `KVStore`.

Each run's state is one JSON document (`dumps_state`) stored under `prefix + run_id`.
Loading a run that was never saved gives None. Stored data that cannot be read back
(hand-edited, truncated, written by a newer resultflow) is reported, never a crash:
`load` raises `CorruptEntryError` (a `StoreError`, so one `except StoreError` covers
every store failure) whose `.error` is the codec's `StateFormatError`, and
`load_result` returns that `StateFormatError` as an `Err` value instead.
"""

from __future__ import annotations

import bisect
import builtins
from collections.abc import Mapping

from resultflow.persistence._codec import LoadedState, dumps_state, loads_state
from resultflow.persistence._errors import StateFormatError
from resultflow.persistence._kv import CorruptEntryError, KVStore, check_key
from resultflow.persistence._page import Page
from resultflow.result import Err, Ok
from resultflow.resume import ResumeState

__all__ = ["StatePersistence", "backend_name"]


class StatePersistence:
    """The resume state of runs, one document per run id, in `kv` under `prefix`.

    Typical use::

        states = StatePersistence(SQLiteKV("app.db"))
        await states.save("run-1", collector.state(), meta={"owner": "ann"})
        loaded = await states.load("run-1")  # LoadedState(state, meta, version) or None
    """

    def __init__(self, kv: KVStore, prefix: str = "state:") -> None:
        self.kv = kv
        self.prefix = check_key(prefix)

    async def save(
        self,
        run_id: str,
        state: ResumeState,
        meta: Mapping[str, object] | None = None,
        *,
        version: int = 1,
        ttl: float | None = None,
    ) -> None:
        """Store `state` (and JSON-safe `meta`) as the state of `run_id`, replacing any.

        `version` is your state's schema version (see `versioned_loader`); `ttl`
        makes the stored state expire. Raises `SerializationError` when a value in
        `state` or `meta` cannot be serialized (nothing is stored then).
        """
        text = dumps_state(state, meta, version=version)
        await self.kv.set(self._key(run_id), text, ttl=ttl)

    async def load(self, run_id: str) -> LoadedState | None:
        """The saved state of `run_id`, or None when nothing was saved.

        Raises `CorruptEntryError` (with the `StateFormatError` as `.error`) when the
        stored document cannot be read.
        """
        loaded = await self.load_result(run_id)
        if isinstance(loaded, Err):
            key = self._key(run_id)
            raise CorruptEntryError(
                backend_name(self.kv), key, loaded.error.message, error=loaded.error
            )
        return loaded.value

    async def load_result(self, run_id: str) -> Ok[LoadedState | None] | Err[StateFormatError]:
        """Like `load`, with unreadable stored data as `Err(StateFormatError)`.

        That includes bytes the store itself cannot read back (a damaged file, a value
        that is not UTF-8); other store failures still raise `StoreError`.
        """
        try:
            text = await self.kv.get(self._key(run_id))
        except CorruptEntryError as exc:
            return Err(exc.error or StateFormatError(message=f"unreadable entry: {exc.detail}"))
        if text is None:
            return Ok(None)
        loaded = loads_state(text)
        if isinstance(loaded, Err):
            return loaded
        return Ok(loaded.value)

    async def exists(self, run_id: str) -> bool:
        """True when a state is saved for `run_id`."""
        return await self.kv.exists(self._key(run_id))

    async def delete(self, run_id: str) -> None:
        """Forget the state of `run_id` (no error when there is none)."""
        await self.kv.delete(self._key(run_id))

    async def list(
        self, prefix: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[str]:
        """The run ids with a saved state (starting with `prefix`), sorted, `limit` at a time.

        Pass the returned `next_cursor` as `cursor` for the next page; it is None on the
        last page. Runs saved or deleted between pages do not make a later page repeat
        or skip the others.
        """
        if limit < 1:
            raise ValueError(f"limit must be a positive int, got {limit!r}")
        run_prefix = "" if prefix is None else check_key(prefix)
        if cursor is not None:
            check_key(cursor)
        start = len(self.prefix)
        # The `limit + 1` smallest ids after the cursor, kept sorted: a page costs one
        # scan but never holds more than a page of ids, however many runs are stored.
        smallest: builtins.list[str] = []
        async for key in self.kv.scan(self.prefix + run_prefix):
            run_id = key[start:]
            if cursor is not None and run_id <= cursor:
                continue
            at = bisect.bisect_left(smallest, run_id)
            if at < len(smallest) and smallest[at] == run_id:
                continue  # a store may report a key twice (Redis SCAN does)
            if len(smallest) <= limit:
                bisect.insort(smallest, run_id)
            elif run_id < smallest[-1]:
                bisect.insort(smallest, run_id)
                smallest.pop()
        page = smallest[:limit]
        more = len(smallest) > limit
        return Page(items=page, next_cursor=page[-1] if more else None)

    def __repr__(self) -> str:
        return f"StatePersistence({self.kv!r}, prefix={self.prefix!r})"

    def _key(self, run_id: str) -> str:
        return self.prefix + check_key(run_id)


def backend_name(kv: object) -> str:
    """The `backend` name a store declares ("sqlite", ...), or its class name."""
    name = getattr(kv, "backend", None)
    return name if isinstance(name, str) else type(kv).__name__
