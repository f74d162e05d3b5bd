"""The error middleware turns overload into 503 over_capacity, not 500."""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web
from sqlalchemy import exc as sa_exc

from live.errors import error_middleware


async def serve(aiohttp_client: Any, raised: Exception) -> Any:
    async def handler(request: web.Request) -> web.Response:
        raise raised

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/x", handler)
    client = await aiohttp_client(app)
    return await client.get("/x")


async def test_pool_timeout_is_over_capacity_with_retry_after(aiohttp_client: Any) -> None:
    r = await serve(aiohttp_client, sa_exc.TimeoutError("QueuePool limit reached"))
    assert r.status == 503
    body = await r.json()
    assert body["error"]["code"] == "over_capacity" and body["error"]["retry_after_s"] == 1
    assert r.headers["Retry-After"] == "1"


async def test_sqlite_lock_timeout_is_over_capacity(aiohttp_client: Any) -> None:
    locked = sa_exc.OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError(
        "database is locked"))
    r = await serve(aiohttp_client, locked)
    assert r.status == 503 and (await r.json())["error"]["code"] == "over_capacity"


async def test_other_database_errors_stay_internal(aiohttp_client: Any) -> None:
    broken = sa_exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))
    r = await serve(aiohttp_client, broken)
    assert r.status == 500 and (await r.json())["error"]["code"] == "internal"
