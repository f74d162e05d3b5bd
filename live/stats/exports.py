"""Rows of the CSV exports, read one page at a time (keyset pagination).

Each function takes the sort key of the previous page's last row
(`after_key`) and returns at most `limit` rows in a stable order (ending in a
unique column), so an export of any size is a series of short reads that
never repeat a row; deep pages cost no more than the first (no OFFSET).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from live.accounts.models import Viewer
from live.cart.models import Order
from live.db import keyset_after
from live.rooms.models import Room
from live.stats.models import StatsCustomer

# --- orders ---------------------------------------------------------------------

ORDER_COLUMNS = ["order_id", "room_id", "viewer_id", "viewer_nickname", "status", "items",
                 "items_cents", "discount_cents", "total_cents", "total_yuan", "leader_id",
                 "coupon_claim_id", "group_id", "fulfilment_kind", "fulfilment_detail",
                 "created_at", "paid_at", "closed_at"]


@dataclass(frozen=True)
class OrderRow:
    order: Order
    nickname: str

    @property
    def key(self) -> tuple[datetime, str]:
        return self.order.created_at, self.order.id


async def orders_page(session: AsyncSession, *, host_id: str, room_id: str | None,
                      status: str | None, after_key: tuple[datetime, str] | None,
                      limit: int) -> list[OrderRow]:
    """A host's orders (all its rooms, or one), oldest first."""
    query = (select(Order, Viewer.nickname).join(Viewer, Viewer.id == Order.viewer_id)
             .where(keyset_after((Order.created_at, Order.id), after_key))
             .order_by(Order.created_at, Order.id).limit(limit))
    if room_id is not None:
        query = query.where(Order.room_id == room_id)
    else:
        query = query.where(Order.room_id.in_(select(Room.id).where(Room.host_id == host_id)))
    if status is not None:
        query = query.where(Order.status == status)
    return [OrderRow(o, nick) for o, nick in (await session.execute(query)).all()]


def items_text(order: Order) -> str:
    """`赣南脐橙 ×2; 奇异果 ×1`: what a packer reads."""
    return "; ".join(f"{i.title} ×{i.quantity}" for i in order.items)


# --- customers ------------------------------------------------------------------

CUSTOMER_COLUMNS = ["viewer_id", "viewer_nickname", "orders", "gmv_cents", "gmv_yuan",
                    "first_paid_at", "last_paid_at"]


async def customers_page(session: AsyncSession, *, host_id: str,
                         after_key: tuple[int, str] | None,
                         limit: int) -> list[tuple[StatsCustomer, str]]:
    """A host's paying viewers by GMV (highest first), then viewer id."""
    s = StatsCustomer
    query = (select(s, Viewer.nickname).join(Viewer, Viewer.id == s.viewer_id)
             .where(s.host_id == host_id)
             .order_by(s.gmv_cents.desc(), s.viewer_id).limit(limit))
    if after_key is not None:
        gmv, viewer_id = after_key
        query = query.where(or_(s.gmv_cents < gmv,
                                and_(s.gmv_cents == gmv, s.viewer_id > viewer_id)))
    return [(row, nick) for row, nick in (await session.execute(query)).all()]
