from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from live.validation import Cents, DiscountCents, Id, In, PriceCents, Title

Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Prize = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class CreateCouponIn(In):
    title: Title
    discount_cents: DiscountCents | None = None
    discount_bps: Annotated[int, Field(strict=True, ge=1, le=10000)] | None = None
    min_spend_cents: Cents = 0
    quantity: Annotated[int, Field(strict=True, ge=1, le=10**6)]
    per_viewer: Annotated[int, Field(strict=True, ge=1, le=100)] = 1
    valid_for_s: Annotated[int, Field(strict=True, ge=1, le=2592000)]


class CouponOut(BaseModel):
    id: str
    room_id: str
    title: str
    discount_cents: int | None
    discount_bps: int | None
    min_spend_cents: int
    quantity: int
    remaining: int
    per_viewer: int
    expires_at: str


class ClaimOut(BaseModel):
    id: str
    coupon_id: str
    room_id: str
    status: Literal["unused", "used"]
    order_id: str | None
    expires_at: str
    coupon: CouponOut | None = None


class ClaimReplyOut(BaseModel):
    claim: ClaimOut


class ClaimsOut(BaseModel):
    claims: list[ClaimOut]


class CreateGroupBuyIn(In):
    product_id: Id
    price_cents: PriceCents
    group_size: Annotated[int, Field(strict=True, ge=2, le=100)]
    window_s: Annotated[int, Field(strict=True, ge=3, le=604800)]


class GroupOut(BaseModel):
    id: str
    group_buy_id: str
    room_id: str
    members: int
    group_size: int
    status: Literal["open", "complete", "failed"]
    expires_at: str
    created_at: str


class GroupBuyOut(BaseModel):
    id: str
    room_id: str
    product_id: str
    price_cents: int
    group_size: int
    window_s: int
    groups: list[GroupOut] | None = None


class CreateDrawIn(In):
    prize: Prize
    winners: Annotated[int, Field(strict=True, ge=1, le=1000)]
    eligibility: Literal["joined", "chatted"]
    keyword: Keyword | None = None
    duration_s: Annotated[int, Field(strict=True, ge=1, le=3600)]


class DrawOut(BaseModel):
    id: str
    room_id: str
    prize: str
    winners: int
    eligibility: Literal["joined", "chatted"]
    keyword: str | None
    status: Literal["running", "ended"]
    starts_at: str
    ends_at: str
    commitment: str
    seed: str | None
    eligible: list[str] | None
    winner_ids: list[str] | None


class DrawWinnerOut(BaseModel):
    viewer_id: str
    nickname: str


class DrawWinnersOut(BaseModel):
    draw_id: str
    status: Literal["running", "ended"]
    winners: list[DrawWinnerOut]


class SubscriptionReplyOut(BaseModel):
    room_id: str
    subscribed: bool
    subscribers: int


class SubscriptionOut(BaseModel):
    room_id: str
    subscribed_at: str
    notified_at: str | None


class SubscriptionsOut(BaseModel):
    subscriptions: list[SubscriptionOut]
