"""The room snapshot is assembled from parts each domain contributes.

`app.py` registers the parts; rooms knows nothing of flash sales or coupons.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from live import keys
from live.clock import iso

# (session, room_id) -> fields merged into the snapshot
SnapshotPart = Callable[[AsyncSession, str], Awaitable[dict[str, Any]]]


async def build_snapshot(app: web.Application, session: AsyncSession,
                         room_id: str) -> dict[str, Any]:
    """The room as the contract's snapshot.

    `seq` is read before the database: every event up to it was published
    after its commit, so the state read next already reflects it. Events
    committed meanwhile may be reflected too and are then replayed on top,
    which is harmless: every event a snapshot can reflect is a full state
    (shelf, pin, flash, stock...), not a delta.
    """
    seq = await app[keys.BROKER].last_seq(room_id)
    snapshot: dict[str, Any] = {
        "flash_sales": [], "coupons": [], "group_buys": [], "draws": [], "viewers": 0,
    }
    for part in app[keys.SNAPSHOT_PARTS]:
        snapshot.update(await part(session, room_id))
    snapshot["seq"] = seq
    snapshot["server_time"] = iso(app[keys.CLOCK].now())
    return snapshot
