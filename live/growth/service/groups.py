"""拼团 group buys: offers, groups, seats, completion and the failure decision.

Cart's `place_order` calls `seat_order` while placing an order that names a
`group_buy_id`; the order hooks (`group_paid`, `group_released`,
`group_refunded`) keep `members` and seats in step with the order's life. The
sweeper that fails expired groups lives in `live/growth/jobs.py`, because
refunding and cancelling are cart's actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from live.clock import iso
from live.db import get_or_404
from live.errors import Code, LiveError, conflict, invalid
from live.events import Event
from live.growth.events import GroupBuyOffered, GroupChanged
from live.growth.models import Group, GroupBuy, GroupSeat
from live.growth.service.common import expired
from live.ids import new_id
from live.rooms.models import Room
from live.rooms.service import is_on_shelf, require_live


def offer_dict(o: GroupBuy) -> dict[str, Any]:
    return {"id": o.id, "room_id": o.room_id, "product_id": o.product_id,
            "price_cents": o.price_cents, "group_size": o.group_size, "window_s": o.window_s}


def group_dict(g: Group) -> dict[str, Any]:
    return {"id": g.id, "group_buy_id": g.group_buy_id, "room_id": g.room_id,
            "members": g.members, "group_size": g.group_size, "status": g.status,
            "expires_at": iso(g.expires_at), "created_at": iso(g.created_at)}


async def get_offer(session: AsyncSession, offer_id: str) -> GroupBuy:
    return await get_or_404(session, GroupBuy, offer_id, "group buy")


async def get_group(session: AsyncSession, group_id: str) -> Group:
    return await get_or_404(session, Group, group_id, "group")


async def open_groups(session: AsyncSession, offer_id: str) -> list[Group]:
    rows = await session.scalars(select(Group).where(Group.group_buy_id == offer_id,
                                                     Group.status == "open")
                                 .order_by(Group.expires_at, Group.id))
    return list(rows)


async def offer_with_groups(session: AsyncSession, offer: GroupBuy) -> dict[str, Any]:
    return {**offer_dict(offer),
            "groups": [group_dict(g) for g in await open_groups(session, offer.id)]}


async def create_offer(session: AsyncSession, *, room: Room, product_id: str,
                       price_cents: int, group_size: int, window_s: int,
                       now: datetime) -> tuple[GroupBuy, list[Event]]:
    require_live(room)
    if not await is_on_shelf(session, room.id, product_id):
        raise invalid("the product must be on the room's shelf",
                      ("product_id", "not on this room's shelf"))
    offer = GroupBuy(id=new_id("gb"), room_id=room.id, product_id=product_id,
                     price_cents=price_cents, group_size=group_size, window_s=window_s,
                     created_at=now)
    session.add(offer)
    await session.flush()
    return offer, [GroupBuyOffered(room.id, offer_dict(offer))]


# --- placing an order ---------------------------------------------------------

@dataclass(frozen=True)
class GroupLine:
    product_id: str
    quantity: int


@dataclass(frozen=True)
class Seat:
    """What a group order is: its price, its offer and group, and the events."""

    group_buy_id: str
    group_id: str
    product_id: str
    unit_price_cents: int
    events: list[Event]


async def seat_order(session: AsyncSession, *, viewer_id: str, room_id: str,
                     group_buy_id: str, group_id: str | None, lines: Sequence[GroupLine],
                     coupon_claim_id: str | None, order_id: str, created_at: datetime,
                     now: datetime) -> Seat:
    """Validate a group order and take its seat (opening the group if
    `group_id` is None). Call it in the order's transaction, before pricing;
    the order's items are then priced at `unit_price_cents`.

    The seat is one conditional UPDATE (`held < group_size`, still open,
    not expired): a full group cannot be over-joined whatever the concurrency."""
    offer = await session.get(GroupBuy, group_buy_id)
    if offer is None or offer.room_id != room_id:
        raise invalid("no such group buy in this room",
                      ("group_buy_id", "no such group buy in this room"))
    if coupon_claim_id is not None:
        raise invalid("a group order takes no coupon",
                      ("coupon_claim_id", "a group order takes no coupon"))
    if len(lines) != 1 or lines[0].product_id != offer.product_id:
        raise invalid("a group order holds the offer's product only",
                      ("items", "a group order holds the offer's product only"))
    events: list[Event] = []
    if group_id is None:
        group = Group(id=new_id("grp"), group_buy_id=offer.id, room_id=room_id,
                      group_size=offer.group_size, members=0, held=1, status="open",
                      opened_by=viewer_id, created_at=created_at,
                      expires_at=created_at + timedelta(seconds=offer.window_s),
                      closed_at=None)
        session.add(group)
        await session.flush()
        events.append(GroupChanged(room_id, group_dict(group)))
    else:
        found = await session.get(Group, group_id)
        if found is None or found.group_buy_id != offer.id:
            raise invalid("no such group of this group buy",
                          ("group_id", "no such group of this group buy"))
        group = found
        if group.status != "open" or expired(group.expires_at, now):
            state = group.status if group.status != "open" else "past its window"
            raise conflict(f"the group is {state}")
        if await session.get(GroupSeat, (group.id, viewer_id)) is not None:
            raise LiveError(Code.LIMIT_EXCEEDED, "you are already in this group")
        taken = await session.execute(
            update(Group).where(Group.id == group.id, Group.status == "open",
                                Group.held < Group.group_size, Group.expires_at > now)
            .values(held=Group.held + 1).execution_options(synchronize_session=False))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise conflict("the group is full")
    try:
        async with session.begin_nested():
            session.add(GroupSeat(group_id=group.id, viewer_id=viewer_id, order_id=order_id))
    except IntegrityError:
        raise LiveError(Code.LIMIT_EXCEEDED, "you are already in this group") from None
    return Seat(offer.id, group.id, offer.product_id, offer.price_cents, events)


# --- the order's life (called from the order hooks) ----------------------------

async def group_paid(session: AsyncSession, *, group_id: str, now: datetime) -> list[Event]:
    """A member paid: count it, and complete the group when it is full.
    Paying once the window has closed is refused (409), rolling the payment back."""
    group = await get_group(session, group_id)
    if group.status != "open" or expired(group.expires_at, now):
        raise conflict("the group's window has closed")
    await session.execute(
        update(Group).where(Group.id == group_id, Group.status == "open")
        .values(members=Group.members + 1).execution_options(synchronize_session=False))
    await session.execute(
        update(Group).where(Group.id == group_id, Group.status == "open",
                            Group.members >= Group.group_size)
        .values(status="complete", closed_at=now)
        .execution_options(synchronize_session=False))
    await session.refresh(group)
    return [GroupChanged(group.room_id, group_dict(group))]


async def group_released(session: AsyncSession, *, group_id: str,
                         order_id: str) -> list[Event]:
    """A pending member cancelled or expired: free its seat while the group is open."""
    freed = await session.execute(delete(GroupSeat).where(GroupSeat.group_id == group_id,
                                                          GroupSeat.order_id == order_id))
    if freed.rowcount:  # type: ignore[attr-defined]
        await session.execute(
            update(Group).where(Group.id == group_id, Group.status == "open")
            .values(held=Group.held - 1).execution_options(synchronize_session=False))
    return []


async def group_refunded(session: AsyncSession, *, group_id: str,
                         order_id: str) -> list[Event]:
    """The host refunded a paid member of a group still open: it no longer counts.
    (Refunds of a failed group, or after completion, change nothing here.)"""
    group = await get_group(session, group_id)
    if group.status != "open":
        return []
    await session.execute(delete(GroupSeat).where(GroupSeat.group_id == group_id,
                                                  GroupSeat.order_id == order_id))
    await session.execute(
        update(Group).where(Group.id == group_id, Group.status == "open")
        .values(members=Group.members - 1, held=Group.held - 1)
        .execution_options(synchronize_session=False))
    await session.refresh(group)
    return [GroupChanged(group.room_id, group_dict(group))]


async def claim_failure(session: AsyncSession, *, group_id: str,
                        now: datetime) -> Group | None:
    """Decide that an expired open group failed: one conditional UPDATE, so of
    all workers and retries exactly one transaction gets the group back (and
    then refunds and cancels its orders in that same transaction)."""
    won = await session.execute(
        update(Group).where(Group.id == group_id, Group.status == "open",
                            Group.expires_at <= now)
        .values(status="failed", closed_at=now)
        .execution_options(synchronize_session=False))
    if won.rowcount != 1:  # type: ignore[attr-defined]
        return None
    group = await get_group(session, group_id)
    await session.refresh(group)
    return group


async def due_group_ids(session: AsyncSession, now: datetime) -> list[str]:
    rows = await session.scalars(select(Group.id).where(Group.status == "open",
                                                        Group.expires_at <= now)
                                 .order_by(Group.expires_at).limit(200))
    return list(rows)


async def snapshot_offers(session: AsyncSession, room_id: str) -> list[dict[str, Any]]:
    offers = await session.scalars(select(GroupBuy).where(GroupBuy.room_id == room_id)
                                   .order_by(GroupBuy.created_at, GroupBuy.id))
    return [await offer_with_groups(session, o) for o in offers]
