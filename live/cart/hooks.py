"""How other domains take part in an order's life without cart importing them.

`app.py` fills one `OrderHooks` (`app[keys.ORDER_HOOKS]`); cart's transports
and sweepers pass it to the cart service actions, which call the hooks inside
the order's own transaction and return their events with their own. So a
commission is written in the same commit as the payment, and a refund reverses
it in the same commit as the refund.

- `attribute(session, viewer_id=, room_id=, share_token=, visitor_id=, now=)`
  → the leader id the order is attributed to, or None. It raises
  `LiveError(invalid, fields=[share_token])` for a tampered or foreign token.
  (distribution)
- `placed / paid / refunded / released(session, order, now)` → events.
  `released` is cancel or expiry. (distribution, growth, stats)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from live.events import Event

OrderHook = Callable[[AsyncSession, Any, datetime], Awaitable[list[Event]]]
AttributeHook = Callable[..., Awaitable[str | None]]


@dataclass
class OrderHooks:
    attribute: AttributeHook | None = None
    placed: list[OrderHook] = field(default_factory=list)
    paid: list[OrderHook] = field(default_factory=list)
    refunded: list[OrderHook] = field(default_factory=list)
    released: list[OrderHook] = field(default_factory=list)


async def run(hooks: list[OrderHook], session: AsyncSession, order: Any,
              now: datetime) -> list[Event]:
    events: list[Event] = []
    for hook in hooks:
        events += await hook(session, order, now)
    return events
