"""Growth sweepers: draws that reach `ends_at`, 拼团 groups whose window closed.

Every worker runs them; each decision is one conditional UPDATE in the
transaction that acts on it, so whatever the workers, retries or restarts, a
draw ends once and a group fails once.
"""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy import select

from live import keys
from live.cart import service as cart
from live.cart.models import Order
from live.db import transaction
from live.events import Event
from live.growth import bridge
from live.growth.events import GroupChanged
from live.growth.service import draws, groups
from live.realtime.publish import publish

log = logging.getLogger("live.growth")

SWEEP_INTERVAL_S = 0.25  # "within 1 s" with room to spare


async def end_due_draws(app: web.Application) -> None:
    now = app[keys.CLOCK].now()
    async with app[keys.SESSIONS]() as session:
        due = await draws.due_draw_ids(session, now)
    for draw_id in due:
        async with transaction(app) as session:
            events = await draws.end_draw(session, draw_id=draw_id, now=now,
                                          eligible_fn=bridge.eligible_viewers, manual=False)
        if events:
            log.info("draw ended draw_id=%s", draw_id)
        await publish(app, events)


async def fail_due_groups(app: web.Application) -> None:
    """Groups whose window closed unfilled fail: in ONE transaction per group,
    the conditional status change (open → failed) and the refunds and
    cancellations of its orders. A worker that loses the status change does
    nothing; a crash before the commit leaves the group open for the next run."""
    now = app[keys.CLOCK].now()
    async with app[keys.SESSIONS]() as session:
        due = await groups.due_group_ids(session, now)
    hooks = app[keys.ORDER_HOOKS]
    for group_id in due:
        async with transaction(app) as session:
            group = await groups.claim_failure(session, group_id=group_id, now=now)
            if group is None:
                continue
            events: list[Event] = [GroupChanged(group.room_id, groups.group_dict(group))]
            members = await session.scalars(
                select(Order).where(Order.group_id == group_id,
                                    Order.status.in_(("paid", "pending_payment")))
                .order_by(Order.id))
            for order in list(members):
                if order.status == "paid":
                    events += await cart.refund_order(session, order=order, hooks=hooks, now=now)
                elif order.status == "pending_payment":
                    events += await cart.cancel_order(session, order=order, hooks=hooks, now=now)
        log.info("group failed group_id=%s", group_id)
        await publish(app, events)


def register(app: web.Application) -> None:
    app[keys.JOBS].add("growth.draws", SWEEP_INTERVAL_S, end_due_draws)
    app[keys.JOBS].add("growth.groups", SWEEP_INTERVAL_S, fail_due_groups)
