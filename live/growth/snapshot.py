"""The growth part of the room snapshot: coupons (not expired), group buys, draws (not ended)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from live import keys
from live.growth.service import coupons, draws, groups
from live.snapshot import SnapshotPart


def snapshot_part(app: web.Application) -> SnapshotPart:
    async def part(session: AsyncSession, room_id: str) -> dict[str, Any]:
        now = app[keys.CLOCK].now()
        return {
            "coupons": await coupons.snapshot_coupons(session, room_id, now),
            "group_buys": await groups.snapshot_offers(session, room_id),
            "draws": await draws.snapshot_draws(session, room_id),
        }
    return part
