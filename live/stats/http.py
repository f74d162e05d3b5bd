"""Room numbers for the host: stats, per-minute series, funnel; viewer funnel pings."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from live import csvout, keys
from live.accounts.principal import HOST, VIEWER, Principal
from live.api import Body, Routes
from live.clock import iso
from live.db import transaction
from live.errors import not_found
from live.rooms import service as rooms
from live.stats import exports, service
from live.stats.models import StatsCustomer
from live.stats.schemas import (
    CustomersOut,
    CustomersQuery,
    FunnelOut,
    OrdersCsvQuery,
    SeriesOut,
    SeriesQuery,
    StatsOut,
    TrackIn,
    TrackOut,
)

routes = Routes(tag="stats")


async def live_counters(app: web.Application, room_id: str, *, likes: int,
                        peak: int) -> tuple[int, int, int]:
    """(viewers_now, peak_viewers, likes) from realtime presence, never below
    what the database keeps (the peak stays after the room ends)."""
    broker: Any = app[keys.BROKER]  # presence and likes arrive with realtime
    now_count = 0
    if hasattr(broker, "presence_count"):
        now_count = int(await broker.presence_count(room_id))
        peak = max(peak, int(await broker.presence_peak(room_id)))
    if hasattr(broker, "likes"):
        live_likes = await broker.likes(room_id)
        likes = max(likes, int(live_likes or 0))
    return now_count, max(peak, now_count), likes


@routes.get("/api/v1/rooms/{room_id}/stats", response=StatsOut, auth=HOST, session=True)
async def room_stats(request: web.Request, *, principal: Principal,
                     session: AsyncSession) -> dict[str, Any]:
    """The room's numbers (at most 2 s behind)."""
    app = request.app
    room, row = await service.room_with_stats(session, request.match_info["room_id"])
    await session.close()  # the connection goes back before the broker calls
    if room is None:
        raise not_found("room")
    rooms.require_host(room, principal)
    viewers_now, peak, likes = await live_counters(app, room.id, likes=room.likes,
                                                   peak=room.peak_viewers)
    return service.room_stats(row, viewers_now=viewers_now, peak_viewers=peak, likes=likes)


@routes.get("/api/v1/rooms/{room_id}/stats/series", query=SeriesQuery, response=SeriesOut,
            auth=HOST)
async def room_series(request: web.Request, *, principal: Principal,
                      query: SeriesQuery) -> dict[str, Any]:
    """Per-minute visitors, viewers, chat, likes, orders and GMV (extension)."""
    async with request.app[keys.SESSIONS]() as session:
        room = await rooms.room_of_host(session, request.match_info["room_id"], principal)
        minutes = await service.series(session, room.id, start=query.start, end=query.end)
    return {"room_id": room.id, "minutes": minutes}


@routes.get("/api/v1/rooms/{room_id}/stats/funnel", response=FunnelOut, auth=HOST)
async def room_funnel(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """People at each stage, visited → paid, for the room and per 团长 (extension)."""
    async with request.app[keys.SESSIONS]() as session:
        room = await rooms.room_of_host(session, request.match_info["room_id"], principal)
        return {"room_id": room.id, **await service.funnel(session, room.id)}


@routes.post("/api/v1/rooms/{room_id}/track", body=TrackIn, response=TrackOut, auth=VIEWER)
async def track(request: web.Request, *, principal: Principal,
                body: Body[TrackIn]) -> dict[str, Any]:
    """The player reports a funnel step the server cannot see (opening a product)."""
    app = request.app
    async with transaction(app) as session:
        room = await rooms.get_room(session, request.match_info["room_id"])
        data = await body()
        await service.note_person(session, room_id=room.id, stage=data.event,
                                  viewer_id=principal.id, now=app[keys.CLOCK].now())
    return {"ok": True}


@routes.get("/api/v1/stats/customers", query=CustomersQuery, response=CustomersOut,
            auth=HOST)
async def host_customers(request: web.Request, *, principal: Principal,
                         query: CustomersQuery) -> dict[str, Any]:
    """New, active and churned customers, repurchase rate, top products, 团长 GMV."""
    from sqlalchemy import select

    from live.accounts.models import Account

    async with request.app[keys.SESSIONS]() as session:
        out = await service.customers(
            session, host_id=principal.id, now=request.app[keys.CLOCK].now(),
            new_days=query.new_days, active_days=query.active_days,
            churn_days=query.churn_days, top=query.top)
        ids = [x["leader_id"] for x in out["leaders"]]
        names = dict((await session.execute(
            select(Account.id, Account.name).where(Account.id.in_(ids)))).all()) if ids else {}
    for x in out["leaders"]:
        x["name"] = names.get(x["leader_id"])
    return out


@routes.get("/api/v1/stats/customers.csv", auth=HOST, produces="text/csv")
async def customers_csv(request: web.Request, *, principal: Principal) -> web.StreamResponse:
    """CSV: one row per paying viewer (orders, GMV, first and last payment), by GMV."""
    app = request.app

    async def read(after: Any, limit: int) -> list[tuple[StatsCustomer, str]]:
        async with app[keys.SESSIONS]() as session:
            return await exports.customers_page(session, host_id=principal.id,
                                                after_key=after, limit=limit)

    pages = csvout.keyset_pages(
        read, key=lambda r: (r[0].gmv_cents, r[0].viewer_id),
        row=lambda r: [r[0].viewer_id, r[1], r[0].orders, r[0].gmv_cents,
                       csvout.yuan(r[0].gmv_cents), iso(r[0].first_paid_at),
                       iso(r[0].last_paid_at)])
    return await csvout.stream_csv(request, "customers.csv", exports.CUSTOMER_COLUMNS, pages)


@routes.get("/api/v1/stats/orders.csv", query=OrdersCsvQuery, auth=HOST,
            produces="text/csv")
async def orders_csv(request: web.Request, *, principal: Principal,
                     query: OrdersCsvQuery) -> web.StreamResponse:
    """CSV: the host's orders (every room, or `room_id`), oldest first, for packing
    and accounts."""
    app = request.app
    if query.room_id is not None:
        async with app[keys.SESSIONS]() as session:
            await rooms.room_of_host(session, query.room_id, principal)

    async def read(after: Any, limit: int) -> list[exports.OrderRow]:
        async with app[keys.SESSIONS]() as session:  # items are loaded with the orders
            return await exports.orders_page(session, host_id=principal.id,
                                             room_id=query.room_id, status=query.status,
                                             after_key=after, limit=limit)

    def row(r: exports.OrderRow) -> list[Any]:
        o = r.order
        return [o.id, o.room_id, o.viewer_id, r.nickname, o.status, exports.items_text(o),
                o.items_cents, o.discount_cents, o.total_cents, csvout.yuan(o.total_cents),
                o.leader_id, o.coupon_claim_id, o.group_id, o.fulfilment_kind,
                o.fulfilment_detail, iso(o.created_at), iso(o.paid_at), iso(o.closed_at)]

    pages = csvout.keyset_pages(read, key=lambda r: r.key, row=row)
    return await csvout.stream_csv(request, "orders.csv", exports.ORDER_COLUMNS, pages)


async def roll_up(app: web.Application) -> None:
    """Job: presence and likes of live rooms into the per-minute series."""
    broker: Any = app[keys.BROKER]
    if not hasattr(broker, "presence_count"):
        return
    from sqlalchemy import select

    from live.rooms.models import Room

    now = app[keys.CLOCK].now()
    async with transaction(app) as session:
        live = (await session.execute(
            select(Room.id, Room.likes).where(Room.status == "live"))).all()
        for room_id, likes in live:
            viewers, _peak, total_likes = await live_counters(app, room_id, likes=likes,
                                                              peak=0)
            await service.raise_minute(session, room_id=room_id, now=now,
                                       peak_viewers=viewers, likes_total=total_likes)


def register(app: web.Application) -> None:
    hooks = app[keys.ORDER_HOOKS]
    hooks.placed.append(service.orders_placed)
    hooks.paid.append(service.order_paid)
    hooks.refunded.append(service.order_refunded)
    app[keys.JOIN_HOOKS].append(service.on_join)
    app[keys.JOBS].add("stats_roll_up", 1.0, roll_up)
