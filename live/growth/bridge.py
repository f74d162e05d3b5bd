"""What growth reads from realtime and chat: who joined a room, who chatted.

Kept out of the service modules; the transports pass these functions to the
services. Until realtime's joins and chat land nobody can join a room, so
nobody has joined and nobody is eligible.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from live.growth.models import Draw


async def has_joined(session: AsyncSession, *, room_id: str, viewer_id: str) -> bool:
    return False


async def eligible_viewers(session: AsyncSession, draw: Draw, end: datetime) -> Sequence[str]:
    return []
