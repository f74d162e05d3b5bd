"""Growth's place in the app: snapshot part, sweepers, status and order hooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from live import keys
from live.events import Event
from live.growth import jobs
from live.growth.service import coupons, groups, reminders
from live.growth.snapshot import snapshot_part
from live.rooms.models import Room
from live.webhooks.service import enqueue


async def remind_subscribers(session: AsyncSession, room: Room, now: datetime) -> list[Event]:
    """STATUS_HOOKS entry: in the transaction that makes the room live, one
    `room.live` outbox entry per subscriber (exactly once)."""
    if room.status == "live":
        await reminders.notify_subscribers(session, room=room, now=now, enqueue=enqueue)
    return []


# --- order hooks: run inside the order's own transaction -------------------------

async def order_paid(session: AsyncSession, order: Any, now: datetime) -> list[Event]:
    if order.group_id is None:
        return []
    return await groups.group_paid(session, group_id=order.group_id, now=now)


async def order_released(session: AsyncSession, order: Any, now: datetime) -> list[Event]:
    """Cancelled or expired: the coupon claim is unused again; the group seat is free."""
    events: list[Event] = []
    if order.coupon_claim_id is not None:
        await coupons.release_claim(session, order_id=order.id)
    if order.group_id is not None:
        events += await groups.group_released(session, group_id=order.group_id,
                                              order_id=order.id)
    return events


async def order_refunded(session: AsyncSession, order: Any, now: datetime) -> list[Event]:
    """A refund keeps the claim used; a refunded member of an open group no longer counts."""
    if order.group_id is None:
        return []
    return await groups.group_refunded(session, group_id=order.group_id, order_id=order.id)


def setup(app: web.Application) -> None:
    app[keys.SNAPSHOT_PARTS].append(snapshot_part(app))
    app[keys.STATUS_HOOKS].append(remind_subscribers)
    hooks = app[keys.ORDER_HOOKS]
    hooks.paid.append(order_paid)
    hooks.released.append(order_released)
    hooks.refunded.append(order_refunded)
    jobs.register(app)
