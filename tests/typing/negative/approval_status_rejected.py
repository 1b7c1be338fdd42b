"""Approval status usage that both checkers must reject (each marked line)."""

from __future__ import annotations

from typing import assert_never

from resultflow.hitl import Approved, Pending, Rejected
from resultflow.hitl._approval import ApprovalStatus


def forgets_rejected(status: ApprovalStatus[int]) -> str:
    match status:
        case Pending():
            return "pending"
        case Approved():
            return "approved"
        case _:
            assert_never(status)  # expect-error


def wrong_value_type(status: Approved[int]) -> str:
    text: str = status.value  # expect-error
    return text


def rejected_has_no_value(status: Rejected) -> object:
    return status.value  # expect-error
