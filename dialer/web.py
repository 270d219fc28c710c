"""The web app: Exotel's StatusCallback receiver and the HTTP API for other services.

* ``GET|POST /v1/callbacks/exotel/{attempt_id}?token=…`` — Exotel's StatusCallback. The
  token is an HMAC of the attempt id (:mod:`dialer.webhooks`); a missing or forged one
  gets 403 and changes nothing. The body is parsed, handed to a ``dialer.reconcile``
  task, and answered at once: no Exotel I/O here.
* ``POST /v1/calls`` (one request or a list), ``GET /v1/calls/{id}`` — Bearer token.
* ``GET /healthz`` — Redis reachable.

Failure policy: every refusal is a small JSON body, ``{"detail": …}`` (one model in
OpenAPI, :class:`dialer.api_models.ErrorBody`). Redis (or the broker on it) not
answering → 503 with ``Retry-After`` within the connect timeout (Exotel retries a
callback on a non-2xx); a bad body → 422 naming the field, never echoing the input; a
body past its route's cap (declared or streamed/chunked) → 413. Answers are rendered as
ASCII JSON, so no stored string can make a read fail.
"""

from __future__ import annotations

from typing import Annotated, Any

import redis
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from redis.backoff import NoBackoff
from redis.retry import Retry

from dialer.api_models import CallAccepted, CallbackAccepted, CallsAccepted, Health, errors
from dialer.campaigns.api import campaign_router
from dialer.errors import ValidationError
from dialer.http_auth import bearer_token_check
from dialer.http_guard import (
    MAX_API_BODY_BYTES,  # noqa: F401  (re-exported: the API cap)
    AsciiJSONResponse,
    BodyCapMiddleware,
    install_error_handlers,
    read_capped,
    short,
)
from dialer.keys import Keys
from dialer.monitor.router import install as install_monitoring
from dialer.openapi import install_openapi
from dialer.producer import CallRequest, Producer, check_plain_json
from dialer.publisher import CeleryPublisher
from dialer.settings import Settings
from dialer.status import CallView, call_model
from dialer.store import Store
from dialer.webhooks import MAX_CALLBACK_BODY_BYTES, parse_callback, verify_attempt

MAX_BATCH = 1000
CALLBACK_DOC: dict[str, Any] = {"parameters": [{
    "name": "token", "in": "query", "required": True, "schema": {"type": "string"},
    "description": "the attempt's HMAC (in the URL the dialer gave Exotel)"}]}
REDIS_READ_TIMEOUT_S = 10.0  # a command on a connected Redis (imports run long MULTIs)


def create_app(settings: Settings, client: redis.Redis, publisher: CeleryPublisher) -> FastAPI:
    """Build the app from explicit settings and connections (the CLI is the edge)."""
    app = FastAPI(title="exotel-dialer", version="0.1.0",
                  description="Enqueue Exotel calls, read their status, receive callbacks.",
                  default_response_class=AsciiJSONResponse,
                  generate_unique_id_function=operation_id)
    app.add_middleware(BodyCapMiddleware)
    install_error_handlers(app)
    _callback_routes(app, settings.callback_secret.get_secret_value(), publisher)
    _api_routes(app, settings, client, publisher)
    install_monitoring(app, settings, client, publisher)  # /metrics, /status, offline /docs
    app.include_router(campaign_router(settings, client))
    install_openapi(app)  # bearer scheme, error bodies, hand-read request bodies
    return app


def operation_id(route: APIRoute) -> str:
    """OpenAPI operation ids are the route functions' names: a generated client's
    functions read ``get_call``, ``create_campaign``…"""
    return route.name


def _callback_routes(app: FastAPI, secret: str, publisher: CeleryPublisher) -> None:
    async def exotel_callback(attempt_id: str, request: Request) -> JSONResponse:
        """Exotel's StatusCallback (the dialer signs its URL per attempt; not for clients)."""
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        if not verify_attempt(secret, attempt_id, request.query_params.get("token")):
            return AsciiJSONResponse({"detail": "missing or invalid token"}, status_code=403)
        body = await read_capped(request, MAX_CALLBACK_BODY_BYTES)
        try:
            update = parse_callback(request.method, request.headers.get("content-type"),
                                    body, query)
        except ValidationError as exc:
            return AsciiJSONResponse({"detail": short(exc)}, status_code=400)
        payload = update.model_dump(exclude_none=True)
        try:  # refused here, before a task the reconcile step could not decode
            check_plain_json(payload, "callback")
        except ValueError as exc:
            return AsciiJSONResponse({"detail": short(exc)}, status_code=400)
        await run_in_threadpool(publisher.reconcile, attempt_id, payload)
        return JSONResponse({"accepted": True})

    for method in ("GET", "POST"):  # one operation id each
        app.add_api_route("/v1/callbacks/exotel/{attempt_id}", exotel_callback,
                          methods=[method], operation_id=f"exotel_callback_{method.lower()}",
                          tags=["exotel"], response_model=CallbackAccepted,
                          responses=errors(400, 403, 413, 503), openapi_extra=CALLBACK_DOC)


def _api_routes(
    app: FastAPI, settings: Settings, client: redis.Redis, publisher: CeleryPublisher
) -> None:
    store = Store(client, Keys(settings.key_prefix))
    producer = Producer(client, settings, publisher)
    require_token = bearer_token_check(settings.api_token.get_secret_value())

    @app.post("/v1/calls", status_code=202, dependencies=[Depends(require_token)],
              tags=["calls"], responses=errors(413, 422))
    async def post_calls(body: CallRequest | list[CallRequest]) -> CallAccepted | CallsAccepted:
        """Enqueue one call, or a list of up to 1000 (all validated before any is written)."""
        if isinstance(body, list):
            if len(body) > MAX_BATCH:
                raise HTTPException(413, f"at most {MAX_BATCH} calls per request")
            ids = await run_in_threadpool(producer.enqueue_many, body)
            return CallsAccepted(call_ids=ids)
        call_id = await run_in_threadpool(producer.enqueue, body)
        return CallAccepted(call_id=call_id)

    @app.get("/v1/calls/{call_id}", dependencies=[Depends(require_token)], tags=["calls"],
             responses=errors(404))
    async def get_call(call_id: str) -> CallView:
        """The call, its attempts, each leg's status and timestamps."""
        return await run_in_threadpool(call_model, store, call_id)

    @app.get("/v1/calls", dependencies=[Depends(require_token)], tags=["calls"],
             responses=errors(404, 422))
    async def find_call(
        idempotency_key: Annotated[str, Query(min_length=1, max_length=128)],
        account: Annotated[str | None, Query(max_length=64)] = None,
    ) -> CallView:
        """The call enqueued with an idempotency key (e.g. by ``dialer.enqueue_call``)."""
        name = account or (settings.accounts[0].name if settings.accounts else "")
        call_id = await run_in_threadpool(store.r.get, store.keys.idem(name, idempotency_key))
        if not call_id:
            raise HTTPException(404, f"no call with idempotency key {idempotency_key!r}")
        return await run_in_threadpool(call_model, store, str(call_id))

    @app.get("/healthz", tags=["health"], response_model=Health,
             responses={503: {"model": Health, "description": "Redis unreachable"}})
    async def healthz() -> JSONResponse:
        try:
            await run_in_threadpool(client.ping)
        except (redis.RedisError, OSError) as exc:
            return JSONResponse({"redis": f"unreachable: {type(exc).__name__}"},
                                status_code=503)
        return JSONResponse({"redis": "ok"})


def web_redis(settings: Settings) -> redis.Redis:
    """The web app's Redis client: bounded connect and read timeouts, one reconnect (a
    sentinel URL keeps its failover retry: a promotion takes seconds)."""
    from dialer.redis_conn import client_for, is_sentinel

    extra: dict[str, Any] = {}
    if not is_sentinel(settings.redis_url):
        extra["retry"] = Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))
    return client_for(settings, socket_timeout_s=max(REDIS_READ_TIMEOUT_S,
                                                     settings.redis_connect_timeout_s),
                      **extra)


def web_publisher(settings: Settings) -> CeleryPublisher:
    """The web app's publisher: a publish to a stopped or frozen Redis fails within the
    connect timeout (→ 503) instead of Celery's retries and kombu's blocking reads."""
    from dialer.publisher import broker_app

    app = broker_app(settings)
    timeout_s = settings.redis_connect_timeout_s
    options = {**app.conf.broker_transport_options, "socket_timeout": timeout_s,
               "socket_connect_timeout": timeout_s}
    app.conf.update(task_publish_retry=False, broker_connection_timeout=timeout_s,
                    broker_connection_max_retries=0, broker_transport_options=options)
    return CeleryPublisher(app)


def app_from_env() -> FastAPI:
    """The edge: ``uvicorn --factory dialer.web:app_from_env`` (``dialer web`` runs it)."""
    from dialer import access_log
    from dialer.settings import load_settings

    access_log.install()  # before the first request: no token reaches the access log
    settings = load_settings()
    if not settings.redis_url:
        from dialer.errors import SettingsError

        raise SettingsError("DIALER_REDIS_URL is empty: the web app needs the workers' Redis")
    return create_app(settings, web_redis(settings), web_publisher(settings))
