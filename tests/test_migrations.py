"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import live.models  # noqa: F401
from live.db import Base, make_engine, migrate
from live.settings import Settings


async def test_migrations_match_models(settings: Settings) -> None:
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
