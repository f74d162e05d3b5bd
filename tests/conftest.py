"""Shared fixtures: real SQLite and PostgreSQL, real Redis, a real server.

Every test that takes `client` (or `app`) runs once per database backend.
Under CI=true a missing PostgreSQL or Redis fails the test instead of
skipping it. Several developers (and helpers) may run the suite at once on one
machine: each run gets its own PostgreSQL database (one schema, migrated once,
emptied before each test) and each test its own SQLite copy and Redis prefix.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
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
from live.db import make_engine, migrate
from live.settings import Settings
from tests.helpers import Api

# Fixtures defined beside the helpers they go with (`rt`, `rapi`, `rt_settings`).
pytest_plugins = ["tests.realtime_helpers"]

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


def _migrate_once(settings: Settings) -> None:
    async def run() -> None:
        engine = make_engine(settings)
        try:
            await migrate(engine, settings)
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run; each test gets a copy (migrating
    per test cost about a second each)."""
    path = tmp_path_factory.mktemp("template") / "live.db"
    _migrate_once(Settings(data_dir=path.parent, secret="x" * 20,
                           database_url=f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_schema(pg_database: str | None) -> str | None:
    """One schema migrated once per run; each test starts from empty tables."""
    if pg_database is None:
        return None
    schema = "live"

    async def create() -> None:
        conn = await asyncpg.connect(_pg_dsn(pg_database))
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.close()

    asyncio.run(create())
    _migrate_once(Settings(data_dir=Path("."), secret="x" * 20,
                           database_url=_pg_url(pg_database), database_schema=schema))
    return schema


def _pg_dsn(database: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"


def _pg_url(database: str) -> str:
    return _pg_dsn(database).replace("postgresql://", "postgresql+asyncpg://")


@pytest.fixture
async def database_settings(backend: str, tmp_path: Path, sqlite_template: Path,
                            pg_database: str | None,
                            pg_schema: str | None) -> AsyncIterator[dict[str, Any]]:
    """Settings fields that point at a migrated, empty database on `backend`."""
    if backend == "sqlite":
        target = tmp_path / "live.db"
        shutil.copyfile(sqlite_template, target)
        yield {"database_url": f"sqlite+aiosqlite:///{target}", "auto_migrate": False}
        return
    if pg_database is None or pg_schema is None:
        unavailable("PostgreSQL on 127.0.0.1:5432")
    conn = await asyncpg.connect(_pg_dsn(pg_database))
    try:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 "
            "AND tablename <> 'alembic_version'", pg_schema)]
        if tables:
            names = ", ".join(f'"{pg_schema}"."{t}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    yield {"database_url": _pg_url(pg_database), "database_schema": pg_schema,
           "auto_migrate": False}


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
