"""`approval_handler`: a framework-agnostic endpoint for approve / reject / cancel requests.

```python
handle = approval_handler(store, authorize=lambda request: current_user(request))
response = await handle({"key": "refund:42", "action": "approve", "value": 120})
response.status, response.body      # 200, {"key": "refund:42", "status": "approved", ...}
```

The request is a mapping, or an object with a `.json()` method (sync or async, like
Starlette's `Request`), holding `key` (a non-empty string), `action` (`approve`,
`reject` or `cancel`), `value` (what an approval yields; any JSON) and `reason` (a
string, required to reject). The acting user comes from `authorize(request)` (sync or
async), never from the payload.

| status | when |
| --- | --- |
| 200 | decided; the body is the decided record |
| 400 | not JSON, not an object, or invalid fields (`body["fields"]` maps each to its problem) |
| 403 | `authorize` returned None or an empty name |
| 404 | no such approval |
| 409 | the approval is already decided (also expired or cancelled) |

Authorization runs first, so an unauthorized caller learns nothing about the payload.
The `value` is checked with the persistence codec before anything is decided (a value
the stores could not write or read back, e.g. nested hundreds deep, is a 400 and nothing
is recorded). `on_decision(record)` (optional, sync or async) runs after a successful
decision — for example `lambda record: orchestrator.resume_waiting(record.key)`. The
decision stands whatever `on_decision` does: if it raises, the error is logged on the
`resultflow.hitl` logger and the answer is still 200 (with `"on_decision": "failed"`),
so the client does not retry a decision that was made and get a 409.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, cast

from resultflow.hitl._approval_store import (
    ApprovalAlreadyDecided,
    ApprovalDecision,
    ApprovalNotFound,
    ApprovalRecord,
    ApprovalStore,
)
from resultflow.persistence._decoder import decode_value
from resultflow.persistence._encoder import encode_value
from resultflow.persistence._errors import SerializationError, StateDecodeError
from resultflow.result import Err

__all__ = ["ApprovalAction", "ApprovalHandler", "HandlerResponse", "approval_handler"]

ApprovalAction: TypeAlias = Literal["approve", "reject", "cancel"]
"""What a request asks for."""

_ACTIONS: tuple[ApprovalAction, ...] = ("approve", "reject", "cancel")
logger = logging.getLogger("resultflow.hitl")

Authorize: TypeAlias = Callable[[object], "str | Awaitable[str | None] | None"]
"""`authorize(request) -> actor name | None` (sync or async); None refuses with 403."""


@dataclass(frozen=True, slots=True)
class HandlerResponse:
    """An HTTP-style answer: `status` code and a JSON-safe `body`."""

    status: int
    body: dict[str, object] = field(default_factory=dict[str, object])


ApprovalHandler: TypeAlias = Callable[[object], Awaitable[HandlerResponse]]
"""`await handle(request) -> HandlerResponse`."""


@dataclass(frozen=True, slots=True)
class _Command:
    key: str
    action: ApprovalAction
    value: object
    reason: str | None


def approval_handler(
    store: ApprovalStore,
    authorize: Authorize,
    *,
    on_decision: Callable[[ApprovalRecord], object] | None = None,
) -> ApprovalHandler:
    """Make `handle(request)` that applies approve / reject / cancel requests to `store`."""

    async def handle(request: object) -> HandlerResponse:
        actor = await _settle(authorize(request))
        if actor is not None and not isinstance(actor, str):
            raise TypeError(f"authorize must return an actor name (str) or None, not {actor!r}")
        if actor is None or not actor.strip():  # "" names no one: it authorizes no one
            return HandlerResponse(403, {"error": "forbidden", "message": "not authorized"})
        payload = await _payload(request)
        if isinstance(payload, HandlerResponse):
            return payload
        command = _validate(payload)
        if isinstance(command, HandlerResponse):
            return command
        decided = await _apply(store, command, actor)
        if isinstance(decided, Err):
            return _refusal(decided.error)
        body = _record_body(decided.value)
        if on_decision is not None:
            try:
                await _settle(on_decision(decided.value))
            except Exception:
                logger.exception(
                    "approval %r was decided (%s) but on_decision failed",
                    command.key,
                    decided.value.state,
                )
                body["on_decision"] = "failed"
        return HandlerResponse(200, body)

    return handle


async def _payload(request: object) -> Mapping[str, object] | HandlerResponse:
    """The request's JSON object, or a 400 response saying why there is none."""
    read = getattr(request, "json", None)
    if not callable(read):  # Starlette's Request is a Mapping too: `.json()` comes first
        if isinstance(request, Mapping):
            return cast("Mapping[str, object]", request)
        return _bad_request("the request has no JSON body", {})
    try:
        data: object = await _settle(read())
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        return _bad_request(f"the body is not valid JSON: {exc}", {})
    except RecursionError:
        return _bad_request("the body is not valid JSON: nested too deeply", {})
    if not isinstance(data, Mapping):
        return _bad_request(f"the body must be a JSON object, not {type(data).__name__}", {})
    return cast("Mapping[str, object]", data)


def _validate(payload: Mapping[str, object]) -> _Command | HandlerResponse:
    """Check every field; a 400 response lists each invalid one."""
    problems: dict[str, object] = {}
    key = payload.get("key")
    if not isinstance(key, str) or not key:
        problems["key"] = "required: a non-empty string"
    elif not _is_unicode(key):
        problems["key"] = "must be valid Unicode (no lone surrogates)"
    action = payload.get("action")
    if not isinstance(action, str) or action not in _ACTIONS:
        problems["action"] = "required: one of approve, reject, cancel"
    reason = payload.get("reason")
    if reason is not None and not isinstance(reason, str):
        problems["reason"] = "must be a string"
    elif reason is not None and not _is_unicode(reason):
        problems["reason"] = "must be valid Unicode (no lone surrogates)"
    elif action == "reject" and not reason:
        problems["reason"] = "required to reject: a non-empty string"
    value = payload.get("value")
    if not _is_json(value):
        problems["value"] = "must be JSON data"
    elif not _is_storable(value):
        problems["value"] = "cannot be stored: nested too deeply or too large"
    if problems:
        return _bad_request("invalid fields: " + ", ".join(problems), problems)
    return _Command(
        key=cast("str", key),
        action=cast("ApprovalAction", action),
        value=value,
        reason=cast("str | None", reason),
    )


async def _apply(store: ApprovalStore, command: _Command, actor: str) -> ApprovalDecision:
    if command.action == "approve":
        return await store.grant(command.key, command.value, actor)
    if command.action == "reject":
        assert command.reason is not None
        return await store.reject(command.key, command.reason, actor)
    return await store.cancel(command.key, actor)


def _refusal(error: ApprovalNotFound | ApprovalAlreadyDecided) -> HandlerResponse:
    if isinstance(error, ApprovalNotFound):
        return HandlerResponse(
            404,
            {"error": "not_found", "key": error.key, "message": f"no approval {error.key!r}"},
        )
    return HandlerResponse(
        409,
        {
            "error": "already_decided",
            "key": error.key,
            "status": error.status,
            "message": f"approval {error.key!r} is already {error.status}",
        },
    )


def _bad_request(message: str, fields: dict[str, object]) -> HandlerResponse:
    return HandlerResponse(400, {"error": "invalid_request", "message": message, "fields": fields})


def _record_body(record: ApprovalRecord) -> dict[str, object]:
    return {
        "key": record.key,
        "status": record.state,
        "value": encode_value(record.value),
        "reason": record.reason,
        "actor": record.actor,
        "created_at": record.created_at,
        "decided_at": record.decided_at,
        "expires_at": record.expires_at,
    }


def _is_unicode(text: str) -> bool:
    r"""False for strings no store or JSON response can hold (lone surrogates from `\ud800`)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_json(value: object) -> bool:
    """True when `value` is JSON data a UTF-8 response can carry (no NaN, no lone surrogates)."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return False
    return True


def _is_storable(value: object) -> bool:
    """True when the stores' codec writes `value` and reads back an equal value."""
    try:
        encoded = encode_value(value, path="value")
        text = json.dumps(encoded, allow_nan=False)
        return decode_value(json.loads(text), path="value") == value
    except (SerializationError, StateDecodeError, ValueError, RecursionError):
        return False


async def _settle(value: object) -> object:
    if inspect.isawaitable(value):
        return await value
    return value
