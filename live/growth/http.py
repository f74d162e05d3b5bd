"""Growth routes: coupons, 拼团 offers and groups, 福袋 draws, reminders."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from live import keys
from live.accounts.principal import HOST, VIEWER, Principal
from live.api import Body, Routes
from live.db import transaction
from live.errors import conflict, forbidden, invalid
from live.growth import bridge
from live.growth.schemas import (
    ClaimReplyOut, ClaimsOut, CouponOut, CreateCouponIn, CreateDrawIn, CreateGroupBuyIn,
    DrawOut, DrawWinnersOut, GroupBuyOut, GroupOut, SubscriptionReplyOut, SubscriptionsOut)
from live.growth.service import coupons, draws, groups, reminders
from live.realtime.publish import publish
from live.rooms.service import get_room, room_of_host

routes = Routes(tag="growth")

CLAIM_RETRIES = 5


def _now(request: web.Request) -> Any:
    return request.app[keys.CLOCK].now()


# --- coupons ------------------------------------------------------------------

@routes.post("/api/v1/rooms/{room_id}/coupons", body=CreateCouponIn, response=CouponOut,
             status=201, auth=HOST, errors=(409,))
async def create_coupon(request: web.Request, *, principal: Principal,
                        body: Body[CreateCouponIn]) -> dict[str, Any]:
    """Push a coupon (优惠券) into the live room: a `coupon` event."""
    app = request.app
    async with transaction(app) as session:
        room = await room_of_host(session, request.match_info["room_id"], principal)
        data = await body()
        if (data.discount_cents is None) == (data.discount_bps is None):
            why = "give exactly one of discount_cents and discount_bps"
            raise invalid(why, ("discount_cents", why), ("discount_bps", why))
        coupon, events = await coupons.create_coupon(
            session, room=room, title=data.title, discount_cents=data.discount_cents,
            discount_bps=data.discount_bps, min_spend_cents=data.min_spend_cents,
            quantity=data.quantity, per_viewer=data.per_viewer, valid_for_s=data.valid_for_s,
            now=_now(request))
        out = coupons.coupon_dict(coupon)
    await publish(app, events)
    return out


@routes.get("/api/v1/coupons/{coupon_id}", response=CouponOut)
async def get_coupon(request: web.Request) -> dict[str, Any]:
    """A coupon."""
    async with request.app[keys.SESSIONS]() as session:
        return coupons.coupon_dict(
            await coupons.get_coupon(session, request.match_info["coupon_id"]))


@routes.post("/api/v1/coupons/{coupon_id}/claim", response=ClaimReplyOut, status=201,
             auth=VIEWER, errors=(409,))
async def claim_coupon(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Claim a coupon (a viewer that has joined its room)."""
    app = request.app
    for attempt in range(CLAIM_RETRIES):
        try:
            async with transaction(app) as session:
                coupon = await coupons.get_coupon(session, request.match_info["coupon_id"])
                if not await bridge.has_joined(session, room_id=coupon.room_id,
                                               viewer_id=principal.id):
                    raise forbidden("join the room before claiming its coupons")
                claim = await coupons.claim_coupon(session, coupon=coupon,
                                                   viewer_id=principal.id, now=_now(request))
                return {"claim": coupons.claim_dict(claim)}
        except IntegrityError:
            # the same viewer claimed twice at once; the retry meets the limit
            if attempt == CLAIM_RETRIES - 1:
                raise conflict("too many concurrent claims; try again") from None
    raise AssertionError("unreachable")


@routes.get("/api/v1/me/coupons", response=ClaimsOut, auth=VIEWER)
async def my_coupons(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """The caller's coupon claims, newest first."""
    async with request.app[keys.SESSIONS]() as session:
        return {"claims": await coupons.claims_of(session, principal.id)}


# --- group buys -----------------------------------------------------------------

@routes.post("/api/v1/rooms/{room_id}/group-buys", body=CreateGroupBuyIn,
             response=GroupBuyOut, status=201, auth=HOST, errors=(409,))
async def create_group_buy(request: web.Request, *, principal: Principal,
                           body: Body[CreateGroupBuyIn]) -> dict[str, Any]:
    """Offer a 拼团 group buy in the live room: a `group_buy` event."""
    app = request.app
    async with transaction(app) as session:
        room = await room_of_host(session, request.match_info["room_id"], principal)
        data = await body()
        offer, events = await groups.create_offer(
            session, room=room, product_id=data.product_id, price_cents=data.price_cents,
            group_size=data.group_size, window_s=data.window_s, now=_now(request))
        out = groups.offer_dict(offer)
    await publish(app, events)
    return out


@routes.get("/api/v1/group-buys/{group_buy_id}", response=GroupBuyOut)
async def get_group_buy(request: web.Request) -> dict[str, Any]:
    """A group-buy offer with its open groups."""
    async with request.app[keys.SESSIONS]() as session:
        offer = await groups.get_offer(session, request.match_info["group_buy_id"])
        return await groups.offer_with_groups(session, offer)


@routes.get("/api/v1/groups/{group_id}", response=GroupOut)
async def get_group(request: web.Request) -> dict[str, Any]:
    """A group: members (paid orders) so far, status, expires_at."""
    async with request.app[keys.SESSIONS]() as session:
        return groups.group_dict(await groups.get_group(session, request.match_info["group_id"]))


# --- draws --------------------------------------------------------------------

@routes.post("/api/v1/rooms/{room_id}/draws", body=CreateDrawIn, response=DrawOut,
             status=201, auth=HOST, errors=(409,))
async def create_draw(request: web.Request, *, principal: Principal,
                      body: Body[CreateDrawIn]) -> dict[str, Any]:
    """Start a 福袋 lucky draw; its commitment is published now, its seed at the end."""
    app = request.app
    try:
        async with transaction(app) as session:
            room = await room_of_host(session, request.match_info["room_id"], principal)
            data = await body()
            if data.eligibility == "chatted" and data.keyword is None:
                raise invalid("a chatted draw needs a keyword",
                              ("keyword", "required when eligibility is chatted"))
            draw, events = await draws.create_draw(
                session, room=room, prize=data.prize, winners=data.winners,
                eligibility=data.eligibility, keyword=data.keyword,
                duration_s=data.duration_s, now=_now(request),
                eligible_fn=bridge.eligible_viewers)
            out = draws.draw_dict(draw)
    except IntegrityError:  # another draw started in this room at the same moment
        raise conflict("a draw is already running in this room") from None
    await publish(app, events)
    return out


@routes.post("/api/v1/draws/{draw_id}/end", response=DrawOut, auth=HOST, errors=(409,))
async def end_draw(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """End a running draw now and publish its seed and winners."""
    app = request.app
    async with transaction(app) as session:
        draw = await draws.get_draw(session, request.match_info["draw_id"])
        await room_of_host(session, draw.room_id, principal)
        events = await draws.end_draw(session, draw_id=draw.id, now=_now(request),
                                      eligible_fn=bridge.eligible_viewers, manual=True)
        out = draws.draw_dict(await draws.get_draw(session, draw.id))
    await publish(app, events)
    return out


@routes.get("/api/v1/draws/{draw_id}", response=DrawOut)
async def get_draw(request: web.Request) -> dict[str, Any]:
    """A draw (seed, eligible and winners once it has ended)."""
    async with request.app[keys.SESSIONS]() as session:
        return draws.draw_dict(await draws.get_draw(session, request.match_info["draw_id"]))


@routes.get("/api/v1/draws/{draw_id}/winners", response=DrawWinnersOut, auth=HOST)
async def draw_winners(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """The room's host only: the winners with their (unmasked) nicknames, in draw
    order, so the prize can be delivered; the public draw carries only ids.
    Empty while the draw runs."""
    async with request.app[keys.SESSIONS]() as session:
        draw = await draws.get_draw(session, request.match_info["draw_id"])
        await room_of_host(session, draw.room_id, principal)
        ids = draws.draw_dict(draw)["winner_ids"] or []
        names = await bridge.nicknames(session, ids)
    return {"draw_id": draw.id, "status": draw.status,
            "winners": [{"viewer_id": i, "nickname": names.get(i, "")} for i in ids]}


# --- reminders ----------------------------------------------------------------

@routes.post("/api/v1/rooms/{room_id}/subscribe", response=SubscriptionReplyOut,
             auth=VIEWER, errors=(409,))
async def subscribe(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Be reminded when this scheduled room goes live."""
    async with transaction(request.app) as session:
        room = await get_room(session, request.match_info["room_id"])
        return await reminders.subscribe(session, room=room, viewer_id=principal.id,
                                         now=_now(request))


@routes.delete("/api/v1/rooms/{room_id}/subscribe", response=SubscriptionReplyOut,
               auth=VIEWER)
async def unsubscribe(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Cancel the reminder."""
    async with transaction(request.app) as session:
        room = await get_room(session, request.match_info["room_id"])
        return await reminders.unsubscribe(session, room=room, viewer_id=principal.id)


@routes.get("/api/v1/me/subscriptions", response=SubscriptionsOut, auth=VIEWER)
async def my_subscriptions(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """The caller's reminders, newest first."""
    async with request.app[keys.SESSIONS]() as session:
        return {"subscriptions": await reminders.subscriptions_of(session, principal.id)}
