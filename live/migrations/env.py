"""Alembic environment. `live.db.migrate()` hands us an open connection.

Each domain keeps its own branch of revisions (branch label = domain name)
so domains can add tables without fighting over one linear chain; revisions
that need another domain's tables say so with `depends_on`. We upgrade to
`heads`.
"""

from __future__ import annotations

import asyncio

from alembic import context

import live.models  # noqa: F401  (registers every table on Base.metadata)
from live.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    async def _main() -> None:
        engine = make_engine(config.attributes["settings"])
        async with engine.begin() as conn:
            await conn.run_sync(_run)
        await engine.dispose()

    asyncio.run(_main())
