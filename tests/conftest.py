"""Shared fixtures: real PostgreSQL and Redis servers, isolated per test.

Connection URLs come from RESULTFLOW_TEST_POSTGRES / RESULTFLOW_TEST_REDIS. When a
server is unreachable the test is skipped with the reason, unless
RESULTFLOW_REQUIRE_SERVICES=1 (as in CI), where it fails instead.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

POSTGRES_URL = os.environ.get(
    "RESULTFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("RESULTFLOW_TEST_REDIS", "redis://127.0.0.1:6379/0")


def services_required() -> bool:
    """True when a missing server must fail the run (CI)."""
    return os.environ.get("RESULTFLOW_REQUIRE_SERVICES", "") not in ("", "0", "false")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def _require(url: str, default_port: int, what: str) -> None:
    if _reachable(url, default_port):
        return
    message = f"{what} is not reachable at {url}"
    if services_required():
        pytest.fail(f"{message} and RESULTFLOW_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> str:
    """The URL of the real PostgreSQL server (skips or fails when it is down)."""
    _require(POSTGRES_URL, 5432, "PostgreSQL")
    return POSTGRES_URL


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema name for one test, dropped afterwards."""
    import psycopg

    schema = f"rf_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')  # name made here, not user input
    try:
        yield schema
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def redis_url() -> str:
    """The URL of the real Redis server (skips or fails when it is down)."""
    _require(REDIS_URL, 6379, "Redis")
    return REDIS_URL


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix unique to one test (tests clean their keys up with it)."""
    return f"rf-test:{uuid.uuid4().hex[:12]}:"
