"""Reminders: viewers subscribe to a scheduled room and are told when it goes live."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from live.clock import iso
from live.errors import conflict
from live.growth.models import Subscription
from live.rooms.models import Room

# webhooks.service.enqueue(session, *, event, payload, now): one outbox entry in
# the caller's transaction (passed in, so reminders work with any outbox).
Enqueue = Callable[..., Awaitable[Any]]


async def subscriber_count(session: AsyncSession, room_id: str) -> int:
    return await session.scalar(select(func.count()).select_from(Subscription)
                                .where(Subscription.room_id == room_id)) or 0


async def subscribe(session: AsyncSession, *, room: Room, viewer_id: str,
                    now: datetime) -> dict[str, Any]:
    if room.status != "scheduled":
        raise conflict(f"only a scheduled room takes reminders; this one is {room.status}")
    if await session.get(Subscription, (room.id, viewer_id)) is None:
        try:
            async with session.begin_nested():
                session.add(Subscription(room_id=room.id, viewer_id=viewer_id,
                                         subscribed_at=now, notified_at=None))
        except IntegrityError:
            pass  # the same viewer subscribing twice at once: one row is enough
    return {"room_id": room.id, "subscribed": True,
            "subscribers": await subscriber_count(session, room.id)}


async def unsubscribe(session: AsyncSession, *, room: Room, viewer_id: str) -> dict[str, Any]:
    await session.execute(delete(Subscription).where(Subscription.room_id == room.id,
                                                     Subscription.viewer_id == viewer_id))
    return {"room_id": room.id, "subscribed": False,
            "subscribers": await subscriber_count(session, room.id)}


async def subscriptions_of(session: AsyncSession, viewer_id: str) -> list[dict[str, Any]]:
    rows = await session.scalars(select(Subscription)
                                 .where(Subscription.viewer_id == viewer_id)
                                 .order_by(Subscription.subscribed_at.desc(),
                                           Subscription.room_id))
    return [{"room_id": s.room_id, "subscribed_at": iso(s.subscribed_at),
             "notified_at": iso(s.notified_at)} for s in rows]


async def notify_subscribers(session: AsyncSession, *, room: Room, now: datetime,
                             enqueue: Enqueue) -> int:
    """In the transaction that makes the room live: one `room.live` outbox entry
    per subscriber not yet notified. `notified_at` is set by a conditional
    UPDATE per subscriber, so a retried or concurrent call writes nothing twice."""
    viewer_ids = list(await session.scalars(
        select(Subscription.viewer_id).where(Subscription.room_id == room.id,
                                             Subscription.notified_at.is_(None))
        .order_by(Subscription.viewer_id)))
    sent = 0
    for viewer_id in viewer_ids:
        marked = await session.execute(
            update(Subscription).where(Subscription.room_id == room.id,
                                       Subscription.viewer_id == viewer_id,
                                       Subscription.notified_at.is_(None))
            .values(notified_at=now).execution_options(synchronize_session=False))
        if marked.rowcount == 1:  # type: ignore[attr-defined]
            await enqueue(session, event="room.live", now=now,
                          payload={"room_id": room.id, "viewer_id": viewer_id,
                                   "title": room.title})
            sent += 1
    return sent
