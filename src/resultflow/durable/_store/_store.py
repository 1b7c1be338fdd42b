"""`DurableStore`: executions, checkpoints and history in SQLite or PostgreSQL.

The engine, its workers and the client all go through this one interface; the two
dialects differ only in their `Database` and in the few queries below that need each
database's own JSON and locking syntax.

What is one transaction:
- creating an execution (its row, its tags, its `WorkflowStarted` history row);
- a checkpoint: fencing on the lease (the writer must still own the execution's
  current run), the checkpoint row and its history rows — so a checkpoint is either
  wholly written by the lease holder or not at all;
- a claim: picking runnable executions (`SKIP LOCKED` on PostgreSQL) and leasing them;
- closing or releasing an execution, with its history rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, LiteralString

from resultflow.durable._errors import DurableStoreError
from resultflow.durable._store._cursor import decode_cursor, encode_cursor
from resultflow.durable._store._database import Database, Transaction
from resultflow.durable._store._records import (
    Checkpoint,
    ConflictPolicy,
    ExecutionQuery,
    ExecutionRecord,
    NewExecution,
    NewHistory,
)
from resultflow.durable._store._schema import MIGRATIONS, SCHEMA_VERSION
from resultflow.durable._types import HistoryEvent, ParentRef, Status, WorkflowInfo
from resultflow.persistence import Page

__all__ = ["DurableStore"]

_COLUMNS: LiteralString = (
    "execution_id, workflow, version, status, created_at, started_at, ended_at, "
    "parent_id, parent_seq, attempts, memo, tags, input, output, error, queue, wake_at, "
    "timeout_at, owner, lease_until, control"
)

_SELECT_ONE: LiteralString = "SELECT " + _COLUMNS + " FROM rf_executions WHERE execution_id = %s"

_INSERT_EXECUTION: LiteralString = (
    "INSERT INTO rf_executions (execution_id, workflow, version, status, created_at, "
    "parent_id, parent_seq, attempts, memo, tags, input, queue, wake_at, timeout_at, "
    "history_seq) VALUES (%s, %s, %s, 'PENDING', %s, %s, %s, 1, %s, %s, %s, %s, %s, %s, 1) "
    "ON CONFLICT (execution_id) DO NOTHING"
)

_RESTART_EXECUTION: LiteralString = (
    "UPDATE rf_executions SET workflow = %s, version = %s, status = 'PENDING', "
    "started_at = NULL, ended_at = NULL, parent_id = %s, parent_seq = %s, "
    "attempts = attempts + 1, memo = %s, tags = %s, input = %s, output = NULL, error = NULL, "
    "queue = %s, wake_at = %s, timeout_at = %s, owner = NULL, lease_until = NULL, "
    "control = NULL WHERE execution_id = %s"
)

_INSERT_HISTORY: LiteralString = (
    "INSERT INTO rf_history (execution_id, seq, attempt, type, ts, key, data) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)

# Advances the history counter of an execution whose current run `owner` still holds.
_FENCE: LiteralString = (
    "UPDATE rf_executions SET history_seq = history_seq + %s "
    "WHERE execution_id = %s AND owner = %s AND attempts = %s AND status = 'RUNNING' "
    "RETURNING history_seq"
)

_ADVANCE_HISTORY: LiteralString = (
    "UPDATE rf_executions SET history_seq = history_seq + %s WHERE execution_id = %s "
    "RETURNING history_seq, attempts"
)

_INSERT_CHECKPOINT: LiteralString = (
    "INSERT INTO rf_checkpoints (execution_id, attempt, key, position, kind, name, result, "
    "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)

_CLOSE: LiteralString = (
    "UPDATE rf_executions SET status = %s, output = %s, error = %s, ended_at = %s, "
    "owner = NULL, lease_until = NULL, wake_at = NULL WHERE execution_id = %s"
)

_RELEASE: LiteralString = (
    "UPDATE rf_executions SET status = %s, wake_at = %s, owner = NULL, lease_until = NULL "
    "WHERE execution_id = %s"
)

_RENEW: LiteralString = (
    "UPDATE rf_executions SET lease_until = $NOW + %s "
    "WHERE owner = %s AND status = 'RUNNING' RETURNING execution_id"
)

_SQLITE_CLAIM: LiteralString = (
    "UPDATE rf_executions SET status = 'RUNNING', owner = %s, lease_until = $NOW + %s, "
    "started_at = COALESCE(started_at, %s) WHERE execution_id IN ("
    "SELECT execution_id FROM rf_executions WHERE "
    "((status IN ('PENDING', 'WAITING') AND wake_at <= %s) "
    "OR (status = 'RUNNING' AND lease_until < $NOW)) "
    "AND EXISTS (SELECT 1 FROM json_each(%s) AS w "
    "WHERE w.value ->> 'n' = workflow AND w.value ->> 'v' = version) "
    "AND queue IN (SELECT value FROM json_each(%s)) "
    "ORDER BY wake_at LIMIT %s) RETURNING " + _COLUMNS
)

_POSTGRES_CLAIM: LiteralString = (
    "WITH picked AS (SELECT execution_id FROM rf_executions WHERE "
    "((status IN ('PENDING', 'WAITING') AND wake_at <= %s) "
    "OR (status = 'RUNNING' AND lease_until < $NOW)) "
    "AND (workflow, version) IN (SELECT w.n, w.v FROM "
    "jsonb_to_recordset(%s::jsonb) AS w(n text, v text)) "
    "AND queue IN (SELECT jsonb_array_elements_text(%s::jsonb)) "
    "ORDER BY wake_at LIMIT %s FOR UPDATE SKIP LOCKED) "
    "UPDATE rf_executions AS e SET status = 'RUNNING', owner = %s, "
    "lease_until = $NOW + %s, started_at = COALESCE(e.started_at, %s) "
    "FROM picked WHERE e.execution_id = picked.execution_id RETURNING "
    "e.execution_id, e.workflow, e.version, e.status, e.created_at, e.started_at, "
    "e.ended_at, e.parent_id, e.parent_seq, e.attempts, e.memo, e.tags, e.input, "
    "e.output, e.error, e.queue, e.wake_at, e.timeout_at, e.owner, e.lease_until, e.control"
)

_SQLITE_LIST: LiteralString = (
    "SELECT " + _COLUMNS + " FROM rf_executions AS e WHERE "
    "(%s = '[]' OR status IN (SELECT value FROM json_each(%s))) "
    "AND (%s IS NULL OR workflow = %s) "
    "AND (%s IS NULL OR created_at >= %s) AND (%s IS NULL OR created_at < %s) "
    "AND (SELECT count(*) FROM rf_execution_tags AS t WHERE t.execution_id = e.execution_id "
    "AND t.tag IN (SELECT value FROM json_each(%s))) = %s "
)

_POSTGRES_LIST: LiteralString = (
    "SELECT " + _COLUMNS + " FROM rf_executions AS e WHERE "
    "(%s::text = '[]' OR status IN (SELECT jsonb_array_elements_text(%s::jsonb))) "
    "AND (%s::text IS NULL OR workflow = %s) "
    "AND (%s::double precision IS NULL OR created_at >= %s) "
    "AND (%s::double precision IS NULL OR created_at < %s) "
    "AND (SELECT count(*) FROM rf_execution_tags AS t WHERE t.execution_id = e.execution_id "
    "AND t.tag IN (SELECT jsonb_array_elements_text(%s::jsonb))) = %s "
)

_AFTER_ASC: LiteralString = (
    "AND (%s IS NULL OR created_at > %s OR (created_at = %s AND execution_id > %s)) "
    "ORDER BY created_at ASC, execution_id ASC LIMIT %s"
)
_AFTER_DESC: LiteralString = (
    "AND (%s IS NULL OR created_at < %s OR (created_at = %s AND execution_id < %s)) "
    "ORDER BY created_at DESC, execution_id DESC LIMIT %s"
)
_POSTGRES_AFTER_ASC: LiteralString = (
    "AND (%s::double precision IS NULL OR created_at > %s "
    "OR (created_at = %s AND execution_id > %s)) "
    "ORDER BY created_at ASC, execution_id ASC LIMIT %s"
)
_POSTGRES_AFTER_DESC: LiteralString = (
    "AND (%s::double precision IS NULL OR created_at < %s "
    "OR (created_at = %s AND execution_id < %s)) "
    "ORDER BY created_at DESC, execution_id DESC LIMIT %s"
)


class DurableStore:
    """Executions, their checkpoints and their history, in one `Database`.

    Open it with `await store.open()` (creates or upgrades the schema), close it with
    `await store.close()`. Every method raises `DurableStoreError` when the database
    fails; none raises for an expected outcome (an unknown id gives None or False).
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.dialect = database.dialect
        postgres = self.dialect == "postgres"
        self._claim_sql: LiteralString = _POSTGRES_CLAIM if postgres else _SQLITE_CLAIM
        list_sql = _POSTGRES_LIST if postgres else _SQLITE_LIST
        self._list_asc: LiteralString = list_sql + (_POSTGRES_AFTER_ASC if postgres else _AFTER_ASC)
        self._list_desc: LiteralString = list_sql + (
            _POSTGRES_AFTER_DESC if postgres else _AFTER_DESC
        )

    # -- schema -----------------------------------------------------------------------
    async def open(self) -> int:
        """Create or upgrade the schema; return its version.

        Raises `DurableStoreError` when the database's schema is newer than this library.
        """
        return await self.upgrade()

    async def close(self) -> None:
        """Close the database connections."""
        await self.database.close()

    async def schema_version(self) -> int:
        """The schema version the database holds (0: none yet)."""
        async with self.database.transaction(write=True) as tx:
            return await self._read_version(tx)

    async def upgrade(self) -> int:
        """Apply every migration the database lacks, in one transaction; return the version."""
        async with self.database.transaction(write=True) as tx:
            await self.database.lock_schema(tx)
            current = await self._read_version(tx)
            if current > SCHEMA_VERSION:
                raise DurableStoreError(
                    f"the store's schema is version {current}, newer than this library's "
                    f"{SCHEMA_VERSION}: upgrade resultflow before using this database",
                    backend=self.dialect,
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[self.dialect][version - 1]:
                    await tx.execute(statement)
            if current != SCHEMA_VERSION:
                await tx.execute("DELETE FROM rf_schema_version")
                await tx.execute(
                    "INSERT INTO rf_schema_version (version) VALUES (%s)", (SCHEMA_VERSION,)
                )
        return SCHEMA_VERSION

    async def _read_version(self, tx: Transaction) -> int:
        await tx.execute("CREATE TABLE IF NOT EXISTS rf_schema_version (version INTEGER NOT NULL)")
        row = await tx.fetchone("SELECT max(version) FROM rf_schema_version")
        return int(row[0]) if row is not None and row[0] is not None else 0

    # -- workflows --------------------------------------------------------------------
    async def register_workflows(self, workflows: Sequence[WorkflowInfo], now: float) -> None:
        """Record that these workflows exist, so any client can start them by name."""
        async with self.database.transaction(write=True) as tx:
            await tx.executemany(
                "INSERT INTO rf_workflows (name, version, registered_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (name, version) DO NOTHING",
                [(w.name, w.version, now) for w in workflows],
            )

    async def workflows(self) -> list[WorkflowInfo]:
        """Every registered workflow, by name then registration time."""
        async with self.database.transaction(write=False) as tx:
            rows = await tx.fetchall(
                "SELECT name, version FROM rf_workflows ORDER BY name, registered_at, version"
            )
        return [WorkflowInfo(str(name), str(version)) for name, version in rows]

    # -- executions -------------------------------------------------------------------
    async def create_execution(
        self, new: NewExecution, on_conflict: ConflictPolicy = "fail"
    ) -> tuple[bool, ExecutionRecord]:
        """Create `new`; return (created, the record now under its id).

        When the id is taken: `"fail"` and `"use_existing"` return (False, existing);
        `"terminate_existing"` terminates a running one and starts a new run under the
        same id (`attempts` + 1; history keeps both runs).
        """
        parent_id, parent_seq = (
            (new.parent.execution_id, new.parent.seq) if new.parent else (None, None)
        )
        tags = json.dumps(list(new.tags))
        async with self.database.transaction(write=True) as tx:
            inserted = await tx.execute(
                _INSERT_EXECUTION,
                (
                    new.execution_id,
                    new.workflow,
                    new.version,
                    new.created_at,
                    parent_id,
                    parent_seq,
                    new.memo,
                    tags,
                    new.input,
                    new.queue,
                    new.wake_at,
                    new.timeout_at,
                ),
            )
            if inserted:
                await self._write_tags(tx, new.execution_id, new.tags)
                await tx.execute(
                    _INSERT_HISTORY,
                    (
                        new.execution_id,
                        1,
                        1,
                        "WorkflowStarted",
                        new.created_at,
                        None,
                        _started(new),
                    ),
                )
                record = await self._select(tx, new.execution_id, lock=False)
                assert record is not None
                return True, record
            existing = await self._select(tx, new.execution_id, lock=True)
            if existing is None:  # deleted between the insert and the select
                raise DurableStoreError(
                    f"execution {new.execution_id!r} vanished while being created",
                    backend=self.dialect,
                )
            if on_conflict != "terminate_existing":
                return False, existing
            history: list[NewHistory] = []
            if not existing.status.closed:
                history.append(
                    NewHistory(
                        "WorkflowTerminated",
                        new.created_at,
                        data=json.dumps({"reason": "terminate_existing"}),
                    )
                )
                await tx.execute(
                    "UPDATE rf_executions SET status = 'TERMINATED', ended_at = %s "
                    "WHERE execution_id = %s",
                    (new.created_at, new.execution_id),
                )
                await self._append(tx, new.execution_id, history)
            await tx.execute(
                _RESTART_EXECUTION,
                (
                    new.workflow,
                    new.version,
                    parent_id,
                    parent_seq,
                    new.memo,
                    tags,
                    new.input,
                    new.queue,
                    new.wake_at,
                    new.timeout_at,
                    new.execution_id,
                ),
            )
            await tx.execute(
                "DELETE FROM rf_execution_tags WHERE execution_id = %s", (new.execution_id,)
            )
            await self._write_tags(tx, new.execution_id, new.tags)
            await self._append(
                tx,
                new.execution_id,
                [NewHistory("WorkflowStarted", new.created_at, data=_started(new))],
            )
            record = await self._select(tx, new.execution_id, lock=False)
            assert record is not None
            return True, record

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """The execution `execution_id`, or None."""
        async with self.database.transaction(write=False) as tx:
            return await self._select(tx, execution_id, lock=False)

    async def list_executions(self, query: ExecutionQuery) -> Page[ExecutionRecord]:
        """A page of executions ordered by `(created_at, execution_id)`.

        Raises `ValueError` for a `limit` outside 1..1000 or a cursor that no execution
        listing returned.
        """
        if not 1 <= query.limit <= 1000:
            raise ValueError(f"limit must be between 1 and 1000, not {query.limit}")
        after_ts: float | None = None
        after_id: str | None = None
        if query.cursor is not None:
            position = decode_cursor("executions", query.cursor)
            if (
                len(position) != 3
                or position[0] != query.order
                or not isinstance(position[1], (int, float))
                or not isinstance(position[2], str)
            ):
                raise ValueError(f"not a cursor of this executions listing: {query.cursor!r}")
            after_ts, after_id = float(position[1]), position[2]
        statuses = json.dumps([Status(s).value for s in query.statuses])
        tags = sorted(set(query.tags))
        params: tuple[object, ...] = (
            statuses,
            statuses,
            query.workflow,
            query.workflow,
            query.started_after,
            query.started_after,
            query.started_before,
            query.started_before,
            json.dumps(tags),
            len(tags),
            after_ts,
            after_ts,
            after_ts,
            after_id,
            query.limit + 1,
        )
        sql = self._list_asc if query.order == "asc" else self._list_desc
        async with self.database.transaction(write=False) as tx:
            rows = await tx.fetchall(sql, params)
        records = [_record(row) for row in rows[: query.limit]]
        cursor = None
        if len(rows) > query.limit:
            last = records[-1]
            cursor = encode_cursor("executions", [query.order, last.created_at, last.execution_id])
        return Page(records, cursor)

    # -- work -------------------------------------------------------------------------
    async def claim(
        self,
        owner: str,
        workflows: Sequence[WorkflowInfo],
        queues: Sequence[str],
        *,
        limit: int,
        lease_s: float,
        now: float,
    ) -> list[ExecutionRecord]:
        """Lease up to `limit` runnable executions of `workflows` in `queues` to `owner`.

        Runnable: PENDING or WAITING with `wake_at <= now` (the engine's clock), or
        RUNNING under a lease that expired by the database's clock (a dead worker's).
        """
        if limit <= 0 or not workflows or not queues:
            return []
        wanted = json.dumps([{"n": w.name, "v": w.version} for w in workflows])
        names = json.dumps(list(queues))
        if self.dialect == "postgres":
            params: tuple[object, ...] = (now, wanted, names, limit, owner, lease_s, now)
        else:
            params = (owner, lease_s, now, now, wanted, names, limit)
        async with self.database.transaction(write=True) as tx:
            rows = await tx.fetchall(self._claim_sql, params)
        return [_record(row) for row in rows]

    async def renew_leases(self, owner: str, lease_s: float) -> set[str]:
        """Extend every lease `owner` holds; return the ids it still holds."""
        async with self.database.transaction(write=True) as tx:
            rows = await tx.fetchall(_RENEW, (lease_s, owner))
        return {str(row[0]) for row in rows}

    async def checkpoints(self, execution_id: str, attempt: int) -> list[Checkpoint]:
        """The checkpoints of run `attempt` of an execution, by position."""
        async with self.database.transaction(write=False) as tx:
            rows = await tx.fetchall(
                "SELECT execution_id, attempt, key, position, kind, name, result, created_at "
                "FROM rf_checkpoints WHERE execution_id = %s AND attempt = %s ORDER BY position",
                (execution_id, attempt),
            )
        return [
            Checkpoint(
                str(r[0]),
                int(r[1]),
                str(r[2]),
                int(r[3]),
                str(r[4]),
                str(r[5]),
                str(r[6]),
                float(r[7]),
            )
            for r in rows
        ]

    async def save_checkpoint(
        self, owner: str, checkpoint: Checkpoint, history: Sequence[NewHistory] = ()
    ) -> bool:
        """Write `checkpoint` and its `history` if `owner` still holds the run; else False.

        One transaction: a worker that lost its lease (another took the execution over)
        writes nothing, so a taken-over execution's record is never mixed.
        """
        async with self.database.transaction(write=True) as tx:
            seq = await self._fence(
                tx, checkpoint.execution_id, owner, checkpoint.attempt, len(history)
            )
            if seq is None:
                return False
            await tx.execute(
                _INSERT_CHECKPOINT,
                (
                    checkpoint.execution_id,
                    checkpoint.attempt,
                    checkpoint.key,
                    checkpoint.position,
                    checkpoint.kind,
                    checkpoint.name,
                    checkpoint.result,
                    checkpoint.created_at,
                ),
            )
            await self._insert_history(
                tx, checkpoint.execution_id, checkpoint.attempt, seq, history
            )
        return True

    async def close_execution(
        self,
        owner: str,
        execution_id: str,
        attempt: int,
        *,
        status: Status,
        ended_at: float,
        output: str | None,
        error: str | None,
        history: Sequence[NewHistory] = (),
    ) -> bool:
        """End the run `owner` holds with `status`; False if the lease was lost."""
        async with self.database.transaction(write=True) as tx:
            seq = await self._fence(tx, execution_id, owner, attempt, len(history))
            if seq is None:
                return False
            await tx.execute(_CLOSE, (status.value, output, error, ended_at, execution_id))
            await self._insert_history(tx, execution_id, attempt, seq, history)
        return True

    async def release(
        self,
        owner: str,
        execution_id: str,
        attempt: int,
        *,
        status: Status,
        wake_at: float | None,
        history: Sequence[NewHistory] = (),
    ) -> bool:
        """Give the run back (PENDING, WAITING or PAUSED) to wake at `wake_at`; False if lost."""
        async with self.database.transaction(write=True) as tx:
            seq = await self._fence(tx, execution_id, owner, attempt, len(history))
            if seq is None:
                return False
            await tx.execute(_RELEASE, (status.value, wake_at, execution_id))
            await self._insert_history(tx, execution_id, attempt, seq, history)
        return True

    # -- history ----------------------------------------------------------------------
    async def append_history(self, execution_id: str, events: Sequence[NewHistory]) -> bool:
        """Append `events` to an execution's history (no lease needed); False if unknown."""
        async with self.database.transaction(write=True) as tx:
            return await self._append(tx, execution_id, events)

    async def history(
        self,
        execution_id: str,
        *,
        limit: int = 100,
        order: str = "asc",
        cursor: str | None = None,
    ) -> Page[HistoryEvent] | None:
        """A page of an execution's history by `seq`; None for an unknown execution."""
        if not 1 <= limit <= 1000:
            raise ValueError(f"limit must be between 1 and 1000, not {limit}")
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', not {order!r}")
        after: int | None = None
        if cursor is not None:
            position = decode_cursor("history", cursor)
            if (
                len(position) != 3
                or position[:2] != [execution_id, order]
                or not isinstance(position[2], int)
            ):
                raise ValueError(f"not a cursor of this history listing: {cursor!r}")
            after = position[2]
        if order == "asc":
            sql: LiteralString = (
                "SELECT seq, type, ts, key, data FROM rf_history WHERE execution_id = %s "
                "AND seq > %s ORDER BY seq ASC LIMIT %s"
            )
            bound = after if after is not None else 0
        else:
            sql = (
                "SELECT seq, type, ts, key, data FROM rf_history WHERE execution_id = %s "
                "AND seq < %s ORDER BY seq DESC LIMIT %s"
            )
            bound = after if after is not None else 2**31 - 1
        async with self.database.transaction(write=False) as tx:
            exists = await tx.fetchone(
                "SELECT 1 FROM rf_executions WHERE execution_id = %s", (execution_id,)
            )
            if exists is None:
                return None
            rows = await tx.fetchall(sql, (execution_id, bound, limit + 1))
        events = [
            HistoryEvent(int(r[0]), str(r[1]), float(r[2]), r[3], json.loads(r[4]))
            for r in rows[:limit]
        ]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor("history", [execution_id, order, events[-1].seq])
        return Page(events, next_cursor)

    # -- internals --------------------------------------------------------------------
    async def _select(
        self, tx: Transaction, execution_id: str, *, lock: bool
    ) -> ExecutionRecord | None:
        if lock and self.dialect == "postgres":
            row = await tx.fetchone(_SELECT_ONE + " FOR UPDATE", (execution_id,))
        else:
            row = await tx.fetchone(_SELECT_ONE, (execution_id,))
        return None if row is None else _record(row)

    async def _write_tags(self, tx: Transaction, execution_id: str, tags: Sequence[str]) -> None:
        if tags:
            await tx.executemany(
                "INSERT INTO rf_execution_tags (tag, execution_id) VALUES (%s, %s) "
                "ON CONFLICT (tag, execution_id) DO NOTHING",
                [(tag, execution_id) for tag in tags],
            )

    async def _fence(
        self, tx: Transaction, execution_id: str, owner: str, attempt: int, count: int
    ) -> int | None:
        row = await tx.fetchone(_FENCE, (count, execution_id, owner, attempt))
        return None if row is None else int(row[0])

    async def _append(
        self, tx: Transaction, execution_id: str, events: Sequence[NewHistory]
    ) -> bool:
        row = await tx.fetchone(_ADVANCE_HISTORY, (len(events), execution_id))
        if row is None:
            return False
        await self._insert_history(tx, execution_id, int(row[1]), int(row[0]), events)
        return True

    async def _insert_history(
        self,
        tx: Transaction,
        execution_id: str,
        attempt: int,
        last_seq: int,
        events: Sequence[NewHistory],
    ) -> None:
        if not events:
            return
        first = last_seq - len(events) + 1
        rows = [
            (execution_id, first + i, attempt, e.type, e.ts, e.key, e.data)
            for i, e in enumerate(events)
        ]
        if len(rows) == 1:
            await tx.execute(_INSERT_HISTORY, rows[0])
        else:
            await tx.executemany(_INSERT_HISTORY, rows)


def _started(new: NewExecution) -> str:
    return json.dumps({"workflow": new.workflow, "version": new.version, "queue": new.queue})


def _record(row: Sequence[Any]) -> ExecutionRecord:
    parent = None if row[7] is None else ParentRef(str(row[7]), int(row[8]))
    return ExecutionRecord(
        execution_id=str(row[0]),
        workflow=str(row[1]),
        version=str(row[2]),
        status=Status(row[3]),
        created_at=float(row[4]),
        started_at=None if row[5] is None else float(row[5]),
        ended_at=None if row[6] is None else float(row[6]),
        parent=parent,
        attempts=int(row[9]),
        memo=str(row[10]),
        tags=tuple(json.loads(row[11])),
        input=str(row[12]),
        output=row[13],
        error=row[14],
        queue=str(row[15]),
        wake_at=None if row[16] is None else float(row[16]),
        timeout_at=None if row[17] is None else float(row[17]),
        owner=row[18],
        lease_until=None if row[19] is None else float(row[19]),
        control=row[20],
    )
