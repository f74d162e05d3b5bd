"""What growth reads from realtime and chat: who joined a room, who chatted.

Kept out of the service modules (which may not import `live.realtime`); the
transports pass these functions to the services.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from live.growth.models import Draw


async def has_joined(session: AsyncSession, *, room_id: str, viewer_id: str) -> bool:
    raise NotImplementedError("needs realtime's room_joins")


async def eligible_viewers(session: AsyncSession, draw: Draw, end: datetime) -> Sequence[str]:
    raise NotImplementedError("needs realtime's room_joins and chat messages")
