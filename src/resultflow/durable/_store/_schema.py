"""The durable store's schema, one list of migrations per dialect.

Version N of the schema is migrations 1..N applied in order; the applied version is
kept in `rf_schema_version`. A store opened on a database whose version is newer than
this library knows refuses to run (it would misread rows written by newer code), and
an older one is upgraded on first use or by `resultflow db upgrade`.

The two dialects keep one logical schema: the same tables, columns and indexes, with
each database's own types (REAL / DOUBLE PRECISION, AUTOINCREMENT / IDENTITY). Times
are epoch seconds; `wake_at` and `timeout_at` follow the engine's clock (virtual under
a `TestClock`), `lease_until` the database server's clock.
"""

from __future__ import annotations

from typing import Final, LiteralString

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

_SQLITE_V1: Final[tuple[LiteralString, ...]] = (
    """CREATE TABLE rf_workflows (
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        registered_at REAL NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    """CREATE TABLE rf_executions (
        execution_id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        version TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        parent_id TEXT,
        parent_seq INTEGER,
        attempts INTEGER NOT NULL DEFAULT 1,
        memo TEXT NOT NULL,
        tags TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        queue TEXT NOT NULL,
        wake_at REAL,
        timeout_at REAL,
        timeout_s REAL,
        owner TEXT,
        lease_until REAL,
        control TEXT,
        wakeups INTEGER NOT NULL DEFAULT 0,
        history_seq INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX rf_executions_created ON rf_executions (created_at, execution_id)",
    "CREATE INDEX rf_executions_workflow ON rf_executions (workflow, created_at)",
    "CREATE INDEX rf_executions_status ON rf_executions (status, created_at)",
    """CREATE INDEX rf_executions_runnable ON rf_executions (queue, wake_at)
        WHERE status IN ('PENDING', 'WAITING')""",
    """CREATE INDEX rf_executions_leased ON rf_executions (lease_until)
        WHERE status = 'RUNNING'""",
    """CREATE TABLE rf_execution_tags (
        tag TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        PRIMARY KEY (tag, execution_id)
    )""",
    """CREATE TABLE rf_checkpoints (
        execution_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        key TEXT NOT NULL,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (execution_id, attempt, key)
    )""",
    """CREATE TABLE rf_history (
        execution_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        type TEXT NOT NULL,
        ts REAL NOT NULL,
        key TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (execution_id, seq)
    )""",
    """CREATE TABLE rf_signals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        execution_id TEXT NOT NULL,
        name TEXT NOT NULL,
        payload TEXT NOT NULL,
        sent_at REAL NOT NULL,
        consumed_at_position INTEGER
    )""",
    "CREATE INDEX rf_signals_pending ON rf_signals (execution_id, name, id)",
    """CREATE TABLE rf_tasks (
        token TEXT PRIMARY KEY,
        execution_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        name TEXT NOT NULL,
        position INTEGER NOT NULL,
        status TEXT NOT NULL,
        result TEXT,
        deadline REAL,
        heartbeat_timeout REAL,
        heartbeat_deadline REAL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX rf_tasks_execution ON rf_tasks (execution_id, position)",
    """CREATE TABLE rf_events (
        execution_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        set_at REAL NOT NULL,
        PRIMARY KEY (execution_id, key)
    )""",
)

_POSTGRES_V1: Final[tuple[LiteralString, ...]] = (
    """CREATE TABLE rf_workflows (
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        registered_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    """CREATE TABLE rf_executions (
        execution_id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        version TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION,
        ended_at DOUBLE PRECISION,
        parent_id TEXT,
        parent_seq INTEGER,
        attempts INTEGER NOT NULL DEFAULT 1,
        memo TEXT NOT NULL,
        tags TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        queue TEXT NOT NULL,
        wake_at DOUBLE PRECISION,
        timeout_at DOUBLE PRECISION,
        timeout_s DOUBLE PRECISION,
        owner TEXT,
        lease_until DOUBLE PRECISION,
        control TEXT,
        wakeups INTEGER NOT NULL DEFAULT 0,
        history_seq INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX rf_executions_created ON rf_executions (created_at, execution_id)",
    "CREATE INDEX rf_executions_workflow ON rf_executions (workflow, created_at)",
    "CREATE INDEX rf_executions_status ON rf_executions (status, created_at)",
    """CREATE INDEX rf_executions_runnable ON rf_executions (queue, wake_at)
        WHERE status IN ('PENDING', 'WAITING')""",
    """CREATE INDEX rf_executions_leased ON rf_executions (lease_until)
        WHERE status = 'RUNNING'""",
    """CREATE TABLE rf_execution_tags (
        tag TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        PRIMARY KEY (tag, execution_id)
    )""",
    """CREATE TABLE rf_checkpoints (
        execution_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        key TEXT NOT NULL,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (execution_id, attempt, key)
    )""",
    """CREATE TABLE rf_history (
        execution_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        type TEXT NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        key TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (execution_id, seq)
    )""",
    """CREATE TABLE rf_signals (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        execution_id TEXT NOT NULL,
        name TEXT NOT NULL,
        payload TEXT NOT NULL,
        sent_at DOUBLE PRECISION NOT NULL,
        consumed_at_position INTEGER
    )""",
    "CREATE INDEX rf_signals_pending ON rf_signals (execution_id, name, id)",
    """CREATE TABLE rf_tasks (
        token TEXT PRIMARY KEY,
        execution_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        name TEXT NOT NULL,
        position INTEGER NOT NULL,
        status TEXT NOT NULL,
        result TEXT,
        deadline DOUBLE PRECISION,
        heartbeat_timeout DOUBLE PRECISION,
        heartbeat_deadline DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX rf_tasks_execution ON rf_tasks (execution_id, position)",
    """CREATE TABLE rf_events (
        execution_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        set_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (execution_id, key)
    )""",
)

MIGRATIONS: Final[dict[str, tuple[tuple[LiteralString, ...], ...]]] = {
    "sqlite": (_SQLITE_V1,),
    "postgres": (_POSTGRES_V1,),
}
"""Per dialect, migration n (1-based) is `MIGRATIONS[dialect][n - 1]`."""

SCHEMA_VERSION: Final = 1
"""The schema version this library writes and reads."""

assert all(len(steps) == SCHEMA_VERSION for steps in MIGRATIONS.values())
