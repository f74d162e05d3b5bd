"""Hand committed events to the broker. Called by transports after commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web

from live import keys
from live.events import Event
from live.realtime.broker import Envelope

log = logging.getLogger("live.realtime")


async def publish(app: web.Application, events: Sequence[Event]) -> list[Envelope]:
    """Publish events room by room, in order. A failure is logged, not raised:
    the change is committed and clients recover by snapshot or replay.

    State events (`stock`...) wait up to one tick on this worker and only the
    newest per state key gets a seq (so they return no envelope); the others
    are published at once and returned with their seq.
    """
    out: list[Envelope] = []
    by_room: dict[str, list[Event]] = {}
    for ev in events:
        by_room.setdefault(ev.room_id, []).append(ev)
    broker = app[keys.BROKER]
    fanout = app.get(keys.FANOUT)
    for room_id, evs in by_room.items():
        items = []
        for e in evs:
            if e.state and fanout is not None:
                fanout.state.put(room_id, (e.type, e.data(), e.state_key()))
            else:
                items.append((e.type, e.data(), e.state_key() if e.state else None))
        if not items:
            continue
        try:
            out.extend(await broker.publish(room_id, items))
        except Exception:
            log.exception("publish failed room_id=%s types=%s", room_id,
                          [e.type for e in evs])
            continue
        app[keys.METRICS].count_events(items)
    return out
