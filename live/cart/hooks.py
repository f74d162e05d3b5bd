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
- `bound_leaders(session, host_id=, viewer_ids=, now=)` → {viewer id: leader id
  or None}: what `attribute` answers for orders without a share token or a
  visitor cookie, for many viewers at once (the flash lane). (distribution)
- `placed(session, orders, now)` → events, for one or many orders placed in
  the transaction (the flash lane places many at once). (stats)
- `paid / refunded / released(session, order, now)` → events.
  `released` is cancel or expiry. (distribution, growth, stats)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from live.events import Event

OrderHook = Callable[[AsyncSession, Any, datetime], Awaitable[list[Event]]]
OrdersHook = Callable[[AsyncSession, Sequence[Any], datetime], Awaitable[list[Event]]]
AttributeHook = Callable[..., Awaitable[str | None]]
BoundLeadersHook = Callable[..., Awaitable[dict[str, str | None]]]


@dataclass
class OrderHooks:
    attribute: AttributeHook | None = None
    bound_leaders: BoundLeadersHook | None = None
    placed: list[OrdersHook] = field(default_factory=list)
    paid: list[OrderHook] = field(default_factory=list)
    refunded: list[OrderHook] = field(default_factory=list)
    released: list[OrderHook] = field(default_factory=list)


async def run(hooks: Sequence[OrderHook | OrdersHook], session: AsyncSession, order: Any,
              now: datetime) -> list[Event]:
    """Each hook in turn; `order` is one order, or a list of them for `placed`."""
    events: list[Event] = []
    for hook in hooks:
        events += await hook(session, order, now)
    return events

