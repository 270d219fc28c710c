"""Each example body of the Exotel documents parses (bodies in ``seed_bodies.py``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dialer.exotel import responses
from dialer.exotel.models import V3Call
from dialer.models import CallUpdate
from tests.exotel.seed_bodies import (
    V1_CONNECT_JSON,
    V1_CONNECT_XML,
    V1_DETAILS_JSON,
    V1_DETAILS_XML,
    V1_ERROR_JSON_400,
    V1_ERROR_JSON_401,
    V1_ERROR_JSON_429,
    V1_ERROR_XML,
    V1_ERROR_XML_MESSAGE_ONLY,
    V3_DETAILS_ACTIVE,
    V3_DETAILS_TERMINAL,
    V3_LEGS,
    V3_POST,
    V3_REQUEST,
)


def test_v1_connect_bodies_give_the_sid() -> None:
    assert responses.v1_call_sid(responses.parse_body(V1_CONNECT_XML)) == "xxxxxxxxxxxxxxxxxxxx"
    sid = responses.v1_call_sid(responses.parse_body(V1_CONNECT_JSON))
    assert sid == "c5797dcbaaeed7678c4062a4a3ed2f8a"


def test_v3_post_body_gives_the_sid() -> None:
    assert responses.v3_call_sid(responses.parse_body(V3_POST)) == (
        "3f3fedf8f0928550a60bfa6302dc16b2"
    )


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (V1_ERROR_XML, 404, "No matching results"),
        (V1_ERROR_XML_MESSAGE_ONLY, None, "Invalid Call Parameters: No 'From' specified"),
        (V1_ERROR_JSON_400, 400, "The 'From' parameter is required."),
        (V1_ERROR_JSON_401, 401, "Authentication failed. Verify your API key and token."),
        (V1_ERROR_JSON_429, 429, "Rate limit exceeded. Max 200 requests per minute."),
    ],
)
def test_v1_error_bodies(body: str, status: int | None, message: str) -> None:
    info = responses.error_info(responses.parse_body(body))
    assert info == responses.ErrorInfo(status=status, code=status, message=message)


@pytest.mark.parametrize(
    ("body", "parse"),
    [
        (V1_CONNECT_XML, responses.call_update_v1),
        (V1_CONNECT_JSON, responses.call_update_v1),
        (V1_DETAILS_JSON, responses.call_update_v1),
        (V1_DETAILS_XML, responses.call_update_v1),
        (V3_POST, responses.call_update_v3),
        (V3_DETAILS_ACTIVE, responses.call_update_v3),
        (V3_DETAILS_TERMINAL, responses.call_update_v3),
    ],
)
def test_every_call_body_maps_to_a_poll_update(body: str, parse: Any) -> None:
    data = responses.parse_body(body)
    assert responses.error_info(data) is None
    update = parse(data)
    assert isinstance(update, CallUpdate)
    assert update.source == "poll" and update.call_sid


def test_v3_legs_body() -> None:
    assert responses.leg_statuses_v3(responses.parse_body(V3_LEGS)) == ("completed", "completed")


def test_v3_request_example_round_trips() -> None:
    body = V3Call.model_validate(V3_REQUEST).to_json()
    expected = json.loads(json.dumps(V3_REQUEST))
    expected["from"]["contact_uri"] = "+918516043026"  # numbers are sent in E.164
    expected["to"]["contact_uri"] = "+917987616844"
    assert body == expected
