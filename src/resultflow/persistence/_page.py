"""`Page`: one page of a listing, with the cursor that fetches the next one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Page"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Some `items` of a listing; pass `next_cursor` back to get the rest (None: no more).

    A cursor is opaque: only hand back one that a listing returned.
    """

    items: list[T] = field(default_factory=list[T])
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
