"""The span and metric attribute names the OpenTelemetry adapter writes.

Names live in a `resultflow.*` namespace, plus `error.type` and `service.name` from the
OpenTelemetry semantic conventions. They are constants here so that queries, dashboards
and tests can import them instead of retyping strings.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "APPROVAL_KEY",
    "APPROVAL_REASON",
    "CACHE_HIT",
    "CACHE_HIT_EVENT",
    "ERROR_MESSAGE",
    "ERROR_TAG",
    "ERROR_TYPE",
    "RETRY_DELAY_S",
    "RETRY_EVENT",
    "SCOPE_ID",
    "SCOPE_KIND",
    "SCOPE_NAME",
    "SERVICE_NAME",
    "SKIPPED_EVENT",
    "SKIP_REASON",
    "STEP_ABORTED",
    "STEP_ABORT_REASON",
    "STEP_ATTEMPT",
    "STEP_ID",
    "STEP_KEY",
    "STEP_NOTE",
    "STEP_NAME",
    "STEP_OUTCOME",
    "TIMEOUT_EVENT",
    "TIMEOUT_S",
    "WORKFLOW_ID",
    "WORKFLOW_NAME",
    "WORKFLOW_OUTCOME",
]

WORKFLOW_ID: Final = "resultflow.workflow.id"
WORKFLOW_NAME: Final = "resultflow.workflow.name"
WORKFLOW_OUTCOME: Final = "resultflow.workflow.outcome"
"""Metric attribute of `resultflow.workflow.duration`: `ok`, `error` or `cancelled`."""

STEP_ID: Final = "resultflow.step.id"
STEP_NAME: Final = "resultflow.step.name"
STEP_KEY: Final = "resultflow.step.key"
STEP_ATTEMPT: Final = "resultflow.step.attempt"
STEP_NOTE: Final = "resultflow.step.note"
STEP_OUTCOME: Final = "resultflow.step.outcome"
"""Metric attribute of `resultflow.step.duration`: `ok` or `error`."""
STEP_ABORTED: Final = "resultflow.step.aborted"
STEP_ABORT_REASON: Final = "resultflow.step.abort_reason"

SCOPE_ID: Final = "resultflow.scope.id"
SCOPE_KIND: Final = "resultflow.scope.kind"
SCOPE_NAME: Final = "resultflow.scope.name"

ERROR_TAG: Final = "resultflow.error.tag"
ERROR_MESSAGE: Final = "resultflow.error.message"
ERROR_TYPE: Final = "error.type"
SERVICE_NAME: Final = "service.name"

RETRY_EVENT: Final = "resultflow.retry"
RETRY_DELAY_S: Final = "resultflow.retry.delay_s"
CACHE_HIT_EVENT: Final = "resultflow.cache_hit"
CACHE_HIT: Final = "resultflow.cache_hit"
"""Attribute set to true on a cache-hit span event (named like the event)."""
TIMEOUT_EVENT: Final = "resultflow.timeout"
TIMEOUT_S: Final = "resultflow.timeout_s"
SKIPPED_EVENT: Final = "resultflow.step_skipped"
SKIP_REASON: Final = "resultflow.skip_reason"
APPROVAL_KEY: Final = "resultflow.approval.key"
APPROVAL_REASON: Final = "resultflow.approval.reason"
