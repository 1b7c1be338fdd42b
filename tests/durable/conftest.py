"""Fixtures for the durable engine's tests: a store on a real SQLite file or PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest

from resultflow.durable._store import DurableStore, open_store

STORES = ["sqlite", "postgres"]


def postgres_store_url(url: str, schema: str) -> str:
    """`url` with its search_path set to `schema`, so each test has its own tables."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL: a SQLite file in tmp_path, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'durable.db'}"
    url: str = request.getfixturevalue("postgres_url")
    schema: str = request.getfixturevalue("postgres_schema")
    return postgres_store_url(url, schema)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[DurableStore]:
    """An open store on `store_url`, closed after the test."""
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()
