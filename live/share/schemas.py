from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from live.validation import Bps, In, Query, Timestamp

Hours = Annotated[int, Field(strict=True, ge=1, le=8760)]
RefundHours = Annotated[int, Field(strict=True, ge=0, le=8760)]


class RulesIn(In):
    """Omitted fields take the contract's defaults; `rates_bps` defaults to
    [1000, 300] cut or padded with 0 to `levels`."""

    levels: Annotated[int, Field(strict=True, ge=1, le=3)] = 2
    rates_bps: Annotated[list[Bps], Field(min_length=1, max_length=3)] | None = None
    attribution_window_h: Hours = 168
    refund_window_h: RefundHours = 168
    model: Literal["last_click", "first_click"] = "last_click"


class RulesOut(BaseModel):
    levels: int
    rates_bps: list[int]
    attribution_window_h: int
    refund_window_h: int
    model: str
    warnings: list[str]
    version: int
    updated_at: Timestamp | None


class ShareLinkOut(BaseModel):
    token: str
    url: str
    qr_url: str
    poster_url: str
    room_id: str
    leader_id: str


class VisitQuery(Query):
    viewer_token: Annotated[str, Field(max_length=200)] | None = None


class EntryOut(BaseModel):
    id: str
    order_id: str
    leader_id: str
    level: int
    amount_cents: int
    status: Literal["frozen", "settled", "reversed"]
    room_id: str
    rate_bps: int
    base_cents: int
    paid_at: Timestamp
    settle_after: Timestamp
    settled_at: Timestamp | None
    reversed_at: Timestamp | None


class CommissionsQuery(Query):
    limit: Annotated[int, Field(ge=1, le=1000)] = 200


class CommissionsOut(BaseModel):
    entries: list[EntryOut]
    frozen_cents: int
    settled_cents: int
    reversed_cents: int


class StatsQuery(Query):
    room_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class StatsOut(BaseModel):
    visits: int
    visitors: int
    buyers: int
    orders: int
    gmv_cents: int
    conversion_rate: float


class PersonOut(BaseModel):
    id: str
    name: str
    role: str
    parent_id: str | None


class ChildOut(PersonOut, StatsOut):
    created_at: Timestamp
    children: int
    commission_cents: int


class NetworkOut(BaseModel):
    parent: PersonOut | None
    children: list[ChildOut]
    invite_code: str


class LeaderRow(BaseModel):
    leader_id: str
    name: str
    visits: int
    visitors: int
    buyers: int
    orders: int
    gmv_cents: int
    conversion_rate: float


class LeaderboardOut(BaseModel):
    leaders: list[LeaderRow]


class LedgerQuery(Query):
    status: Literal["frozen", "settled", "reversed"] | None = None
    room_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None


def rules_out(data: dict[str, Any]) -> RulesOut:
    return RulesOut.model_validate(data)
