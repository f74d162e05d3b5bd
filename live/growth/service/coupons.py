"""优惠券: pushed by the host, claimed by viewers, applied once at checkout."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.clock import iso
from live.db import get_or_404
from live.errors import Code, LiveError, invalid
from live.events import Event
from live.growth.events import CouponPushed
from live.growth.models import Coupon, CouponClaim
from live.growth.service.common import expired
from live.ids import new_id
from live.rooms.models import Room
from live.rooms.service import require_live


def coupon_dict(c: Coupon) -> dict[str, Any]:
    return {"id": c.id, "room_id": c.room_id, "title": c.title,
            "discount_cents": c.discount_cents, "discount_bps": c.discount_bps,
            "min_spend_cents": c.min_spend_cents, "quantity": c.quantity,
            "remaining": c.remaining, "per_viewer": c.per_viewer,
            "expires_at": iso(c.expires_at)}


def claim_dict(cl: CouponClaim, coupon: Coupon | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": cl.id, "coupon_id": cl.coupon_id, "room_id": cl.room_id,
                           "status": cl.status, "order_id": cl.order_id,
                           "expires_at": iso(cl.expires_at)}
    if coupon is not None:  # extension: what the claim is worth, for the player
        out["coupon"] = coupon_dict(coupon)
    return out


async def get_coupon(session: AsyncSession, coupon_id: str) -> Coupon:
    return await get_or_404(session, Coupon, coupon_id, "coupon")


async def create_coupon(session: AsyncSession, *, room: Room, title: str,
                        discount_cents: int | None, discount_bps: int | None,
                        min_spend_cents: int, quantity: int, per_viewer: int,
                        valid_for_s: int, now: datetime) -> tuple[Coupon, list[Event]]:
    require_live(room)
    coupon = Coupon(id=new_id("cpn"), room_id=room.id, title=title,
                    discount_cents=discount_cents, discount_bps=discount_bps,
                    min_spend_cents=min_spend_cents, quantity=quantity, remaining=quantity,
                    per_viewer=per_viewer, created_at=now,
                    expires_at=now + timedelta(seconds=valid_for_s))
    session.add(coupon)
    await session.flush()
    return coupon, [CouponPushed(room.id, coupon_dict(coupon))]


async def claim_coupon(session: AsyncSession, *, coupon: Coupon, viewer_id: str,
                       now: datetime) -> CouponClaim:
    """Refusals in the contract's order: per-viewer limit, expiry, sold out.

    `remaining` drops in one conditional UPDATE (never below 0). The viewer's
    claim number `n` is unique per coupon and viewer, so two claims racing for
    the same last slot cannot both land (the loser's transaction fails and the
    transport retries it, then meets the limit)."""
    made = await session.scalar(select(func.count()).select_from(CouponClaim).where(
        CouponClaim.coupon_id == coupon.id, CouponClaim.viewer_id == viewer_id)) or 0
    if made >= coupon.per_viewer:
        raise LiveError(Code.LIMIT_EXCEEDED,
                        f"at most {coupon.per_viewer} claim(s) of this coupon per viewer")
    if expired(coupon.expires_at, now):
        raise LiveError(Code.NOT_RUNNING, "the coupon has expired")
    taken = await session.execute(
        update(Coupon).where(Coupon.id == coupon.id, Coupon.remaining > 0)
        .values(remaining=Coupon.remaining - 1)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise LiveError(Code.SOLD_OUT, "no coupons left")
    claim = CouponClaim(id=new_id("clm"), coupon_id=coupon.id, room_id=coupon.room_id,
                        viewer_id=viewer_id, n=made + 1, status="unused", order_id=None,
                        created_at=now, expires_at=coupon.expires_at)
    session.add(claim)
    await session.flush()
    await session.refresh(coupon)
    return claim


async def claims_of(session: AsyncSession, viewer_id: str) -> list[dict[str, Any]]:
    rows = (await session.execute(
        select(CouponClaim, Coupon).join(Coupon, Coupon.id == CouponClaim.coupon_id)
        .where(CouponClaim.viewer_id == viewer_id)
        .order_by(CouponClaim.created_at.desc(), CouponClaim.id.desc()))).all()
    return [claim_dict(cl, c) for cl, c in rows]


# --- checkout -----------------------------------------------------------------

def _bad_claim(message: str) -> LiveError:
    return invalid(message, ("coupon_claim_id", message))


def discount_for(coupon: Coupon, items_total_cents: int) -> int:
    if coupon.discount_cents is not None:
        amount = coupon.discount_cents
    else:
        amount = items_total_cents * (coupon.discount_bps or 0) // 10000
    return min(amount, items_total_cents)


async def apply_coupon(session: AsyncSession, *, claim_id: str, viewer_id: str, room_id: str,
                       items_total_cents: int, order_id: str, now: datetime) -> int:
    """Use the caller's unused claim for `order_id` and return the discount.

    The claim turns `used` in one conditional UPDATE (status still `unused`),
    so of two orders racing for one claim exactly one gets it; the other gets
    422 invalid naming `coupon_claim_id`. Call it in the order's transaction."""
    row = (await session.execute(
        select(CouponClaim, Coupon).join(Coupon, Coupon.id == CouponClaim.coupon_id)
        .where(CouponClaim.id == claim_id))).first()
    if row is None or row[0].viewer_id != viewer_id:
        raise _bad_claim("not one of your coupon claims")
    claim, coupon = row
    if claim.room_id != room_id:
        raise _bad_claim("the coupon is for another room")
    if claim.status != "unused":
        raise _bad_claim("the coupon has been used")
    if expired(coupon.expires_at, now):
        raise _bad_claim("the coupon has expired")
    if items_total_cents < coupon.min_spend_cents:
        raise _bad_claim(f"the coupon needs a total of at least {coupon.min_spend_cents}")
    used = await session.execute(
        update(CouponClaim).where(CouponClaim.id == claim_id, CouponClaim.status == "unused")
        .values(status="used", order_id=order_id)
        .execution_options(synchronize_session=False))
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise _bad_claim("the coupon has been used")
    return discount_for(coupon, items_total_cents)


async def release_claim(session: AsyncSession, *, order_id: str) -> None:
    """The order was cancelled or expired: its claim is `unused` again."""
    await session.execute(
        update(CouponClaim).where(CouponClaim.order_id == order_id,
                                  CouponClaim.status == "used")
        .values(status="unused", order_id=None)
        .execution_options(synchronize_session=False))


async def snapshot_coupons(session: AsyncSession, room_id: str,
                           now: datetime) -> list[dict[str, Any]]:
    rows = await session.scalars(select(Coupon).where(Coupon.room_id == room_id,
                                                      Coupon.expires_at > now)
                                 .order_by(Coupon.created_at, Coupon.id))
    return [coupon_dict(c) for c in rows]
