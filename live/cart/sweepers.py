"""Periodic jobs of commerce. Every worker runs them; each change is a conditional
status transition, so a sale starts or ends, and an order expires, exactly once."""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy import or_, select

from live import keys
from live.cart import service
from live.cart.http import release_gate, sync_gate
from live.cart.models import FlashSale
from live.db import transaction
from live.jobs import Jobs
from live.realtime.publish import publish

log = logging.getLogger("live.cart.sweepers")

FLASH_INTERVAL_S = 0.2
EXPIRY_INTERVAL_S = 0.5
KEYS_INTERVAL_S = 600.0


async def flash_sales_job(app: web.Application) -> None:
    """Start scheduled sales whose time has come; end sales past `ends_at`."""
    now = app[keys.CLOCK].now()
    async with app[keys.SESSIONS]() as session:  # a cheap read before taking a write lock
        due = await session.scalar(select(FlashSale.id).where(or_(
            (FlashSale.status == "scheduled") & (FlashSale.starts_at <= now),
            (FlashSale.status != "ended") & (FlashSale.ends_at <= now))).limit(1))
    if due is None:
        return
    async with transaction(app) as session:
        events = await service.end_due_sales(session, now=now)
        events += await service.start_due_sales(session, now=now)
    await publish(app, events)
    await sync_gate(app, events)


async def order_expiry_job(app: web.Application) -> None:
    """Orders unpaid after the payment timeout expire and give their units back."""
    now = app[keys.CLOCK].now()
    async with app[keys.SESSIONS]() as session:
        due = await service.due_orders(session, now=now)
    for order_id in due:
        async with transaction(app) as session:
            order, events = await service.expire_order(
                session, order_id=order_id, hooks=app[keys.ORDER_HOOKS], now=now)
        if order is not None:
            await publish(app, events)
            await release_gate(app, order)


async def idempotency_keys_job(app: web.Application) -> None:
    async with transaction(app) as session:
        await service.forget_old_keys(session, now=app[keys.CLOCK].now())


def register(jobs: Jobs) -> None:
    jobs.add("flash_sales", FLASH_INTERVAL_S, flash_sales_job)
    jobs.add("order_expiry", EXPIRY_INTERVAL_S, order_expiry_job)
    jobs.add("idempotency_keys", KEYS_INTERVAL_S, idempotency_keys_job)
