"""Growth's place in the app: snapshot part, sweepers, status and order hooks."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from live import keys
from live.events import Event
from live.growth import jobs
from live.growth.service import reminders
from live.growth.snapshot import snapshot_part
from live.rooms.models import Room
from live.webhooks.service import enqueue


async def remind_subscribers(session: AsyncSession, room: Room, now: datetime) -> list[Event]:
    """STATUS_HOOKS entry: in the transaction that makes the room live, one
    `room.live` outbox entry per subscriber (exactly once)."""
    if room.status == "live":
        await reminders.notify_subscribers(session, room=room, now=now, enqueue=enqueue)
    return []


def setup(app: web.Application) -> None:
    app[keys.SNAPSHOT_PARTS].append(snapshot_part(app))
    app[keys.STATUS_HOOKS].append(remind_subscribers)
    jobs.register(app)
