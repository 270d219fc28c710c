"""The OpenAPI document is complete enough for a generator: security, every answer typed."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from dialer.publisher import CeleryPublisher, broker_app
from dialer.settings import Settings
from dialer.web import create_app

ERROR_REF = "#/components/schemas/ErrorBody"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    url = "redis://127.0.0.1:1/0"  # never connected: the schema needs no Redis
    s = Settings(redis_url=url, callback_secret="cb", api_token="t",
                 accounts=[{"name": "main", "sid": "AC1", "api_key": "k", "api_token": "x",
                            "caller_id": "08030752400"}])
    return create_app(s, redis.Redis.from_url(url), CeleryPublisher(broker_app(s))).openapi()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, item in doc["paths"].items() for m, op in item.items()]


def test_the_api_declares_its_bearer_scheme_on_every_v1_operation(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer",
        "description": "DIALER_API_TOKEN, as `Authorization: Bearer <token>`"}
    for method, path, op in operations(doc):
        if path.startswith("/v1/callbacks/"):  # Exotel's: signed by its own token
            assert "security" not in op and "403" in op["responses"]
        elif path.startswith("/v1/"):
            assert op["security"] == [{"bearerAuth": []}], (method, path)
            assert {"401", "503"} <= set(op["responses"]), (method, path)


def test_every_answer_has_a_schema_and_every_error_the_one_body(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    codes: set[str] = set()
    assert len({op["operationId"] for _, _, op in operations(doc)}) == len(operations(doc))
    for method, path, op in operations(doc):
        for code, answer in op["responses"].items():
            content = answer.get("content")
            assert content, (method, path, code)
            for media, body in content.items():
                assert body.get("schema"), (method, path, code, media)
            if int(code) >= 400 and path != "/healthz":  # its 503 is a Health answer
                codes.add(code)
                assert content == {"application/json": {"schema": {"$ref": ERROR_REF}}}, (
                    method, path, code)
    assert {"400", "401", "403", "404", "409", "413", "422", "503"} <= codes
    assert doc["paths"]["/v1/calls/{call_id}"]["get"]["responses"]["200"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/CallView"}}}


def test_hand_read_bodies_are_declared(doc: dict[str, Any]) -> None:
    paths = doc["paths"]

    def body(path: str, method: str = "post") -> dict[str, Any]:
        return paths[path][method]["requestBody"]["content"]

    assert body("/v1/campaigns")["application/json"]["schema"]["$ref"].endswith(
        "/CampaignCreate")
    imports = body("/v1/campaigns/{cid}/contacts")
    assert set(imports) == {"text/csv", "application/json"}
    for path, method in (("/v1/dnc", "post"), ("/v1/dnc", "delete"),
                         ("/v1/campaigns/{cid}/dnc", "post")):
        assert body(path, method)["application/json"]["schema"]["$ref"].endswith(
            "/DncNumbers")
    create = doc["components"]["schemas"]["CampaignCreate"]["properties"]
    assert {"name", "schedule", "pacing", "contacts", "start"} <= set(create)
    report = paths["/v1/campaigns/{cid}/report.csv"]["get"]["responses"]["200"]["content"]
    assert report == {"text/csv": {"schema": {"type": "string"}}}


def test_the_call_view_is_typed(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    call = schemas["CallView"]["properties"]
    assert set(schemas["CallState"]["enum"]) == {
        "queued", "dialing", "in-progress", "retry-wait", "awaiting-evidence", "unknown",
        "completed", "busy", "no-answer", "failed", "rejected", "cancelled", "absent", "capped"}
    assert call["state"] == {"$ref": "#/components/schemas/CallState"}
    assert "pending" in schemas["AttemptState"]["enum"]
    assert {"type": "integer"} in call["duration_s"]["anyOf"]
    assert {"type": "number"} in call["price"]["anyOf"]
    assert {"type": "string", "format": "date-time"} in call["created_at"]["anyOf"]
    attempt = schemas["AttemptView"]["properties"]
    for key in ("start_time", "end_time", "claimed_at", "terminal_at"):
        assert {"type": "string", "format": "date-time"} in attempt[key]["anyOf"], key
