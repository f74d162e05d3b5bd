"""Room numbers, maintained in the transaction of each change.

Other domains call in through hooks (orders: placed/paid/refunded; Socket.IO
join) or one-line calls (`count_chat`, `note_person` for a link visit), so a
room's stats are one primary-key read however many orders it has. Distinct
counts are exact: a person is a row, not a sketch.

People: each identity seen in a room (a viewer `w:<id>`, a link visitor's
cookie `c:<id>`) maps to a person; a visitor id and the viewer it is linked
to are one person, so when one call names both and they were counted apart,
the two people merge and `visitors` goes down by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.clock import iso
from live.db import among, insert_ignoring
from live.events import Event
from live.rooms.models import Room
from live.stats.models import (
    RoomStats,
    StatsBuyer,
    StatsCustomer,
    StatsIdentity,
    StatsLeader,
    StatsMinute,
    StatsPerson,
    StatsProduct,
)

# Funnel stages, in order (a person's `stages` is a bit set of them).
STAGES = ("visited", "joined", "product_opened", "added_to_cart", "ordered", "paid")
BIT = {name: 1 << i for i, name in enumerate(STAGES)}


# --- small SQL helpers ----------------------------------------------------------

async def _insert_ignore(session: AsyncSession, model: Any, values: dict[str, Any]) -> bool:
    """One row of `db.insert_ignoring`; True if it was added."""
    key = tuple(c.key for c in model.__table__.primary_key.columns)
    return bool(await insert_ignoring(session, model, [values], returning=key))


async def _bump(session: AsyncSession, model: Any, where: Any, blank: dict[str, Any],
                deltas: dict[str, int], returning: Any = None) -> Any:
    """UPDATE col = col + delta; the row is created (all zeros) the first time.

    The common case is one statement; a concurrent first insert is ignored and
    the update runs again, so no increment is lost.
    """
    table = model.__table__  # Core: a plain cursor result with rowcount
    stmt = update(table).where(where).values(
        {name: table.c[name] + delta for name, delta in deltas.items()})
    if returning is not None:
        stmt = stmt.returning(returning)
    result = await session.execute(stmt)
    if result.rowcount == 0:  # type: ignore[attr-defined]
        await _insert_ignore(session, model, blank)
        result = await session.execute(stmt)
    return result.scalar_one() if returning is not None else None


async def _bump_room(session: AsyncSession, room_id: str, **deltas: int) -> None:
    await _bump(session, RoomStats, RoomStats.room_id == room_id, {
        "room_id": room_id, "visitors": 0, "chat_messages": 0, "orders": 0, "buyers": 0,
        "gmv_cents": 0, "refunds": 0}, deltas)


def minute_of(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def _blank_minute(room_id: str, minute: datetime) -> dict[str, Any]:
    return {"room_id": room_id, "minute": minute, "visitors": 0, "peak_viewers": 0,
            "chat_messages": 0, "likes_total": 0, "orders": 0, "gmv_cents": 0, "refunds": 0}


async def _bump_minute(session: AsyncSession, room_id: str, now: datetime,
                       **deltas: int) -> None:
    minute = minute_of(now)
    await _bump(session, StatsMinute,
                and_(StatsMinute.room_id == room_id, StatsMinute.minute == minute),
                _blank_minute(room_id, minute), deltas)


async def raise_minute(session: AsyncSession, *, room_id: str, now: datetime,
                       peak_viewers: int, likes_total: int) -> None:
    """Record presence and the likes total seen now (never lowering them)."""
    minute = minute_of(now)
    await _insert_ignore(session, StatsMinute, _blank_minute(room_id, minute))
    c = StatsMinute.__table__.c
    await session.execute(update(StatsMinute).where(
        StatsMinute.room_id == room_id, StatsMinute.minute == minute).values(
        peak_viewers=case((c.peak_viewers < peak_viewers, peak_viewers),
                          else_=c.peak_viewers),
        likes_total=case((c.likes_total < likes_total, likes_total), else_=c.likes_total)))


# --- people and the funnel --------------------------------------------------------

async def note_person(session: AsyncSession, *, room_id: str, stage: str, now: datetime,
                      viewer_id: str | None = None, visitor_id: str | None = None,
                      leader_id: str | None = None) -> None:
    """Someone reached `stage` in the room; count them if they are new there.

    `viewer_id` and `visitor_id` together say they are one person (the visitor
    cookie is linked to the viewer). A `leader_id` is the 团长 they came through
    (the latest known wins).
    """
    if viewer_id and not visitor_id:
        await note_viewers(session, room_id=room_id, stage=stage, now=now,
                           people=[(viewer_id, leader_id)])
        return
    keys = ([f"w:{viewer_id}"] if viewer_id else []) + ([f"c:{visitor_id}"] if visitor_id
                                                         else [])
    if not keys:
        return
    rows = (await session.execute(
        select(StatsIdentity.identity, StatsIdentity.person_id)
        .where(StatsIdentity.room_id == room_id, StatsIdentity.identity.in_(keys)))).all()
    known = {identity: person for identity, person in rows}
    persons = sorted({known[k] for k in keys if k in known},
                     key=lambda p: (not p.startswith("w:"), p))
    if not persons:
        person = keys[0]
        if await _insert_ignore(session, StatsPerson, {
                "room_id": room_id, "person_id": person, "leader_id": leader_id,
                "stages": 0, "first_seen_at": now}):
            await _bump_room(session, room_id, visitors=1)
            await _bump_minute(session, room_id, now, visitors=1)
    else:
        person = persons[0]
        for other in persons[1:]:  # two people turn out to be one
            gone = await session.get(StatsPerson, (room_id, other))
            await session.execute(update(StatsIdentity).where(
                StatsIdentity.room_id == room_id, StatsIdentity.person_id == other)
                .values(person_id=person))
            await session.execute(delete(StatsPerson).where(
                StatsPerson.room_id == room_id, StatsPerson.person_id == other))
            if gone is not None:
                await session.execute(update(StatsPerson).where(
                    StatsPerson.room_id == room_id, StatsPerson.person_id == person)
                    .values(stages=StatsPerson.stages.op("|")(gone.stages)))
                await _bump_room(session, room_id, visitors=-1)
    for k in keys:
        if known.get(k) != person:
            await _insert_ignore(session, StatsIdentity,
                                 {"room_id": room_id, "identity": k, "person_id": person})
    values: dict[str, Any] = {"stages": StatsPerson.stages.op("|")(BIT[stage])}
    if leader_id:
        values["leader_id"] = leader_id
    await session.execute(update(StatsPerson).where(
        StatsPerson.room_id == room_id, StatsPerson.person_id == person).values(values)
        .execution_options(synchronize_session=False))


async def note_viewers(session: AsyncSession, *, room_id: str, stage: str, now: datetime,
                       people: Sequence[tuple[str, str | None]]) -> None:
    """`note_person` for viewers known by their viewer id alone (no cookie to
    merge), many at once in a few statements: (viewer id, leader id or None).
    A viewer named twice counts once; their latest leader wins."""
    leader_of = dict(people)
    identities = {f"w:{viewer_id}": viewer_id for viewer_id in leader_of}
    rows = (await session.execute(
        select(StatsIdentity.identity, StatsIdentity.person_id)
        .where(StatsIdentity.room_id == room_id,
               among(session, StatsIdentity.identity, identities)))).all()
    person_of = {identities[identity]: person for identity, person in rows}
    # Rows in key order: concurrent batches (the flash lane runs several) then
    # lock them in one order and cannot deadlock.
    new = sorted(v for v in leader_of if v not in person_of)
    if new:
        # New people are written at this stage already; only those someone
        # else added meanwhile (and the known ones) need the UPDATE below.
        added = {r.person_id for r in await insert_ignoring(session, StatsPerson, [
            {"room_id": room_id, "person_id": f"w:{v}", "leader_id": leader_of[v],
             "stages": BIT[stage], "first_seen_at": now} for v in new],
            returning=("person_id",))}
        if added:
            await _bump_room(session, room_id, visitors=len(added))
            await _bump_minute(session, room_id, now, visitors=len(added))
        await insert_ignoring(session, StatsIdentity, [
            {"room_id": room_id, "identity": f"w:{v}", "person_id": f"w:{v}"} for v in new])
        person_of.update({v: f"w:{v}" for v in new if f"w:{v}" not in added})
    by_leader: dict[str | None, list[str]] = {}
    for viewer_id, person in person_of.items():
        by_leader.setdefault(leader_of[viewer_id], []).append(person)
    for leader_id, persons in by_leader.items():
        values: dict[str, Any] = {"stages": StatsPerson.stages.op("|")(BIT[stage])}
        if leader_id:
            values["leader_id"] = leader_id
        await session.execute(update(StatsPerson).where(
            StatsPerson.room_id == room_id, among(session, StatsPerson.person_id, persons))
            .values(values)
            .execution_options(synchronize_session=False))


async def funnel(session: AsyncSession, room_id: str) -> dict[str, Any]:
    """People per stage, for the room and per 团长 (None: came without a link)."""
    cols = [func.coalesce(func.sum(case((StatsPerson.stages.op("&")(BIT[s]) != 0, 1),
                                        else_=0)), 0) for s in STAGES]
    rows = (await session.execute(
        select(StatsPerson.leader_id, *cols).where(StatsPerson.room_id == room_id)
        .group_by(StatsPerson.leader_id))).all()
    total = dict.fromkeys(STAGES, 0)
    leaders = []
    for row in rows:
        counts = {s: int(row[i + 1]) for i, s in enumerate(STAGES)}
        for s in STAGES:
            total[s] += counts[s]
        if row[0] is not None:
            leaders.append({"leader_id": row[0], **counts})
    leaders.sort(key=lambda r: (-r["paid"], -r["visited"], r["leader_id"]))
    return {"stages": list(STAGES), "room": total, "leaders": leaders}


# --- orders (cart's OrderHooks) ------------------------------------------------

async def orders_placed(session: AsyncSession, orders: Sequence[Any],
                        now: datetime) -> list[Event]:
    """Placed orders (one, or a flash lane's many): their buyers reach `ordered`."""
    by_room: dict[str, list[tuple[str, str | None]]] = {}
    for order in orders:
        by_room.setdefault(order.room_id, []).append((order.viewer_id, order.leader_id))
    for room_id in sorted(by_room):  # rooms in one order in every transaction (no deadlock)
        await note_viewers(session, room_id=room_id, stage="ordered", now=now,
                           people=by_room[room_id])
    return []


async def order_paid(session: AsyncSession, order: Any, now: datetime) -> list[Event]:
    """A paid order: orders, GMV, buyers, and the buyer counts as a visitor
    (someone who bought has opened the room, so conversion stays ≤ 1)."""
    room_id, viewer_id, total = order.room_id, order.viewer_id, int(order.total_cents)
    await note_person(session, room_id=room_id, stage="paid", now=now, viewer_id=viewer_id,
                      leader_id=order.leader_id)
    orders = await _bump_buyer(session, room_id, viewer_id, orders=1, gmv_cents=total)
    await _bump_room(session, room_id, orders=1, gmv_cents=total,
                     buyers=1 if orders == 1 else 0)
    await _bump_minute(session, room_id, now, orders=1, gmv_cents=total)
    await _bump_host(session, order, now, sign=1)
    return []


async def order_refunded(session: AsyncSession, order: Any, now: datetime) -> list[Event]:
    room_id, viewer_id, total = order.room_id, order.viewer_id, int(order.total_cents)
    orders = await _bump_buyer(session, room_id, viewer_id, orders=-1, gmv_cents=-total)
    await _bump_room(session, room_id, orders=-1, gmv_cents=-total, refunds=1,
                     buyers=-1 if orders == 0 else 0)
    await _bump_minute(session, room_id, now, refunds=1)
    await _bump_host(session, order, now, sign=-1)
    return []


async def _bump_host(session: AsyncSession, order: Any, now: datetime, *, sign: int) -> None:
    """Host-level customers, products and 团长 GMV (sign -1: a refund)."""
    room = await session.get(Room, order.room_id)
    if room is None:
        return
    host_id, total = room.host_id, int(order.total_cents)
    where = and_(StatsCustomer.host_id == host_id, StatsCustomer.viewer_id == order.viewer_id)
    deltas = {"orders": sign, "gmv_cents": sign * total}
    await _bump(session, StatsCustomer, where, {
        "host_id": host_id, "viewer_id": order.viewer_id, "orders": 0, "gmv_cents": 0,
        "first_paid_at": now, "last_paid_at": now}, deltas)
    if sign > 0:
        await session.execute(update(StatsCustomer).where(where).values(last_paid_at=now)
                              .execution_options(synchronize_session=False))
    for item in getattr(order, "items", []):
        line = int(item.quantity) * int(item.unit_price_cents)
        await _bump(session, StatsProduct, and_(
            StatsProduct.host_id == host_id, StatsProduct.product_id == item.product_id), {
            "host_id": host_id, "product_id": item.product_id,
            "title": getattr(item, "title", "") or "", "units": 0, "gmv_cents": 0},
            {"units": sign * int(item.quantity), "gmv_cents": sign * line})
    if order.leader_id:
        await _bump(session, StatsLeader, and_(
            StatsLeader.host_id == host_id, StatsLeader.leader_id == order.leader_id), {
            "host_id": host_id, "leader_id": order.leader_id, "orders": 0, "gmv_cents": 0},
            deltas)


async def customers(session: AsyncSession, *, host_id: str, now: datetime, new_days: int,
                    active_days: int, churn_days: int, top: int) -> dict[str, Any]:
    """Segments of the host's paying viewers (paid, not refunded orders):
    new = first payment within `new_days`; active = paid within `active_days`
    and also before that window; churned = no payment within `churn_days`
    after earlier ones. Repurchase rate = customers with ≥ 2 orders / customers."""
    c = StatsCustomer
    new_since = now - timedelta(days=new_days)
    active_since = now - timedelta(days=active_days)
    churn_since = now - timedelta(days=churn_days)

    def count_if(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    row = (await session.execute(select(
        func.count(),
        count_if(c.first_paid_at >= new_since),
        count_if(and_(c.last_paid_at >= active_since, c.first_paid_at < active_since)),
        count_if(c.last_paid_at < churn_since),
        count_if(c.orders >= 2),
        func.coalesce(func.sum(c.gmv_cents), 0),
    ).where(c.host_id == host_id, c.orders > 0))).one()
    total, new, active, churned, repeat, gmv = (int(v) for v in row)
    products = (await session.scalars(
        select(StatsProduct).where(StatsProduct.host_id == host_id, StatsProduct.units > 0)
        .order_by(StatsProduct.gmv_cents.desc(), StatsProduct.units.desc(),
                  StatsProduct.product_id).limit(top))).all()
    leaders = (await session.scalars(
        select(StatsLeader).where(StatsLeader.host_id == host_id, StatsLeader.orders > 0)
        .order_by(StatsLeader.gmv_cents.desc(), StatsLeader.leader_id))).all()
    return {
        "windows": {"new_days": new_days, "active_days": active_days,
                    "churn_days": churn_days},
        "customers": total, "new": new, "active": active, "churned": churned,
        "repurchase_rate": conversion_rate(repeat, total), "gmv_cents": gmv,
        "top_products": [{"product_id": p.product_id, "title": p.title, "units": p.units,
                          "gmv_cents": p.gmv_cents} for p in products],
        "leaders": [{"leader_id": x.leader_id, "orders": x.orders, "gmv_cents": x.gmv_cents}
                    for x in leaders],
    }


async def _bump_buyer(session: AsyncSession, room_id: str, viewer_id: str, *, orders: int,
                      gmv_cents: int) -> int:
    """Add to the viewer's paid orders in the room; returns the new count."""
    return int(await _bump(
        session, StatsBuyer,
        and_(StatsBuyer.room_id == room_id, StatsBuyer.viewer_id == viewer_id),
        {"room_id": room_id, "viewer_id": viewer_id, "orders": 0, "gmv_cents": 0},
        {"orders": orders, "gmv_cents": gmv_cents}, returning=StatsBuyer.orders))


# --- chat, joins ----------------------------------------------------------------

async def count_chat(session: AsyncSession, *, room_id: str, now: datetime) -> None:
    """An accepted chat message (deleting it later does not uncount it)."""
    await _bump_room(session, room_id, chat_messages=1)
    await _bump_minute(session, room_id, now, chat_messages=1)


async def on_join(session: AsyncSession, *, room_id: str, principal: Any,
                  share_token: str | None, visitor_id: str | None,
                  now: datetime) -> list[Event]:
    """JOIN_HOOKS: a viewer joined. With a share token its cookie is linked to
    it (distribution does the same), so the visit and the join are one person."""
    if getattr(principal, "role", None) != "viewer":
        return []
    await note_person(session, room_id=room_id, stage="joined", now=now,
                      viewer_id=principal.id, visitor_id=visitor_id if share_token else None)
    return []


# --- reading --------------------------------------------------------------------

def conversion_rate(buyers: int, visitors: int) -> float:
    if visitors <= 0:
        return 0.0
    # Exact decimal rounding (half up) of buyers / visitors to 4 places.
    scaled = (buyers * 10000 * 2 + visitors) // (2 * visitors)
    return min(scaled, 10000) / 10000


async def room_with_stats(session: AsyncSession,
                          room_id: str) -> tuple[Room | None, RoomStats | None]:
    """The room and its counters in one round trip (the stats call's hot path)."""
    found = (await session.execute(
        select(Room, RoomStats).outerjoin(RoomStats, RoomStats.room_id == Room.id)
        .where(Room.id == room_id))).first()
    return (found[0], found[1]) if found else (None, None)


def room_stats(row: RoomStats | None, *, viewers_now: int, peak_viewers: int,
               likes: int) -> dict[str, Any]:
    visitors = row.visitors if row else 0
    orders = row.orders if row else 0
    gmv = row.gmv_cents if row else 0
    buyers = row.buyers if row else 0
    return {
        "visitors": visitors, "viewers_now": viewers_now,
        "peak_viewers": max(peak_viewers, viewers_now),
        "chat_messages": row.chat_messages if row else 0, "likes": likes,
        "orders": orders, "buyers": buyers, "gmv_cents": gmv,
        "aov_cents": gmv // orders if orders else 0,
        "conversion_rate": conversion_rate(buyers, visitors),
        "refunds": row.refunds if row else 0,
    }


MAX_SERIES_MINUTES = 7 * 24 * 60


async def series(session: AsyncSession, room_id: str, *, start: datetime | None,
                 end: datetime | None) -> list[dict[str, Any]]:
    """One row per minute from the first to the last with activity (or the
    given window), empty minutes filled with zeros; `likes` is per minute."""
    query = select(StatsMinute).where(StatsMinute.room_id == room_id)
    rows: Sequence[StatsMinute] = (await session.scalars(
        query.order_by(StatsMinute.minute))).all()
    if not rows and (start is None or end is None):
        return []
    first = minute_of(start) if start else rows[0].minute
    last = minute_of(end) if end else rows[-1].minute
    last = min(last, first + timedelta(minutes=MAX_SERIES_MINUTES - 1))
    by_minute = {r.minute: r for r in rows}
    likes_before = 0
    for r in rows:  # the likes total reached before the window
        if r.minute < first:
            likes_before = max(likes_before, r.likes_total)
    out: list[dict[str, Any]] = []
    minute = first
    while minute <= last:
        m = by_minute.get(minute)
        likes_total = max(likes_before, m.likes_total) if m else likes_before
        out.append({
            "minute": iso(minute),
            "visitors": m.visitors if m else 0,
            "viewers": m.peak_viewers if m else 0,
            "chat_messages": m.chat_messages if m else 0,
            "likes": likes_total - likes_before,
            "orders": m.orders if m else 0,
            "gmv_cents": m.gmv_cents if m else 0,
            "refunds": m.refunds if m else 0,
        })
        likes_before = likes_total
        minute += timedelta(minutes=1)
    return out
