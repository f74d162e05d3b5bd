"""Shared fixtures: real SQLite and PostgreSQL, real Redis, a real server.

Every test that takes `client` (or `app`) runs once per database backend.
Under CI=true a missing PostgreSQL or Redis fails the test instead of
skipping it. Several developers (and helpers) may run the suite at once on one
machine: each run gets its own PostgreSQL database, each test its own schema
and its own Redis key prefix.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient

from live.app import create_app
from live.clock import FakeClock
from live.settings import Settings
from tests.helpers import Api

PG_ADMIN = os.environ.get("LIVE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LIVE_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true")
    pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this test run (None if PG is down)."""
    name = f"live_test_{os.getpid()}_{secrets.token_hex(3)}"

    async def create() -> bool:
        try:
            conn = await asyncpg.connect(PG_ADMIN, timeout=5)
        except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return True

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    ok = asyncio.run(create())
    yield name if ok else None
    if ok:
        asyncio.run(drop())


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_settings(backend: str, tmp_path: Path,
                            pg_database: str | None) -> AsyncIterator[dict[str, Any]]:
    """Settings fields that point at a fresh, empty database on `backend`."""
    if backend == "sqlite":
        yield {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
               "auto_migrate": True}
        return
    if pg_database is None:
        unavailable("PostgreSQL on 127.0.0.1:5432")
    schema = f"t_{secrets.token_hex(6)}"
    dsn = PG_ADMIN.rsplit("/", 1)[0] + f"/{pg_database}"
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    yield {"database_url": dsn.replace("postgresql://", "postgresql+asyncpg://"),
           "database_schema": schema, "auto_migrate": True}
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await conn.close()


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """The real Redis, if it answers."""
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, aioredis.ConnectionError):
        unavailable("Redis on 127.0.0.1:6379")
    finally:
        await client.aclose()
    yield REDIS_URL


@pytest.fixture
def redis_prefix() -> str:
    return f"live-test:{secrets.token_hex(6)}:"


@pytest.fixture
async def redis_cleanup(redis_url: str, redis_prefix: str) -> AsyncIterator[None]:
    """Delete this test's Redis keys afterwards (FLUSHDB would hit other runs)."""
    yield
    client = aioredis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=f"{redis_prefix}*", count=500):
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_settings(database_settings: dict[str, Any], tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        fields: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "secret": "test-secret-0123456789abcdef",
            **database_settings,
        }
        fields.update(overrides)
        return Settings(**fields).resolved()
    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings) -> web.Application:
    """The real application, timers on, system clock."""
    return create_app(settings)


@pytest.fixture
async def client(app: web.Application, aiohttp_client: Any) -> TestClient:  # type: ignore[type-arg]
    return await aiohttp_client(app)


@pytest.fixture
async def api(client: TestClient) -> Api:  # type: ignore[type-arg]
    return Api(client)
