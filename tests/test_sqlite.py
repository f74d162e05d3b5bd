"""The embedded database (live/db.py, live/sqlite.py): readers run beside the
writer, writers take turns, and a plain (reading) session cannot write."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from live import keys
from live.accounts.models import Viewer
from live.app import create_app
from live.db import transaction
from live.settings import Settings

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def started(make_settings: Callable[..., Settings], aiohttp_client: Any) -> Any:
    app = create_app(make_settings(), run_timers=False)
    await aiohttp_client(app)
    return app


async def count(app: Any) -> int:
    async with app[keys.SESSIONS]() as session:
        return int(await session.scalar(select(func.count()).select_from(Viewer)) or 0)


async def test_a_reader_does_not_wait_for_an_open_write_transaction(
        make_settings: Callable[..., Settings], aiohttp_client: Any) -> None:
    app = await started(make_settings, aiohttp_client)
    async with transaction(app) as writer:
        writer.add(Viewer(id="vw_1", nickname="甲", created_at=NOW))
        await writer.flush()  # the write lock is held until the commit below
        # a reader sees the last commit, at once (it would wait 30 s for the lock
        # if it began IMMEDIATE like a writer)
        assert await asyncio.wait_for(count(app), 2) == 0
    assert await count(app) == 1


async def test_a_plain_session_cannot_write(make_settings: Callable[..., Settings],
                                            aiohttp_client: Any) -> None:
    app = await started(make_settings, aiohttp_client)
    async with app[keys.SESSIONS]() as session:
        session.add(Viewer(id="vw_2", nickname="乙", created_at=NOW))
        with pytest.raises(OperationalError, match="readonly"):
            await session.flush()
    async with transaction(app) as session:  # the same pooled connection writes again
        session.add(Viewer(id="vw_3", nickname="丙", created_at=NOW))
    assert await count(app) == 1


async def test_concurrent_writers_take_turns_and_lose_nothing(
        make_settings: Callable[..., Settings], aiohttp_client: Any) -> None:
    app = await started(make_settings, aiohttp_client)

    async def one(i: int) -> None:
        async with transaction(app) as session:
            await session.scalar(select(func.count()).select_from(Viewer))
            await asyncio.sleep(0)  # let the others queue up behind this turn
            session.add(Viewer(id=f"vw_c{i}", nickname=f"看客{i}", created_at=NOW))

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(40))), 30)
    assert await count(app) == 40
