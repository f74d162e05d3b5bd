"""What growth reads from chat and accounts: who joined a room, who chatted, who
is banned, and viewers' nicknames.

Kept out of the growth service modules so they stay free of other domains'
tables; the transports pass these functions to the services.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from live.accounts.models import Viewer
from live.chat import service as chat
from live.chat.models import ChatMessage
from live.growth.models import Draw


async def has_joined(session: AsyncSession, *, room_id: str, viewer_id: str) -> bool:
    return await chat.has_joined(session, room_id=room_id, user_id=viewer_id)


async def eligible_viewers(session: AsyncSession, draw: Draw, end: datetime) -> Sequence[str]:
    """Viewers (never hosts or 团长) that joined before the end, or posted an
    accepted chat containing the keyword (case-sensitive) between the start and
    the end; minus those banned from the room at the end."""
    if draw.eligibility == "joined":
        ids = set(await chat.joined_viewers(session, room_id=draw.room_id, before=end))
    else:
        keyword = draw.keyword or ""
        rows = await session.execute(
            select(ChatMessage.user_id, ChatMessage.text).where(
                ChatMessage.room_id == draw.room_id, ChatMessage.user_role == "viewer",
                ChatMessage.created_at >= draw.starts_at, ChatMessage.created_at <= end))
        # matched here, not with SQL LIKE: SQLite's LIKE ignores ASCII case
        ids = {user_id for user_id, text in rows if keyword in text}
    return sorted(ids - await chat.banned_users(session, room_id=draw.room_id))


async def nicknames(session: AsyncSession, viewer_ids: Sequence[str]) -> dict[str, str]:
    """Viewer id → nickname, for the ids that exist."""
    if not viewer_ids:
        return {}
    rows = await session.execute(select(Viewer.id, Viewer.nickname)
                                 .where(Viewer.id.in_(list(viewer_ids))))
    return {vid: nick for vid, nick in rows}
