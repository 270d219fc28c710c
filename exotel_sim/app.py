"""The ASGI application: FastAPI routes (v1, v3, /_sim) inside the wire layer."""

from __future__ import annotations

from fastapi import FastAPI

from exotel_sim import admin, v1, v3
from exotel_sim.engine import Engine
from exotel_sim.wire import ASGIApp, WireMiddleware


def create_app(engine: Engine) -> ASGIApp:
    """Serve ``engine`` over HTTP; hand the result to uvicorn as is."""
    app = FastAPI(
        title="Exotel simulator",
        docs_url="/_sim/docs",
        openapi_url="/_sim/openapi.json",
        redoc_url=None,
    )
    app.state.engine = engine
    app.include_router(v1.router)
    app.include_router(v3.router)
    app.include_router(admin.router)
    return WireMiddleware(app, engine)
