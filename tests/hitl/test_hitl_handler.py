"""approval_handler: 200 / 400 / 403 / 404 / 409, mappings and request objects, sync and async."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request

from resultflow.hitl import (
    ApprovalRecord,
    HandlerResponse,
    MemoryApprovalStore,
    approval_handler,
)
from resultflow.testing._clock import TestClock


def allow(request: object) -> str:
    return "ann"


async def allow_async(request: object) -> str:
    return "bob"


def deny(request: object) -> None:
    return None


class JsonRequest:
    """A request with a sync `.json()` (like a Flask-style object)."""

    def __init__(self, body: str) -> None:
        self.body = body

    def json(self) -> object:
        return json.loads(self.body)


def starlette_request(body: bytes) -> Request:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/approvals", "headers": []}
    return Request(scope, receive)


def nested(depth: int) -> list[object]:
    """A list nested `depth` levels deep (deeper than the recursion limit allows to dump)."""
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture
async def store() -> MemoryApprovalStore:
    store = MemoryApprovalStore(clock=TestClock())
    await store.create_pending("refund:1")
    await store.create_pending("refund:2")
    return store


async def test_approve_returns_200_with_the_record(store: MemoryApprovalStore) -> None:
    handle = approval_handler(store, allow)
    response = await handle({"key": "refund:1", "action": "approve", "value": {"amount": 5}})
    assert response.status == 200
    assert response.body["status"] == "approved"
    assert response.body["value"] == {"amount": 5}
    assert response.body["actor"] == "ann"
    record = await store.get("refund:1")
    assert record is not None and record.value == {"amount": 5} and record.actor == "ann"
    json.dumps(response.body)  # JSON-safe


async def test_reject_and_cancel_through_request_objects(store: MemoryApprovalStore) -> None:
    handle = approval_handler(store, allow_async)
    rejected = await handle(
        starlette_request(b'{"key": "refund:1", "action": "reject", "reason": "too big"}')
    )
    assert rejected.status == 200
    assert (rejected.body["status"], rejected.body["reason"], rejected.body["actor"]) == (
        "rejected",
        "too big",
        "bob",
    )
    cancelled = await handle(JsonRequest('{"key": "refund:2", "action": "cancel"}'))
    assert cancelled.status == 200
    assert cancelled.body["reason"] == "cancelled"


async def test_unauthorized_is_403_before_the_payload_is_read(store: MemoryApprovalStore) -> None:
    handle = approval_handler(store, deny)
    response = await handle(JsonRequest("not json at all"))
    assert response == HandlerResponse(403, {"error": "forbidden", "message": "not authorized"})
    record = await store.get("refund:1")
    assert record is not None and record.is_pending


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"key", "action"}),
        ({"key": "", "action": "approve"}, {"key"}),
        ({"key": 7, "action": "approve"}, {"key"}),
        ({"key": "refund:1", "action": "maybe"}, {"action"}),
        ({"key": "refund:1", "action": "reject"}, {"reason"}),
        ({"key": "refund:1", "action": "reject", "reason": ""}, {"reason"}),
        ({"key": "refund:1", "action": "approve", "reason": 3}, {"reason"}),
        ({"key": "refund:1", "action": "approve", "value": float("nan")}, {"value"}),
        ({"key": "refund:1", "action": "approve", "value": object()}, {"value"}),
        # JSON can carry lone surrogates ("\\ud800"): no store or UTF-8 response can
        ({"key": "refund:\ud800", "action": "approve"}, {"key"}),
        ({"key": "refund:1", "action": "reject", "reason": "\udfff"}, {"reason"}),
        ({"key": "refund:1", "action": "approve", "value": ["\ud800"]}, {"value"}),
        ({"key": "refund:1", "action": "approve", "value": nested(10_000)}, {"value"}),
        ({"key": ["refund:1"], "action": ["approve"]}, {"key", "action"}),
    ],
)
async def test_malformed_payload_is_400_naming_the_fields(
    store: MemoryApprovalStore, payload: dict[str, object], fields: set[str]
) -> None:
    handle = approval_handler(store, allow)
    response = await handle(payload)
    assert response.status == 400
    assert response.body["error"] == "invalid_request"
    problems = response.body["fields"]
    assert isinstance(problems, dict)
    assert set(problems) == fields
    for name in fields:
        assert name in str(response.body["message"])
    record = await store.get("refund:1")
    assert record is not None and record.is_pending


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (JsonRequest("{truncated"), "not valid JSON"),
        (JsonRequest("[1, 2]"), "must be a JSON object"),
        (JsonRequest("[" * 100_000 + "]" * 100_000), "nested too deeply"),
        (object(), "no JSON body"),
    ],
)
async def test_unreadable_bodies_are_400(
    store: MemoryApprovalStore, request_: object, message: str
) -> None:
    response = await approval_handler(store, allow)(request_)
    assert response.status == 400
    assert message in str(response.body["message"])


async def test_invalid_json_from_starlette_is_400(store: MemoryApprovalStore) -> None:
    response = await approval_handler(store, allow)(starlette_request(b"{oops"))
    assert response.status == 400


async def test_lone_surrogates_parsed_from_json_are_400_not_a_crash(
    store: MemoryApprovalStore,
) -> None:
    response = await approval_handler(store, allow)(
        starlette_request(b'{"key": "refund:1\\ud800", "action": "approve"}')
    )
    assert response.status == 400
    assert response.body["fields"] == {"key": "must be valid Unicode (no lone surrogates)"}
    json.dumps(response.body, ensure_ascii=False).encode("utf-8")  # a response can carry it


async def test_unknown_key_is_404(store: MemoryApprovalStore) -> None:
    response = await approval_handler(store, allow)({"key": "ghost", "action": "approve"})
    assert response.status == 404
    assert response.body["key"] == "ghost"


async def test_already_decided_is_409(store: MemoryApprovalStore) -> None:
    handle = approval_handler(store, allow)
    assert (await handle({"key": "refund:1", "action": "approve", "value": 1})).status == 200
    again = await handle({"key": "refund:1", "action": "reject", "reason": "late"})
    assert again.status == 409
    assert (again.body["error"], again.body["status"]) == ("already_decided", "approved")


async def test_on_decision_runs_after_success_only(store: MemoryApprovalStore) -> None:
    decided: list[ApprovalRecord] = []

    async def remember(record: ApprovalRecord) -> None:
        decided.append(record)

    handle = approval_handler(store, allow, on_decision=remember)
    await handle({"key": "refund:1", "action": "approve", "value": True})
    await handle({"key": "refund:1", "action": "approve", "value": True})  # 409
    await handle({"key": "nope", "action": "approve"})  # 404
    assert [r.key for r in decided] == ["refund:1"]


async def test_payload_actor_is_ignored_and_bad_authorize_results_raise(
    store: MemoryApprovalStore,
) -> None:
    handle = approval_handler(store, allow)
    response = await handle({"key": "refund:1", "action": "approve", "actor": "mallory"})
    assert response.body["actor"] == "ann"
    with pytest.raises(TypeError, match="actor name"):
        await approval_handler(store, lambda request: 42)({"key": "refund:2"})  # type: ignore[arg-type,return-value]
