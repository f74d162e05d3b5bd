"""Growth sweepers: draws that reach `ends_at`, 拼团 groups whose window closed.

Every worker runs them; each decision is one conditional UPDATE in the
transaction that acts on it, so whatever the workers, retries or restarts, a
draw ends once and a group fails once.
"""

from __future__ import annotations

import logging

from aiohttp import web

from live import keys
from live.db import transaction
from live.growth import bridge
from live.growth.service import draws
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


def register(app: web.Application) -> None:
    app[keys.JOBS].add("growth.draws", SWEEP_INTERVAL_S, end_due_draws)
