"""Health, metrics and the OpenAPI document."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from sqlalchemy import text

from live import __version__, keys
from live.api import Endpoint, Routes, json_response, openapi

routes = Routes(tag="system")
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi")
ENDPOINTS: web.AppKey[list[Endpoint]] = web.AppKey("endpoints")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Liveness and readiness: the database (and Redis when configured) answer."""
    app = request.app
    checks: dict[str, Any] = {}
    ok = True
    start = time.perf_counter()
    try:
        async with app[keys.ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # the probe reports, it does not raise
        ok = False
        checks["database"] = f"error: {type(exc).__name__}"
    app[keys.METRICS].db_seconds.observe(time.perf_counter() - start)
    redis = app.get(keys.REDIS)
    if redis is not None:  # its client times every command (live_redis_seconds)
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            ok = False
            checks["redis"] = f"error: {type(exc).__name__}"
    return json_response({"ok": ok, "checks": checks}, status=200 if ok else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    body = request.app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


@routes.get("/api/v1/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    """This document (OpenAPI 3.1)."""
    return json_response(request.app[OPENAPI])


def build_openapi(app: web.Application, endpoints: list[Endpoint]) -> None:
    app[ENDPOINTS] = endpoints
    app[OPENAPI] = openapi(endpoints, title="live", version=__version__)
