"""Typed usage of approval statuses and records (checked by mypy and pyright)."""

from __future__ import annotations

from typing import assert_never, assert_type

from resultflow.hitl import ApprovalRecord, Approved, Pending, Rejected
from resultflow.hitl._approval import ApprovalStatus


def describe(record: ApprovalRecord) -> str:
    match record.status:
        case Pending(reason=reason):
            assert_type(reason, str | None)
            return f"waiting: {reason}"
        case Approved(value=value):
            assert_type(value, object)
            return f"approved with {value!r}"
        case Rejected(reason=reason):
            return f"rejected: {reason}"
        case _:
            assert_never(record.status)


def amount(status: ApprovalStatus[int]) -> int:
    if isinstance(status, Approved):
        assert_type(status.value, int)
        return status.value
    return 0
