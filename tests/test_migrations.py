"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import live.models  # noqa: F401
from live.db import Base, make_engine, migrate
from live.settings import Settings
from tests.conftest import PG_ADMIN, unavailable


async def check_fresh_database(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        await migrate(engine, settings)
        await migrate(engine, settings)  # a second run is a no-op

        def diff(conn: Any) -> list[Any]:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, Base.metadata))

        async with engine.connect() as conn:
            changes = await conn.run_sync(diff)
        assert changes == []
    finally:
        await engine.dispose()


async def test_migrations_match_models_on_sqlite(tmp_path: Path) -> None:
    await check_fresh_database(Settings(
        data_dir=tmp_path, secret="x" * 20,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"))


async def test_migrations_match_models_on_postgresql(tmp_path: Path,
                                                     pg_database: str | None) -> None:
    if pg_database is None:
        unavailable("PostgreSQL on 127.0.0.1:5432")
    dsn = PG_ADMIN.rsplit("/", 1)[0] + f"/{pg_database}"
    conn = await asyncpg.connect(dsn)
    await conn.execute('CREATE SCHEMA "fresh"')
    await conn.close()
    try:
        await check_fresh_database(Settings(
            data_dir=tmp_path, secret="x" * 20, database_schema="fresh",
            database_url=dsn.replace("postgresql://", "postgresql+asyncpg://")))
    finally:
        conn = await asyncpg.connect(dsn)
        await conn.execute('DROP SCHEMA "fresh" CASCADE')
        await conn.close()
