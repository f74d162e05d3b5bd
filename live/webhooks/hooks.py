"""Order events into the outbox, in the order's own transaction (cart's OrderHooks)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from live.clock import iso
from live.events import Event
from live.webhooks.service import enqueue

log = logging.getLogger("live.webhooks")


def order_payload(order: Any) -> dict[str, Any]:
    """The order as the API shows it (plus its fulfilment: the host ships it)."""
    items = [{"product_id": i.product_id, "title": getattr(i, "title", None),
              "quantity": i.quantity, "unit_price_cents": i.unit_price_cents,
              "flash_sale_id": getattr(i, "flash_sale_id", None)}
             for i in getattr(order, "items", [])]
    out: dict[str, Any] = {
        "id": order.id, "room_id": order.room_id, "viewer_id": order.viewer_id,
        "status": order.status, "items": items,
        "discount_cents": getattr(order, "discount_cents", 0),
        "total_cents": order.total_cents, "leader_id": order.leader_id,
        "created_at": iso(getattr(order, "created_at", None)),
        "paid_at": iso(getattr(order, "paid_at", None)),
    }
    kind = getattr(order, "fulfilment_kind", None)
    if kind:
        key = "address" if kind == "delivery" else "point"
        out["fulfilment"] = {"kind": kind, key: getattr(order, "fulfilment_detail", None)}
    return out


async def _order_event(session: AsyncSession, event: str, order: Any,
                       now: datetime) -> list[Event]:
    entry = await enqueue(session, event=event,
                          payload={"room_id": order.room_id, "order": order_payload(order)},
                          now=now)
    log.info("webhook queued id=%s event=%s room_id=%s order_id=%s viewer_id=%s", entry,
             event, order.room_id, order.id, order.viewer_id)
    return []


async def order_paid(session: AsyncSession, order: Any, now: datetime) -> list[Event]:
    return await _order_event(session, "order.paid", order, now)


async def order_refunded(session: AsyncSession, order: Any, now: datetime) -> list[Event]:
    return await _order_event(session, "order.refunded", order, now)
