from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from live.validation import Id, In, Query, When


class StatsOut(BaseModel):
    visitors: int
    viewers_now: int
    peak_viewers: int
    chat_messages: int
    likes: int
    orders: int
    buyers: int
    gmv_cents: int
    aov_cents: int
    conversion_rate: float
    refunds: int


class SeriesQuery(Query):
    start: When | None = None
    end: When | None = None


class MinuteOut(BaseModel):
    minute: str
    visitors: int
    viewers: int
    chat_messages: int
    likes: int
    orders: int
    gmv_cents: int
    refunds: int


class SeriesOut(BaseModel):
    room_id: str
    minutes: list[MinuteOut]


class FunnelCounts(BaseModel):
    visited: int
    joined: int
    product_opened: int
    added_to_cart: int
    ordered: int
    paid: int


class LeaderFunnel(FunnelCounts):
    leader_id: str


class FunnelOut(BaseModel):
    room_id: str
    stages: list[str]
    room: FunnelCounts
    leaders: list[LeaderFunnel]


class TrackIn(In):
    event: Literal["product_opened", "added_to_cart"]


class TrackOut(BaseModel):
    ok: bool


Days = Annotated[int, Field(ge=1, le=3650)]


class CustomersQuery(Query):
    new_days: Days = 30
    active_days: Days = 30
    churn_days: Days = 90
    top: Annotated[int, Field(ge=1, le=100)] = 10


class OrdersCsvQuery(Query):
    room_id: Id | None = None
    status: Literal["pending_payment", "paid", "cancelled", "expired", "refunded"] | None = None


class Windows(BaseModel):
    new_days: int
    active_days: int
    churn_days: int


class TopProduct(BaseModel):
    product_id: str
    title: str
    units: int
    gmv_cents: int


class LeaderGmv(BaseModel):
    leader_id: str
    name: str | None
    orders: int
    gmv_cents: int


class CustomersOut(BaseModel):
    windows: Windows
    customers: int
    new: int
    active: int
    churned: int
    repurchase_rate: float
    gmv_cents: int
    top_products: list[TopProduct]
    leaders: list[LeaderGmv]
