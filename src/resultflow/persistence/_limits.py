"""`CodecLimits`: what the codec accepts, so hostile stored data cannot make decoding slow.

Decoding must stay near-linear in the size of its input whatever the input is, because
stored data may come from outside (a shared store, a webhook). Three things could break
that, and each has a limit, enforced the same way by the encoder (a `SerializationError`
when writing) and by the decoder (a `StateFormatError` when reading), so that whatever the
encoder accepts, the decoder reads back:

- **nesting** (`max_depth`): deep data is refused before it exhausts the stack;
- **hash collisions** (`max_hash_collisions`): a set, frozenset or dict key list whose
  items share one hash value (ints that differ by multiples of 2**61 - 1, say) would make
  Python's hash table quadratic: 50,000 such ints take ~10 s to put in a set. Counting
  items per hash value is linear, so too many items with one hash are refused before the
  set or dict is built;
- **document size** (`max_document_size`): the JSON text `loads_state` parses and
  `dumps_state` writes.

`classes` chooses which classes decoding may build: every dataclass, Enum, NamedTuple,
pydantic model, msgspec struct and TaggedError of an imported module (`"imported"`, the
default), or only registered ones (`"registered"`, the recommendation for data that crosses
a trust boundary). See `resultflow.persistence._registry`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, TypeAlias, cast

from resultflow.persistence._errors import StateFormatError

__all__ = [
    "ClassPolicy",
    "CodecLimitError",
    "CodecLimits",
    "LimitName",
    "codec_limits",
    "crowded_hash",
    "set_codec_limits",
]

ClassPolicy: TypeAlias = Literal["imported", "registered"]
"""Which classes decoding may build: any of an imported module, or only registered ones."""

LimitName: TypeAlias = Literal["max_depth", "max_hash_collisions", "max_document_size", "classes"]
"""The `CodecLimits` field that refused some data."""


class CodecLimitError(StateFormatError):
    """Stored data went past a `CodecLimits` bound: `limit` names which one.

    A `StateFormatError` like any other unreadable data (same `message`, `path`,
    `version`), so existing handling keeps working; match this class to tell data
    refused by a limit (possibly hostile, or a limit set too tight) from damaged data.
    """

    limit: LimitName = "max_depth"


@dataclass(frozen=True, slots=True)
class CodecLimits:
    """Bounds on what the codec writes and reads; see `set_codec_limits`.

    - `max_depth`: how deeply values may nest (each container, result, error or object
      is one level);
    - `max_hash_collisions`: how many items of one set, frozenset or dict (non-string
      keys) may share a hash value;
    - `max_document_size`: the length of a state document's JSON text, or None for no
      limit;
    - `classes`: `"imported"` (any dataclass, Enum, NamedTuple, model or TaggedError of an
      imported module) or `"registered"` (only classes given to `register_codec`, and
      resultflow's own errors).
    """

    max_depth: int = 100
    max_hash_collisions: int = 32
    max_document_size: int | None = 64 * 1024 * 1024
    classes: ClassPolicy = "imported"

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_hash_collisions"):
            value: object = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"CodecLimits.{name} must be a positive int, not {value!r}")
        size: object = self.max_document_size
        if size is not None and (type(size) is not int or size < 1):
            raise ValueError(
                f"CodecLimits.max_document_size must be a positive int or None, not {size!r}"
            )
        if self.classes not in ("imported", "registered"):
            raise ValueError(
                f"CodecLimits.classes must be 'imported' or 'registered', not {self.classes!r}"
            )


_current = CodecLimits()


def codec_limits() -> CodecLimits:
    """The limits the codec applies when a call is not given its own."""
    return _current


def set_codec_limits(limits: CodecLimits) -> CodecLimits:
    """Make `limits` the process-wide default of every codec call; returns the previous one.

    Stores, the HITL orchestrator and approval handlers all read and write through the
    codec, so this is the one place to tighten (or loosen) what they accept. Calls that
    take `limits=` override it for that call.
    """
    global _current
    if not isinstance(cast("object", limits), CodecLimits):
        raise TypeError(f"expected CodecLimits, not {type(limits).__name__}")
    previous, _current = _current, limits
    return previous


def crowded_hash(values: Iterable[object], limit: int) -> int | None:
    """The index of the first value past `limit` values sharing one hash, or None.

    Linear: the counts are keyed by hash values, which are distinct ints (an int's hash
    is itself up to 2**61 - 1, so at most a few of them can collide in this dict).
    Hashing may raise (an unhashable value): the caller reports that.
    """
    counts: dict[int, int] = {}
    for index, value in enumerate(values):
        key = hash(value)
        count = counts.get(key, 0) + 1
        if count > limit:
            return index
        counts[key] = count
    return None
