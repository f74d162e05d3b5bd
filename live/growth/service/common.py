from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from live.accounts.principal import Principal
from live.errors import forbidden
from live.rooms.models import Room
from live.rooms.service import get_room, require_live


async def live_room_of_host(session: AsyncSession, room_id: str, host: Principal) -> Room:
    """The contract's order for growth tools: 404, 403 (not the room's host), then
    409 room_not_live."""
    room = await get_room(session, room_id)
    if host.role != "host" or room.host_id != host.id:
        raise forbidden("only the room's host creates these")
    return room


def check_live(room: Room) -> None:
    require_live(room)


def expired(expires_at: datetime, now: datetime) -> bool:
    """A deadline is past from its very instant on."""
    return now >= expires_at
