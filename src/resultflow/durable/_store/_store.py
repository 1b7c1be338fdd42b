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
    LeaseLost,
    NewExecution,
    NewHistory,
    TaskRecord,
)
from resultflow.durable._store._schema import MIGRATIONS, SCHEMA_VERSION
from resultflow.durable._types import HistoryEvent, ParentRef, Status, WorkflowInfo
from resultflow.persistence import Page

__all__ = ["NOTIFY_CHANNEL", "DurableStore"]

NOTIFY_CHANNEL = "resultflow_work"
"""The PostgreSQL channel on which the store announces runnable executions."""

_COLUMNS: LiteralString = (
    "execution_id, workflow, version, status, created_at, started_at, ended_at, "
    "parent_id, parent_seq, attempts, memo, tags, input, output, error, queue, wake_at, "
    "timeout_at, timeout_s, owner, lease_until, control, wakeups"
)

_SELECT_ONE: LiteralString = "SELECT " + _COLUMNS + " FROM rf_executions WHERE execution_id = %s"

_INSERT_EXECUTION: LiteralString = (
    "INSERT INTO rf_executions (execution_id, workflow, version, status, created_at, "
    "parent_id, parent_seq, attempts, memo, tags, input, queue, wake_at, timeout_at, "
    "timeout_s, history_seq) VALUES "
    "(%s, %s, %s, 'PENDING', %s, %s, %s, 1, %s, %s, %s, %s, %s, %s, %s, 1) "
    "ON CONFLICT (execution_id) DO NOTHING"
)

_RESTART_EXECUTION: LiteralString = (
    "UPDATE rf_executions SET workflow = %s, version = %s, status = 'PENDING', "
    "started_at = NULL, ended_at = NULL, parent_id = %s, parent_seq = %s, "
    "attempts = attempts + 1, memo = %s, tags = %s, input = %s, output = NULL, error = NULL, "
    "queue = %s, wake_at = %s, timeout_at = %s, timeout_s = %s, owner = NULL, "
    "lease_until = NULL, "
    "control = NULL WHERE execution_id = %s"
)

_SELECT_TASK: LiteralString = (
    "SELECT token, execution_id, attempt, name, position, status, result, deadline, "
    "heartbeat_timeout, heartbeat_deadline, created_at FROM rf_tasks"
)

_SQLITE_NEXT_WAKE: LiteralString = (
    "SELECT min(wake_at) FROM rf_executions WHERE status IN ('PENDING', 'WAITING') "
    "AND EXISTS (SELECT 1 FROM json_each(%s) AS w "
    "WHERE w.value ->> 'n' = workflow AND w.value ->> 'v' = version) "
    "AND queue IN (SELECT value FROM json_each(%s))"
)

_POSTGRES_NEXT_WAKE: LiteralString = (
    "SELECT min(wake_at) FROM rf_executions WHERE status IN ('PENDING', 'WAITING') "
    "AND (workflow, version) IN (SELECT w.n, w.v FROM "
    "jsonb_to_recordset(%s::jsonb) AS w(n text, v text)) "
    "AND queue IN (SELECT jsonb_array_elements_text(%s::jsonb))"
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

# A wake-up that arrived while the run was live (a signal, a task's end, a child's end)
# turns a release to WAITING into PENDING: the run replays and looks again.
_RELEASE: LiteralString = (
    "UPDATE rf_executions SET "
    "status = CASE WHEN %s = 'WAITING' AND wakeups <> %s THEN 'PENDING' ELSE %s END, "
    "wake_at = CASE WHEN %s = 'WAITING' AND wakeups <> %s THEN 0 ELSE %s END, "
    "owner = NULL, lease_until = NULL WHERE execution_id = %s"
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
    "e.output, e.error, e.queue, e.wake_at, e.timeout_at, e.timeout_s, e.owner, "
    "e.lease_until, e.control, e.wakeups"
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
        self._next_wake_sql: LiteralString = _POSTGRES_NEXT_WAKE if postgres else _SQLITE_NEXT_WAKE
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
                    new.timeout_s,
                ),
            )
            if inserted:
                await self._notify(tx)
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
                    new.timeout_s,
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
        wanted = _workflow_list(workflows)
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
            await _insert_checkpoint(tx, checkpoint)
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
            record = await self._select(tx, execution_id, lock=False)
            if record is not None:
                await self._wake_parent(tx, record)
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
        wakeups_seen: int = 0,
        history: Sequence[NewHistory] = (),
    ) -> bool:
        """Give the run back (PENDING, WAITING or PAUSED) to wake at `wake_at`; False if lost.

        `wakeups_seen` is the record's `wakeups` when the run was claimed: a wake-up
        counted since then makes a WAITING release PENDING, so none is lost.
        """
        async with self.database.transaction(write=True) as tx:
            seq = await self._fence(tx, execution_id, owner, attempt, len(history))
            if seq is None:
                return False
            await tx.execute(
                _RELEASE,
                (
                    status.value,
                    wakeups_seen,
                    status.value,
                    status.value,
                    wakeups_seen,
                    wake_at,
                    execution_id,
                ),
            )
            await self._insert_history(tx, execution_id, attempt, seq, history)
        return True

    async def next_wake_at(
        self, workflows: Sequence[WorkflowInfo], queues: Sequence[str]
    ) -> float | None:
        """The earliest `wake_at` of a PENDING or WAITING execution these workers serve."""
        if not workflows or not queues:
            return None
        async with self.database.transaction(write=False) as tx:
            row = await tx.fetchone(
                self._next_wake_sql, (_workflow_list(workflows), json.dumps(list(queues)))
            )
        return None if row is None or row[0] is None else float(row[0])

    async def control_requests(self, owner: str) -> dict[str, str]:
        """The control requests (`"pause"`, `"cancel"`) on executions `owner` holds."""
        async with self.database.transaction(write=False) as tx:
            rows = await tx.fetchall(
                "SELECT execution_id, control FROM rf_executions "
                "WHERE owner = %s AND status = 'RUNNING' AND control IS NOT NULL",
                (owner,),
            )
        return {str(r[0]): str(r[1]) for r in rows}

    # -- signals, tasks, events ----------------------------------------------------------
    async def send_signal(
        self, execution_id: str, name: str, payload: str, now: float
    ) -> ExecutionRecord | None:
        """Buffer a signal and wake the execution if it waits; return the record as it was.

        Returns None for an unknown execution; a closed one is returned unchanged (the
        caller reports `ExecutionClosed`) and takes no signal.
        """
        async with self.database.transaction(write=True) as tx:
            record = await self._select(tx, execution_id, lock=True)
            if record is None or record.status.closed:
                return record
            await tx.execute(
                "INSERT INTO rf_signals (execution_id, name, payload, sent_at) "
                "VALUES (%s, %s, %s, %s)",
                (execution_id, name, payload, now),
            )
            await self._wake(tx, execution_id)
            await self._append(
                tx, execution_id, [NewHistory("SignalReceived", now, name, payload_data(payload))]
            )
            return record

    async def consume_signal(
        self, owner: str, checkpoint: Checkpoint, name: str, history: Sequence[NewHistory] = ()
    ) -> str | None:
        """Take the oldest buffered `name` signal as `checkpoint`'s Ok value, atomically.

        Returns the payload JSON, or None when no such signal is buffered (nothing is
        written). Raises `LeaseLost` when `owner` no longer holds the run.
        """
        async with self.database.transaction(write=True) as tx:
            row = await tx.fetchone(
                "SELECT id, payload FROM rf_signals WHERE execution_id = %s AND name = %s "
                "AND consumed_at_position IS NULL ORDER BY id LIMIT 1",
                (checkpoint.execution_id, name),
            )
            if row is None:
                return None
            seq = await self._fence(
                tx, checkpoint.execution_id, owner, checkpoint.attempt, len(history)
            )
            if seq is None:
                raise LeaseLost(checkpoint.execution_id)
            await tx.execute(
                "UPDATE rf_signals SET consumed_at_position = %s WHERE id = %s",
                (checkpoint.position, row[0]),
            )
            payload = str(row[1])
            await _insert_checkpoint(tx, checkpoint, checkpoint.result.replace("$PAYLOAD", payload))
            await self._insert_history(
                tx, checkpoint.execution_id, checkpoint.attempt, seq, history
            )
            return payload

    async def create_task(self, owner: str, task: TaskRecord) -> bool:
        """Record an external task (once per execution position); False if the lease is lost."""
        async with self.database.transaction(write=True) as tx:
            seq = await self._fence(tx, task.execution_id, owner, task.attempt, 1)
            if seq is None:
                return False
            await tx.execute(
                "INSERT INTO rf_tasks (token, execution_id, attempt, name, position, status, "
                "result, deadline, heartbeat_timeout, heartbeat_deadline, created_at) "
                "VALUES (%s, %s, %s, %s, %s, 'OPEN', NULL, %s, %s, %s, %s)",
                (
                    task.token,
                    task.execution_id,
                    task.attempt,
                    task.name,
                    task.position,
                    task.deadline,
                    task.heartbeat_timeout,
                    task.heartbeat_deadline,
                    task.created_at,
                ),
            )
            await self._insert_history(
                tx,
                task.execution_id,
                task.attempt,
                seq,
                [
                    NewHistory(
                        "TaskScheduled",
                        task.created_at,
                        task.name,
                        json.dumps({"position": task.position}),
                    )
                ],
            )
        return True

    async def task_at(self, execution_id: str, attempt: int, position: int) -> TaskRecord | None:
        """The task scheduled at `position` of run `attempt`, or None."""
        async with self.database.transaction(write=False) as tx:
            row = await tx.fetchone(
                _SELECT_TASK + " WHERE execution_id = %s AND attempt = %s AND position = %s",
                (execution_id, attempt, position),
            )
        return None if row is None else _task(row)

    async def finish_task(
        self, token: str, status: str, result: str | None, now: float
    ) -> TaskRecord | None:
        """Close an OPEN task as `status` with `result` and wake its execution.

        Returns the task as it was before (None: unknown token); a task that was not
        OPEN is returned unchanged.
        """
        async with self.database.transaction(write=True) as tx:
            row = await tx.fetchone(_SELECT_TASK + " WHERE token = %s", (token,))
            if row is None:
                return None
            task = _task(row)
            if task.status != "OPEN":
                return task
            await tx.execute(
                "UPDATE rf_tasks SET status = %s, result = %s WHERE token = %s",
                (status, result, token),
            )
            await self._wake(tx, task.execution_id)
            return task

    async def heartbeat_task(self, token: str, now: float) -> TaskRecord | None:
        """Push an OPEN task's heartbeat deadline forward; returns it as it was (None: unknown)."""
        async with self.database.transaction(write=True) as tx:
            row = await tx.fetchone(_SELECT_TASK + " WHERE token = %s", (token,))
            if row is None:
                return None
            task = _task(row)
            if task.status == "OPEN" and task.heartbeat_timeout is not None:
                await tx.execute(
                    "UPDATE rf_tasks SET heartbeat_deadline = %s WHERE token = %s",
                    (now + task.heartbeat_timeout, token),
                )
            return task

    async def set_event(self, owner: str, checkpoint: Checkpoint, key: str, value: str) -> bool:
        """Publish `value` under `key` and write `checkpoint`, in one transaction."""
        async with self.database.transaction(write=True) as tx:
            seq = await self._fence(tx, checkpoint.execution_id, owner, checkpoint.attempt, 1)
            if seq is None:
                return False
            await tx.execute(
                "INSERT INTO rf_events (execution_id, key, value, set_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (execution_id, key) "
                "DO UPDATE SET value = excluded.value, set_at = excluded.set_at",
                (checkpoint.execution_id, key, value, checkpoint.created_at),
            )
            await _insert_checkpoint(tx, checkpoint)
            await self._insert_history(
                tx,
                checkpoint.execution_id,
                checkpoint.attempt,
                seq,
                [NewHistory("EventSet", checkpoint.created_at, key, payload_data(value))],
            )
        return True

    async def get_event(self, execution_id: str, key: str) -> tuple[bool, str | None]:
        """(execution exists, the event's value JSON or None)."""
        async with self.database.transaction(write=False) as tx:
            exists = await tx.fetchone(
                "SELECT 1 FROM rf_executions WHERE execution_id = %s", (execution_id,)
            )
            if exists is None:
                return False, None
            row = await tx.fetchone(
                "SELECT value FROM rf_events WHERE execution_id = %s AND key = %s",
                (execution_id, key),
            )
        return True, None if row is None else str(row[0])

    async def step_result(self, execution_id: str, key: str) -> tuple[bool, str | None]:
        """(execution exists, the current run's checkpoint JSON under `key` or None)."""
        async with self.database.transaction(write=False) as tx:
            record = await tx.fetchone(
                "SELECT attempts FROM rf_executions WHERE execution_id = %s", (execution_id,)
            )
            if record is None:
                return False, None
            row = await tx.fetchone(
                "SELECT result FROM rf_checkpoints "
                "WHERE execution_id = %s AND attempt = %s AND key = %s",
                (execution_id, record[0], key),
            )
        return True, None if row is None else str(row[0])

    # -- control ----------------------------------------------------------------------
    async def control(
        self, execution_id: str, action: str, now: float, reason: str | None = None
    ) -> tuple[ExecutionRecord | None, bool]:
        """Apply `action` (pause, unpause, cancel, terminate, resume) to an execution.

        Returns (the record before, whether the action applied). What applies:
        - pause: RUNNING → control flag (the worker stops at the next step boundary);
          PENDING/WAITING → PAUSED at once (a waiting one's wake time is kept).
        - unpause: PAUSED → PENDING (replays, and waits again if its wait is not over);
          a RUNNING one with a pending pause request has the request withdrawn.
        - cancel: any open status → control flag and runnable, so a worker replays it,
          runs its compensations and ends it CANCELLED.
        - terminate: any open status → TERMINATED at once (no compensation).
        - resume: FAILED/CANCELLED/TIMED_OUT → PENDING; the failed step's checkpoint is
          set aside (history keeps it) so it runs again.
        """
        async with self.database.transaction(write=True) as tx:
            record = await self._select(tx, execution_id, lock=True)
            if record is None:
                return None, False
            status = record.status
            history: list[NewHistory] = []
            if action == "pause":
                if status is Status.RUNNING and record.control is None:
                    await tx.execute(
                        "UPDATE rf_executions SET control = 'pause' WHERE execution_id = %s",
                        (execution_id,),
                    )
                elif status in (Status.PENDING, Status.WAITING):
                    await tx.execute(
                        "UPDATE rf_executions SET status = 'PAUSED' WHERE execution_id = %s",
                        (execution_id,),
                    )
                    history.append(NewHistory("WorkflowPaused", now))
                else:
                    return record, False
            elif action == "unpause":
                if status is Status.PAUSED:
                    await tx.execute(
                        "UPDATE rf_executions SET status = 'PENDING', control = NULL, "
                        "wake_at = 0 WHERE execution_id = %s",
                        (execution_id,),
                    )
                    history.append(NewHistory("WorkflowUnpaused", now))
                elif status is Status.RUNNING and record.control == "pause":
                    await tx.execute(
                        "UPDATE rf_executions SET control = NULL WHERE execution_id = %s",
                        (execution_id,),
                    )
                else:
                    return record, False
            elif action == "cancel":
                if status.closed:
                    return record, False
                await tx.execute(
                    "UPDATE rf_executions SET control = 'cancel' WHERE execution_id = %s",
                    (execution_id,),
                )
                if status is not Status.RUNNING:
                    await tx.execute(
                        "UPDATE rf_executions SET status = 'PENDING', wake_at = 0 "
                        "WHERE execution_id = %s",
                        (execution_id,),
                    )
                history.append(
                    NewHistory("CancelRequested", now, data=json.dumps({"reason": reason}))
                )
            elif action == "terminate":
                if status.closed:
                    return record, False
                await tx.execute(
                    "UPDATE rf_executions SET status = 'TERMINATED', ended_at = %s, owner = NULL, "
                    "lease_until = NULL, wake_at = NULL, control = NULL, error = %s "
                    "WHERE execution_id = %s",
                    (now, json.dumps({"reason": reason}), execution_id),
                )
                history.append(
                    NewHistory("WorkflowTerminated", now, data=json.dumps({"reason": reason}))
                )
                await self._wake_parent(tx, record)
            elif action == "resume":
                if status not in (Status.FAILED, Status.CANCELLED, Status.TIMED_OUT):
                    return record, False
                last = await tx.fetchone(
                    "SELECT key, result FROM rf_checkpoints WHERE execution_id = %s "
                    "AND attempt = %s ORDER BY position DESC LIMIT 1",
                    (execution_id, record.attempts),
                )
                if last is not None and _is_err(str(last[1])):
                    await tx.execute(
                        "DELETE FROM rf_checkpoints WHERE execution_id = %s AND attempt = %s "
                        "AND key = %s",
                        (execution_id, record.attempts, last[0]),
                    )
                await tx.execute(
                    "UPDATE rf_executions SET status = 'PENDING', wake_at = 0, ended_at = NULL, "
                    "output = NULL, error = NULL, control = NULL, timeout_at = NULL "
                    "WHERE execution_id = %s",
                    (execution_id,),
                )
                history.append(NewHistory("WorkflowResumed", now))
            else:
                raise ValueError(f"unknown control action {action!r}")
            if history:
                await self._append(tx, execution_id, history)
            await self._notify(tx)
            return record, True

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

    async def _notify(self, tx: Transaction) -> None:
        """Wake idle workers of other processes when this transaction commits.

        PostgreSQL delivers `NOTIFY` on commit to every worker listening on the
        channel; SQLite has no such thing, and its workers poll.
        """
        if self.dialect == "postgres":
            await tx.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))

    async def _wake(self, tx: Transaction, execution_id: str) -> None:
        """Make a WAITING execution runnable now (a worker replays it and looks again)."""
        await self._notify(tx)
        await tx.execute(
            "UPDATE rf_executions SET wakeups = wakeups + 1, "
            "status = CASE WHEN status = 'WAITING' THEN 'PENDING' ELSE status END, "
            "wake_at = CASE WHEN status = 'WAITING' THEN 0 ELSE wake_at END "
            "WHERE execution_id = %s",
            (execution_id,),
        )

    async def _wake_parent(self, tx: Transaction, record: ExecutionRecord) -> None:
        if record.parent is not None:
            await self._wake(tx, record.parent.execution_id)

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
        timeout_s=None if row[18] is None else float(row[18]),
        owner=row[19],
        lease_until=None if row[20] is None else float(row[20]),
        control=row[21],
        wakeups=int(row[22]),
    )


async def _insert_checkpoint(
    tx: Transaction, checkpoint: Checkpoint, result: str | None = None
) -> None:
    """Insert `checkpoint`'s row (with `result` instead of its own, when given)."""
    await tx.execute(
        _INSERT_CHECKPOINT,
        (
            checkpoint.execution_id,
            checkpoint.attempt,
            checkpoint.key,
            checkpoint.position,
            checkpoint.kind,
            checkpoint.name,
            checkpoint.result if result is None else result,
            checkpoint.created_at,
        ),
    )


def _is_err(result_json: str) -> bool:
    """True when a checkpoint's Result JSON is an Err."""
    try:
        data = json.loads(result_json)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("ok") is False  # pyright: ignore[reportUnknownMemberType]


def payload_data(payload_json: str) -> str:
    """A history `data` document carrying an encoded payload."""
    return '{"payload": ' + payload_json + "}"


def _workflow_list(workflows: Sequence[WorkflowInfo]) -> str:
    return json.dumps([{"n": w.name, "v": w.version} for w in workflows])


def _task(row: Sequence[Any]) -> TaskRecord:
    return TaskRecord(
        token=str(row[0]),
        execution_id=str(row[1]),
        attempt=int(row[2]),
        name=str(row[3]),
        position=int(row[4]),
        status=str(row[5]),
        result=row[6],
        deadline=None if row[7] is None else float(row[7]),
        heartbeat_timeout=None if row[8] is None else float(row[8]),
        heartbeat_deadline=None if row[9] is None else float(row[9]),
        created_at=float(row[10]),
    )
