"""Store URLs: which database an `Engine` or `Client` talks to.

SQLite URLs follow SQLAlchemy's form: `sqlite:///rel/path.db` (relative to the working
directory), `sqlite:////abs/path.db`, `sqlite://:memory:` (one process only);
PostgreSQL takes any libpq URL (`postgresql://user@host/db?options=...`). With no URL,
`RESULTFLOW_DB` decides, else `sqlite:///resultflow.db`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFAULT_URL", "StoreURL", "parse_store_url"]

DEFAULT_URL = "sqlite:///resultflow.db"
"""The store an `Engine()` uses when neither an argument nor `RESULTFLOW_DB` names one."""


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store URL: the `dialect` and where its data lives.

    For SQLite `target` is a filesystem path or `":memory:"`; for PostgreSQL it is the
    URL itself, handed to libpq unchanged.
    """

    dialect: Literal["sqlite", "postgres"]
    target: str

    @property
    def in_memory(self) -> bool:
        """True for `sqlite://:memory:`, whose data lives and dies with the process."""
        return self.dialect == "sqlite" and self.target == ":memory:"


def parse_store_url(url: str | None) -> StoreURL:
    """Parse `url` (None: `RESULTFLOW_DB`, then the default) or raise `ValueError`."""
    text = url if url is not None else os.environ.get("RESULTFLOW_DB") or DEFAULT_URL
    if text in ("sqlite://:memory:", "sqlite:///:memory:"):
        return StoreURL("sqlite", ":memory:")
    if text.startswith("sqlite:///"):
        path = text[len("sqlite:///") :]
        if not path:
            raise ValueError(f"store URL {text!r} names no file (sqlite:///path.db)")
        return StoreURL("sqlite", path)
    if text.startswith(("postgresql://", "postgres://")):
        return StoreURL("postgres", text)
    scheme = text.split(":", 1)[0] if ":" in text else text
    raise ValueError(
        f"unsupported store URL scheme {scheme!r}: use sqlite:///path.db, "
        "sqlite://:memory: or postgresql://..."
    )
