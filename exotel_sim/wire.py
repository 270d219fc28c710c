"""The outermost ASGI layer for /v1 and /v3: request log, latency, accept-then-drop,
and the ``X-RateLimit-*`` headers a route left in the request's record.

A route asks for the connection to be cut by answering with the ``x-sim-drop`` header: the
header never leaves; the socket is aborted before any byte of the answer is written, so the
client sees a connection error after its request was fully received and acted upon.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from exotel_sim.engine import Engine

log = logging.getLogger(__name__)

DROP_HEADER = b"x-sim-drop"
_ACCOUNT = re.compile(r"^/v[13]/[Aa]ccounts/([^/]+)")
_SECRET = re.compile(r"token|secret|password|authorization|api_key", re.IGNORECASE)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ids = itertools.count(1)


def redact(value: Any) -> Any:
    """Mask anything that looks like a credential, recursively."""
    if isinstance(value, dict):
        return {k: "***" if _SECRET.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def new_record(scope: Scope) -> dict[str, Any]:
    """A request log entry; every key exists from the start (values change later)."""
    path = scope["path"]
    match = _ACCOUNT.match(path)
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    return {
        "id": next(_ids),
        "method": scope["method"],
        "path": path,
        "query": redact(query),
        "account_sid": match.group(1) if match else None,
        "arrival_time": time.time(),
        "status_code": None,
        "call_sid": None,
        "params": None,
        "fault": None,
        "answered_at": None,
        "counted": False,  # counted against the account limit (see inspect.counted_requests)
        "headers": {},  # X-RateLimit-* / Retry-After added to the answer
    }


def record_of(scope: Scope) -> dict[str, Any]:
    """The log entry of this request (a throwaway dict outside /v1 and /v3)."""
    record: dict[str, Any] = scope.get("sim.record") or {}
    return record


def cut_connection(send: Send) -> bool:
    """Abort the socket under uvicorn's ``send``; False if the server is not uvicorn."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if cycle is None or transport is None:
        return False
    transport.abort()
    if hasattr(cycle, "disconnected"):
        cycle.disconnected = True  # so the server does not answer 500 for us
    return True


class WireMiddleware:
    """Wraps the FastAPI app; must be the app handed to uvicorn."""

    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(("/v1/", "/v3/")):
            await self.app(scope, receive, send)
            return
        record = new_record(scope)
        scope["sim.record"] = record
        self.engine.state.add_request(record)
        cut = False

        async def guarded_send(message: Message) -> None:
            nonlocal cut
            if cut:
                return
            if message["type"] == "http.response.start":
                if any(name == DROP_HEADER for name, _ in message.get("headers", [])):
                    cut = True
                    record["fault"] = "accept-then-drop"
                    if not cut_connection(send):
                        raise ConnectionAbortedError("accept-then-drop")
                    return
                record["status_code"] = message["status"]
                extra = record.get("headers") or {}
                if extra:
                    present = {name.lower() for name, _ in message.get("headers", [])}
                    added = [(k.lower().encode(), v.encode()) for k, v in extra.items()
                             if k.lower().encode() not in present]
                    message = {**message, "headers": [*message.get("headers", []), *added]}
                latency = self.engine.config.latency_s
                if latency > 0:
                    await asyncio.sleep(latency)
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        finally:
            record["answered_at"] = time.time()
