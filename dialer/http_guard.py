"""The web app's guards: small ASCII JSON answers, body caps (declared or streamed), and
the error handlers that turn an unavailable Redis into a 503 and a bad body into a 422
that never echoes the input. Used by :func:`dialer.web.create_app`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import kombu.exceptions
import redis
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dialer.errors import ConflictError, NotFoundError, RedisUnavailableError, ValidationError
from dialer.webhooks import MAX_CALLBACK_BODY_BYTES

MAX_API_BODY_BYTES = 1024 * 1024  # POST /v1/calls and any route without its own cap
MAX_SPEC_BYTES = 8 * 1024 * 1024  # a campaign spec with inline contacts, a DNC list
MAX_IMPORT_BYTES = 32 * 1024 * 1024  # a contacts CSV: ~ 1 million rows
RETRY_AFTER_S = 5
MAX_ERRORS_SHOWN = 20
MAX_MESSAGE_CHARS = 300
log = logging.getLogger("dialer.web")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message],
                                                                      Awaitable[None]]],
                   Awaitable[None]]
_CONTACTS_PATH = re.compile(r"^/v1/campaigns/[^/]+/contacts/?$")


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: a lone surrogate in stored data cannot break a read."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, indent=None,
                          separators=(",", ":"), default=str).encode("ascii")


def body_cap(path: str) -> int:
    """The largest body route ``path`` takes (its own reader may be stricter)."""
    if path.startswith("/v1/callbacks/"):
        return MAX_CALLBACK_BODY_BYTES
    if _CONTACTS_PATH.match(path):
        return MAX_IMPORT_BYTES
    if path.startswith(("/v1/campaigns", "/v1/dnc")):
        return MAX_SPEC_BYTES
    return MAX_API_BODY_BYTES


class BodyCapMiddleware:
    """Refuses (413) a body past :func:`body_cap`, declared or streamed (chunked): the
    body is read up to the cap before the route sees it, never further."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        cap = body_cap(scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > cap:
            await _too_large(cap, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                await _too_large(cap, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, sent = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(cap: int, send: Callable[[Message], Awaitable[None]]) -> None:
    body = json.dumps({"detail": f"body larger than {cap} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def read_capped(request: Request, cap: int) -> bytes:
    """The request body, refused with 413 past ``cap`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise HTTPException(413, f"body larger than {cap} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise HTTPException(413, f"body larger than {cap} bytes")
    return body


# What a refusal of the library is over HTTP, most specific first (one mapping for every
# router: the calls API, campaigns, monitoring).
DIALER_ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationError, 422),
)


def short(text: Any) -> str:
    value = str(text)
    return value if len(value) <= MAX_MESSAGE_CHARS else value[:MAX_MESSAGE_CHARS] + "…"


def install_error_handlers(app: FastAPI) -> None:
    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("%s %s: Redis unavailable (%s)", request.method, request.url.path,
                    type(exc).__name__)
        return AsciiJSONResponse(
            {"detail": "Redis is unavailable; try again later"}, status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)})

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        detail = [{"loc": [short(p) for p in e.get("loc", ())], "msg": short(e.get("msg")),
                   "type": str(e.get("type"))} for e in errors[:MAX_ERRORS_SHOWN]]
        body: dict[str, Any] = {"detail": detail}
        if len(errors) > MAX_ERRORS_SHOWN:
            body["errors_omitted"] = len(errors) - MAX_ERRORS_SHOWN
        return AsciiJSONResponse(body, status_code=422)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return AsciiJSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                 headers=exc.headers)

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        status = next(code for cls, code in DIALER_ERROR_STATUS if isinstance(exc, cls))
        return AsciiJSONResponse({"detail": str(exc)}, status_code=status)

    async def too_deep(request: Request, exc: Exception) -> JSONResponse:
        return AsciiJSONResponse({"detail": "body is nested too deeply"}, status_code=422)

    for cls in (redis.RedisError, kombu.exceptions.OperationalError, RedisUnavailableError,
                ConnectionError, TimeoutError):
        app.add_exception_handler(cls, unavailable)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RecursionError, too_deep)
    for refusal, _ in DIALER_ERROR_STATUS:
        app.add_exception_handler(refusal, refused)
