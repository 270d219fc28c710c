"""What ``dialer web`` serves for monitoring; :func:`install` adds it to the app.

* ``GET /metrics`` — the domain metrics in Prometheus' text format (Bearer token).
* ``GET /v1/monitor/status`` — the live page's figures as JSON (Bearer token).
* ``GET /status`` — the live page (HTML; it asks for the token once and keeps it in the
  tab's ``sessionStorage``, never in a URL). Its assets under ``/monitor/static/``.
* ``GET /docs`` — Swagger UI from assets shipped with the package (no CDN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import redis
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from dialer.http_auth import bearer_token_check
from dialer.monitor.collector import NO_CAMPAIGN, DialerCollector
from dialer.monitor.labels import Labeler
from dialer.monitor.snapshot import FAILURES, Figures, Reader, recent_events
from dialer.settings import Settings

STATIC = Path(__file__).with_name("static")
STATIC_FILES = {"status.js": "text/javascript", "status.css": "text/css"}
SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                 "favicon-32x32.png": "image/png"}
MAX_LISTED = 50


def swagger_dir() -> Path | None:
    try:
        import swagger_ui_bundle
    except ImportError:  # pragma: no cover - a dependency; /docs then says so
        return None
    return Path(swagger_ui_bundle.swagger_ui_path)


def status_json(f: Figures, client: redis.Redis, reader: Reader) -> dict[str, Any]:
    """The live page's figures: what ``/metrics`` says, plus lists of calls to look at."""
    k = reader.keys
    created = sum(v for key, v in f.counters.items() if key[0] == "created")
    finished: dict[str, int] = {}
    attempts: dict[str, int] = {}
    by_account: dict[str, dict[str, int]] = {}
    for key, v in f.counters.items():
        if key[0] == "call" and len(key) == 4:
            finished[key[3]] = finished.get(key[3], 0) + v
            by_account.setdefault(key[1], {})
            by_account[key[1]][key[3]] = by_account[key[1]].get(key[3], 0) + v
        elif key[0] == "attempt" and len(key) == 4:
            attempts[key[3]] = attempts.get(key[3], 0) + v
    unknown = cast(list[tuple[str, float]],
                   client.zrange(k.unknown, 0, MAX_LISTED - 1, withscores=True))
    unresolved = cast(list[tuple[str, float]],
                      client.zrange(k.unresolved, 0, MAX_LISTED - 1, withscores=True))
    failures = [e for e in recent_events(client, k) if e.get("type") in FAILURES][:20]
    return {
        "now_ms": f.now_ms,
        "accounts": [a.__dict__ for a in f.accounts],
        "sets": f.sets,
        "due_overdue": f.due_overdue,
        "due_oldest_overdue_s": round(f.due_oldest_overdue_s, 3),
        "queues": f.queues,
        "calls": {"created": created, "finished": finished,
                  "in_flight": created - sum(finished.values()), "by_account": by_account},
        "attempts": attempts,
        "retries": sum(v for key, v in f.counters.items() if key[0] == "retry"),
        "campaigns": f.campaigns,
        "campaign_label_none": NO_CAMPAIGN,
        "unknown": [{"attempt_id": a, "next_look_ms": int(s)} for a, s in unknown],
        "unresolved": [{"attempt_id": a, "given_up_ms": int(s)} for a, s in unresolved],
        "recent_failures": failures,
    }


def monitor_router(settings: Settings, client: redis.Redis) -> APIRouter:
    router = APIRouter()
    require_token = bearer_token_check(settings.api_token.get_secret_value())
    reader = Reader(settings, client)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DialerCollector(reader))

    @router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_token)])
    async def metrics() -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @router.get("/v1/monitor/status", dependencies=[Depends(require_token)])
    async def monitor_status() -> dict[str, Any]:
        """The live page's figures: rate-limit windows, sets, outcomes, campaigns."""
        def read() -> dict[str, Any]:
            return status_json(reader.read(), client, reader)

        return await run_in_threadpool(read)

    @router.get("/status", include_in_schema=False)
    async def status_page() -> FileResponse:
        return FileResponse(STATIC / "status.html", media_type="text/html")

    @router.get("/monitor/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name in STATIC_FILES:
            return FileResponse(STATIC / name, media_type=STATIC_FILES[name])
        folder = swagger_dir()
        if name in SWAGGER_FILES and folder is not None:
            return FileResponse(folder / name, media_type=SWAGGER_FILES[name])
        raise HTTPException(404, "no such file")

    return router


def _offline_docs(app: FastAPI) -> None:
    """Replace FastAPI's /docs (swagger-ui from a CDN) and /redoc with local assets."""
    drop = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) not in drop]
    openapi_url = app.openapi_url or "/openapi.json"
    redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} – API",
            swagger_js_url="/monitor/static/swagger-ui-bundle.js",
            swagger_css_url="/monitor/static/swagger-ui.css",
            swagger_favicon_url="/monitor/static/favicon-32x32.png", oauth2_redirect_url=redirect)

    @app.get(redirect, include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


LABEL_READ_S = 0.3


def install(app: FastAPI, settings: Settings, client: redis.Redis, publisher: Any) -> None:
    """Add the monitoring routes to the web app, and name calls in the reconcile messages
    it publishes (for Flower) when its publisher takes labels."""
    app.include_router(monitor_router(settings, client))
    _offline_docs(app)
    if hasattr(publisher, "labels") and publisher.labels is None:
        # a display name is never worth a wait: with Redis slow or frozen, a callback must
        # answer within the connect timeout, so the labels' reads give up after LABEL_READ_S
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        from dialer.redis_conn import client_for

        quick = client_for(settings, socket_timeout_s=min(LABEL_READ_S,
                                                          settings.redis_connect_timeout_s),
                           retry=Retry(NoBackoff(), 0), retry_on_error=[])
        publisher.labels = Labeler(quick, Reader(settings, client).keys, settings.max_retries)
