"""``/_sim/*``: inspection and control for tests (no auth; never shows a token).

GET  /_sim/health       {"ok": true}
GET  /_sim/config       the configuration, tokens masked
POST /_sim/config       JSON changes, e.g. {"error_5xx_ratio": 0.5}; 400 on a bad value
GET  /_sim/scenario     what is left of the scenario
POST /_sim/scenario     {"numbers": {"+919800000001": ["no-answer", "answered"]}} (replaces)
GET  /_sim/requests     every /v1 and /v3 request received
GET  /_sim/counted      every Voice API request (POST or GET) that counted against the
                        account limit, in arrival order (?account_sid=AC_SIM for one)
GET  /_sim/calls        every call with its true status and leg statuses
POST /_sim/calls/<sid>/cancel   end a call not connected yet with Status "canceled"
GET  /_sim/callbacks    every callback attempted (or dropped)
POST /_sim/reset        forget calls, requests, callbacks, the limiter and the scenario
GET  /_sim/idle         ?timeout_s=5&settled=false: waits until idle, answers the counts
GET  /_sim/recordings/<account>/<sid>.mp3   a stand-in recording
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from exotel_sim.engine import Engine
from exotel_sim.inspect import counted_requests
from exotel_sim.views import call_view

router = APIRouter(prefix="/_sim")

FAKE_MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" + b"\x00" * 412


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError:
        return None


def _error(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def list_requests(engine: Engine) -> list[dict[str, Any]]:
    with engine.state.lock:
        return [dict(record) for record in engine.state.requests]


def list_calls(engine: Engine) -> list[dict[str, Any]]:
    with engine.state.lock:
        return [call_view(call) for call in engine.state.calls.values()]


def list_callbacks(engine: Engine) -> list[dict[str, Any]]:
    with engine.state.lock:
        return [dict(record) for record in engine.state.callbacks]


@router.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@router.get("/config")
async def get_config(request: Request) -> dict[str, Any]:
    return _engine(request).config.public()


@router.post("/config")
async def set_config(request: Request) -> Response:
    changes = await _json(request)
    if not isinstance(changes, dict):
        return _error("send a JSON object of changes")
    try:
        config = _engine(request).configure(**changes)
    except ValidationError as exc:
        return _error(str(exc))
    return JSONResponse(config.public())


@router.get("/scenario")
async def get_scenario(request: Request) -> dict[str, Any]:
    return {"numbers": _engine(request).decider.scenario()}


@router.post("/scenario")
async def set_scenario(request: Request) -> Response:
    data = await _json(request)
    try:
        numbers = _engine(request).set_scenario(data)
    except ValueError as exc:
        return _error(str(exc))
    return JSONResponse({"numbers": numbers})


@router.get("/requests")
async def requests_log(request: Request) -> list[dict[str, Any]]:
    return list_requests(_engine(request))


@router.get("/counted")
async def counted(request: Request, account_sid: str | None = None) -> list[dict[str, Any]]:
    return [r for r in counted_requests(list_requests(_engine(request)))
            if account_sid is None or r["account_sid"] == account_sid]


@router.get("/calls")
async def calls(request: Request) -> list[dict[str, Any]]:
    return list_calls(_engine(request))


@router.post("/calls/{call_sid}/cancel")
async def cancel(request: Request, call_sid: str) -> Response:
    done = _engine(request).cancel(call_sid)
    return JSONResponse({"canceled": done}, status_code=200 if done else 409)


@router.get("/callbacks")
async def callbacks(request: Request) -> list[dict[str, Any]]:
    return list_callbacks(_engine(request))


@router.post("/reset")
async def reset(request: Request) -> dict[str, bool]:
    _engine(request).reset()
    return {"ok": True}


@router.get("/idle")
async def idle(request: Request, timeout_s: float = 0.0, settled: bool = False) -> dict[str, Any]:
    engine = _engine(request)
    done = await run_in_threadpool(engine.wait_idle, min(timeout_s, 600.0), settled=settled)
    return {"idle": done, **engine.state.snapshot()}


@router.get("/recordings/{account_sid}/{name}")
async def recording(account_sid: str, name: str) -> Response:
    return Response(FAKE_MP3, media_type="audio/mpeg")
