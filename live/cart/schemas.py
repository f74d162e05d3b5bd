from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from live.validation import Id, In, PriceCents, Quantity, Query, When

Seconds = Annotated[int, Field(strict=True, ge=0, le=30 * 86400)]
Duration = Annotated[int, Field(strict=True, ge=1, le=30 * 86400)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Point = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
IdempotencyKeyText = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class CreateFlashSaleIn(In):
    product_id: Id
    price_cents: PriceCents
    quantity: Quantity
    per_user_limit: Quantity = 1
    start_in_s: Seconds | None = None
    starts_at: When | None = None
    duration_s: Duration

    @model_validator(mode="after")
    def _one_start(self) -> CreateFlashSaleIn:
        if self.start_in_s is not None and self.starts_at is not None:
            raise ValueError("give start_in_s or starts_at, not both")
        return self


class LineIn(In):
    product_id: Id
    quantity: Quantity


class CartIn(In):
    items: Annotated[list[LineIn], Field(max_length=100)]


class FulfilmentIn(In):
    kind: Literal["delivery", "pickup"]
    address: Address | None = None
    point: Point | None = None

    @model_validator(mode="after")
    def _detail(self) -> FulfilmentIn:
        if self.kind == "delivery" and self.address is None:
            raise ValueError("delivery needs an address (1..300 characters)")
        if self.kind == "pickup" and self.point is None:
            raise ValueError("pickup needs a point (1..100 characters)")
        return self

    @property
    def detail(self) -> str:
        return (self.address if self.kind == "delivery" else self.point) or ""


class PlaceOrderIn(In):
    room_id: Id
    items: Annotated[list[LineIn], Field(min_length=1, max_length=100)] | None = None
    from_cart: bool | None = None
    share_token: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    fulfilment: FulfilmentIn
    coupon_claim_id: Id | None = None
    group_buy_id: Id | None = None
    group_id: Id | None = None

    @model_validator(mode="after")
    def _items_xor_cart(self) -> PlaceOrderIn:
        if (self.items is not None) == bool(self.from_cart):
            raise ValueError("give exactly one of items and from_cart: true")
        return self


class OrdersQuery(Query):
    room_id: str | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 200


class WebhookIn(In):
    order_id: Id
    status: Literal["paid"]
    provider: Annotated[str, StringConstraints(min_length=1, max_length=20)] = "webhook"
    payment_ref: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


# --- answers -----------------------------------------------------------------

class FlashSaleOut(BaseModel):
    id: str
    room_id: str
    product_id: str
    price_cents: int
    quantity: int
    remaining: int
    per_user_limit: int
    starts_at: str
    ends_at: str
    status: Literal["scheduled", "running", "ended"]


class PricedLineOut(BaseModel):
    product_id: str
    quantity: int
    unit_price_cents: int
    flash_sale_id: str | None
    title: str


class CartOut(BaseModel):
    items: list[PricedLineOut]
    total_cents: int


class FulfilmentOut(BaseModel):
    kind: Literal["delivery", "pickup"]
    address: str | None = None
    point: str | None = None


class OrderOut(BaseModel):
    id: str
    room_id: str
    viewer_id: str
    status: Literal["pending_payment", "paid", "cancelled", "expired", "refunded"]
    items: list[PricedLineOut]
    items_cents: int
    discount_cents: int
    total_cents: int
    leader_id: str | None
    coupon_claim_id: str | None
    group_buy_id: str | None
    group_id: str | None
    fulfilment: FulfilmentOut
    created_at: str
    expires_at: str
    paid_at: str | None


class OrdersOut(BaseModel):
    orders: list[OrderOut]


class WebhookOut(BaseModel):
    ok: bool
    order: OrderOut
