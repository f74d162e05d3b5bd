from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from live.validation import In, Query, When


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
