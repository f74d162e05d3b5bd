"""Distribution endpoints: rules, share links, `/r/` visits, QR and poster,
commissions, stats, network, leaderboard, CSV ledger; and the wiring of the
order and join hooks and the settlement job."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta
from typing import Any

from aiohttp import web

from live import csvout, keys
from live.accounts.principal import ACCOUNT, HOST, LEADER, Principal
from live.accounts.service import principal_for_token
from live.api import Body, Routes
from live.clock import iso
from live.db import transaction
from live.errors import forbidden, not_found
from live.rooms import service as rooms
from live.share import poster, service
from live.share.models import Commission
from live.share.schemas import (
    CommissionsOut,
    CommissionsQuery,
    LeaderboardOut,
    LedgerQuery,
    NetworkOut,
    RulesIn,
    RulesOut,
    ShareLinkOut,
    StatsOut,
    StatsQuery,
    VisitQuery,
)
from live.stats import service as stats

log = logging.getLogger("live.share")
routes = Routes(tag="distribution")

COOKIE = "live_vid"
COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
COOKIE_MAX_AGE = 365 * 24 * 3600
SETTLE_EVERY_S = 10.0


def visitor_cookie(value: str | None) -> str | None:
    """The `live_vid` cookie if it looks like one we set (else it is replaced)."""
    return value if value and COOKIE_RE.match(value) else None


def _secret(app: web.Application) -> str:
    return app[keys.SETTINGS].secret


def _link_urls(token: str) -> dict[str, str]:
    return {"token": token, "url": f"/r/{token}", "qr_url": f"/r/{token}.svg",
            "poster_url": f"/r/{token}/poster.svg"}


def _absolute(request: web.Request, path: str) -> str:
    return f"{request.scheme}://{request.host}{path}"


# --- rules --------------------------------------------------------------------

@routes.get("/api/v1/distribution/rules", response=RulesOut, auth=ACCOUNT)
async def get_rules(request: web.Request, *, principal: Principal) -> RulesOut:
    """The host's distribution rules (a 团长 reads its host's)."""
    host_id = principal.host_id or principal.id
    async with request.app[keys.SESSIONS]() as session:
        return RulesOut.model_validate((await service.rules_of(session, host_id)).as_dict())


@routes.put("/api/v1/distribution/rules", body=RulesIn, response=RulesOut, auth=HOST)
async def put_rules(request: web.Request, *, principal: Principal,
                    body: Body[RulesIn]) -> RulesOut:
    """Set levels (1..3), rates, windows and the attribution model."""
    data = await body()
    rates = data.rates_bps
    if rates is None:
        rates = [*service.DEFAULT_RATES, 0][:data.levels]
    async with transaction(request.app) as session:
        rules = await service.set_rules(
            session, host_id=principal.id, levels=data.levels, rates_bps=rates,
            attribution_window_h=data.attribution_window_h,
            refund_window_h=data.refund_window_h, model=data.model,
            now=request.app[keys.CLOCK].now())
    log.info("distribution rules host_id=%s version=%s levels=%s", principal.id,
             rules.version, rules.levels)
    return RulesOut.model_validate(rules.as_dict())


# --- share links ----------------------------------------------------------------

@routes.post("/api/v1/rooms/{room_id}/share-links", response=ShareLinkOut, status=201,
             auth=LEADER)
async def create_share_link(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """A 团长's signed link (and QR, poster) to a room of its own host."""
    async with request.app[keys.SESSIONS]() as session:
        link = await service.create_link(session, leader=principal,
                                         room_id=request.match_info["room_id"],
                                         secret=_secret(request.app))
    return {**_link_urls(link.token), "room_id": link.room.id, "leader_id": link.leader.id}


async def _resolve(request: web.Request) -> service.Link:
    async with request.app[keys.SESSIONS]() as session:
        link = await service.resolve_link(session, secret=_secret(request.app),
                                          token=request.match_info["token"])
    if link is None:
        raise not_found("share link")
    return link


@routes.get("/r/{token}.svg")
async def share_qr(request: web.Request) -> web.Response:
    """The QR code of a share link (SVG)."""
    link = await _resolve(request)
    svg = poster.qr_svg(_absolute(request, f"/r/{link.token}"))
    return web.Response(text=svg, content_type="image/svg+xml",
                        headers={"Cache-Control": "private, max-age=3600"})


@routes.get("/r/{token}.png")
async def share_qr_png(request: web.Request) -> web.Response:
    """The QR code of a share link (PNG, for chat apps that do not show SVG)."""
    link = await _resolve(request)
    png = poster.qr_png(_absolute(request, f"/r/{link.token}"))
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})


@routes.get("/r/{token}/poster.svg")
async def share_poster(request: web.Request) -> web.Response:
    """A poster to post in a WeChat group: room, host, 团长 and the QR (750 px)."""
    link = await _resolve(request)
    when = link.room.scheduled_at
    svg = poster.poster_svg(
        url=_absolute(request, f"/r/{link.token}"), room_title=link.room.title,
        host_name=link.host.name, leader_name=link.leader.name, status=link.room.status,
        when=(when + timedelta(hours=8)).strftime("%m月%d日 %H:%M") if when else None)
    return web.Response(text=svg, content_type="image/svg+xml",
                        headers={"Cache-Control": "private, max-age=300"})


@routes.get("/r/{token}", query=VisitQuery)
async def visit(request: web.Request, *, query: VisitQuery) -> web.Response:
    """Open a share link: record the visit, set `live_vid`, redirect to the player."""
    app = request.app
    cookie = visitor_cookie(request.cookies.get(COOKIE))
    visitor_id = cookie or f"vid_{secrets.token_urlsafe(24)}"
    async with transaction(app) as session:
        link = await service.resolve_link(session, secret=_secret(app),
                                          token=request.match_info["token"])
        if link is None:
            raise not_found("share link")
        viewer_id = None
        if query.viewer_token:
            who = await principal_for_token(session, query.viewer_token)
            if who is not None and who.is_viewer:
                viewer_id = who.id
        visit = await service.record_link_visit(session, link=link, visitor_id=visitor_id,
                                                viewer_id=viewer_id, now=app[keys.CLOCK].now())
        await stats.note_person(session, room_id=link.room.id, stage="visited",
                                now=visit.created_at, viewer_id=visit.viewer_id,
                                visitor_id=visitor_id, leader_id=link.leader.id)
    log.info("share visit room_id=%s leader_id=%s", link.room.id, link.leader.id)
    resp = web.Response(status=302, headers={
        "Location": f"/watch/{link.room.id}?s={link.token}",
        "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    if cookie is None:
        resp.set_cookie(COOKIE, visitor_id, max_age=COOKIE_MAX_AGE, path="/", httponly=True,
                        samesite="Lax", secure=request.secure)
    return resp


# --- 团长 figures ---------------------------------------------------------------

@routes.get("/api/v1/me/commissions", query=CommissionsQuery, response=CommissionsOut,
            auth=LEADER)
async def my_commissions(request: web.Request, *, principal: Principal,
                         query: CommissionsQuery) -> CommissionsOut:
    """The 团长's ledger entries (newest first) and totals by status."""
    async with request.app[keys.SESSIONS]() as session:
        data = await service.commissions_of(session, leader_id=principal.id,
                                            limit=query.limit)
    return CommissionsOut.model_validate(data)


@routes.get("/api/v1/me/stats", query=StatsQuery, response=StatsOut, auth=LEADER)
async def my_stats(request: web.Request, *, principal: Principal,
                   query: StatsQuery) -> dict[str, Any]:
    """Visits, visitors, buyers, orders, GMV and conversion of the 团长's links."""
    async with request.app[keys.SESSIONS]() as session:
        if query.room_id is not None:
            room = await rooms.get_room(session, query.room_id)
            if room.host_id != principal.host_id:  # as for share links: own host's rooms only
                raise forbidden("this room belongs to another host")
        figures = await service.leader_stats(session, leader_id=principal.id,
                                             room_id=query.room_id)
    return figures.as_dict()


@routes.get("/api/v1/me/network", response=NetworkOut, auth=ACCOUNT)
async def my_network(request: web.Request, *, principal: Principal) -> NetworkOut:
    """Parent, children (with their results) and the invite code."""
    async with request.app[keys.SESSIONS]() as session:
        data = await service.network(session, account_id=principal.id)
    return NetworkOut.model_validate(data)


@routes.get("/api/v1/rooms/{room_id}/leaderboard", response=LeaderboardOut, auth=HOST)
async def leaderboard(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Per-团长 results in the room (direct attribution), by GMV then visitors."""
    async with request.app[keys.SESSIONS]() as session:
        room = await rooms.room_of_host(session, request.match_info["room_id"], principal)
        return {"leaders": await service.leaderboard(session, room_id=room.id)}


COMMISSION_COLUMNS = ["entry_id", "order_id", "room_id", "leader_id", "leader_name",
                      "level", "rate_bps", "base_cents", "amount_cents", "amount_yuan",
                      "status", "paid_at", "settle_after", "settled_at", "reversed_at"]


@routes.get("/api/v1/distribution/commissions.csv", query=LedgerQuery,
            auth=ACCOUNT, produces="text/csv")
async def ledger_csv(request: web.Request, *, principal: Principal,
                     query: LedgerQuery) -> web.StreamResponse:
    """The commission ledger as CSV, for payouts: a host's whole ledger, a 团长's own rows."""
    app = request.app
    is_host = principal.role == "host"
    if query.room_id is not None:
        async with app[keys.SESSIONS]() as session:
            room = await rooms.get_room(session, query.room_id)
        if room.host_id != (principal.id if is_host else principal.host_id):
            raise forbidden("this room belongs to another host")

    async def read(after: Any, limit: int) -> list[tuple[Commission, str]]:
        async with app[keys.SESSIONS]() as session:
            return await service.ledger_page(
                session, host_id=principal.id if is_host else None,
                leader_id=None if is_host else principal.id, room_id=query.room_id,
                status=query.status, after_key=after, limit=limit)

    def row(r: tuple[Commission, str]) -> list[Any]:
        c, name = r
        return [c.id, c.order_id, c.room_id, c.leader_id, name, c.level, c.rate_bps,
                c.base_cents, c.amount_cents, csvout.yuan(c.amount_cents), c.status,
                iso(c.paid_at), iso(c.settle_after), iso(c.settled_at), iso(c.reversed_at)]

    pages = csvout.keyset_pages(read, key=lambda r: (r[0].paid_at, r[0].order_id, r[0].level),
                                row=row)
    return await csvout.stream_csv(request, "commissions.csv", COMMISSION_COLUMNS, pages)


# --- wiring -------------------------------------------------------------------------

async def settle_job(app: web.Application) -> None:
    """Settle what is due; every worker may run it at once (conditional UPDATE)."""
    async with transaction(app) as session:
        n = await service.settle_due(session, now=app[keys.CLOCK].now())
    if n:
        log.info("settled %d commission entries", n)


def register(app: web.Application) -> None:
    """Plug distribution into orders (attribute, paid, refunded), Socket.IO
    joins and the periodic jobs."""

    async def attribute(session: Any, *, viewer_id: str, room_id: str,
                        share_token: str | None, visitor_id: str | None,
                        now: Any) -> str | None:
        return await service.attribute(
            session, secret=_secret(app), viewer_id=viewer_id, room_id=room_id,
            share_token=share_token, visitor_id=visitor_cookie(visitor_id), now=now)

    async def on_join(session: Any, *, room_id: str, principal: Principal,
                      share_token: str | None, visitor_id: str | None,
                      now: Any) -> list[Any]:
        return await service.on_join(
            session, secret=_secret(app), room_id=room_id, principal=principal,
            share_token=share_token, visitor_id=visitor_cookie(visitor_id), now=now)

    async def bound_leaders(session: Any, *, host_id: str, viewer_ids: Any,
                            now: Any) -> dict[str, str | None]:
        return await service.bound_leaders(session, host_id=host_id, viewer_ids=viewer_ids,
                                           now=now)

    hooks = app[keys.ORDER_HOOKS]
    hooks.attribute = attribute
    hooks.bound_leaders = bound_leaders
    hooks.paid.append(service.on_paid)
    hooks.refunded.append(service.on_refunded)
    app[keys.JOIN_HOOKS].append(on_join)
    app[keys.JOBS].add("settle_commissions", SETTLE_EVERY_S, settle_job)
