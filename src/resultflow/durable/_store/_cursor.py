"""Opaque keyset cursors for the store's listings.

A cursor carries the sort key of the last row a page showed, so the next page starts
right after it: rows inserted meanwhile never shift a page, and none is skipped or
repeated. It is JSON in URL-safe base64 with a short keyed digest, so a string that no
listing returned is refused (`ValueError`) instead of being silently misread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

__all__ = ["decode_cursor", "encode_cursor"]

_KEY = b"resultflow.durable.cursor.v1"
_DIGEST = 8


def encode_cursor(kind: str, position: list[object]) -> str:
    """A cursor for listing `kind` that resumes after the row at `position`."""
    body = json.dumps([kind, position], separators=(",", ":")).encode()
    digest = hashlib.blake2b(body, key=_KEY, digest_size=_DIGEST).digest()
    return base64.urlsafe_b64encode(digest + body).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> list[object]:
    """The position inside `cursor`, or `ValueError` if no `kind` listing made it."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a cursor of a {kind} listing: {cursor!r}") from exc
    digest, body = raw[:_DIGEST], raw[_DIGEST:]
    expected = hashlib.blake2b(body, key=_KEY, digest_size=_DIGEST).digest()
    if len(digest) != _DIGEST or not hmac.compare_digest(digest, expected):
        raise ValueError(f"not a cursor of a {kind} listing: {cursor!r}")
    found_kind, position = json.loads(body)
    if found_kind != kind or not isinstance(position, list):
        raise ValueError(f"a cursor of the {found_kind} listing, not of the {kind} listing")
    return list(position)  # pyright: ignore[reportUnknownArgumentType]
