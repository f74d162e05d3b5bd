"""Flash sales, carts, orders and idempotency keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from live.db import Base, UTCDateTime


class FlashSale(Base):
    """A 秒杀: `quantity` units reserved from a product's free stock at a special price.

    `active_product_id` is the product's id until the sale ends, then NULL: a
    unique column, so the database itself allows one not-ended sale per product.
    """

    __tablename__ = "flash_sales"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    active_product_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    per_user_limit: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)  # scheduled | running | ended
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FlashBuyer(Base):
    """Units a viewer holds in a sale (pending or paid orders): the per-user limit's
    counter, raised by one conditional upsert so the limit holds under concurrency."""

    __tablename__ = "flash_buyers"

    flash_sale_id: Mapped[str] = mapped_column(ForeignKey("flash_sales.id"), primary_key=True)
    viewer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger)


class CartItem(Base):
    """A line of a viewer's cart in one room, in `position` order."""

    __tablename__ = "cart_items"

    viewer_id: Mapped[str] = mapped_column(ForeignKey("viewers.id"), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer)


class Order(Base):
    """An order. Status: pending_payment → paid → refunded, or → cancelled | expired."""

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), index=True)
    viewer_id: Mapped[str] = mapped_column(ForeignKey("viewers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    items_cents: Mapped[int] = mapped_column(BigInteger)  # before discount
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    leader_id: Mapped[str | None] = mapped_column(String(40), index=True)
    fulfilment_kind: Mapped[str] = mapped_column(String(10))  # delivery | pickup
    fulfilment_detail: Mapped[str] = mapped_column(String(300))  # address or point
    coupon_claim_id: Mapped[str | None] = mapped_column(String(64), index=True)
    group_buy_id: Mapped[str | None] = mapped_column(String(64), index=True)
    group_id: Mapped[str | None] = mapped_column(String(64), index=True)
    payment_provider: Mapped[str | None] = mapped_column(String(20))
    payment_ref: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # cancel/expiry/refund

    items: Mapped[list[OrderItem]] = relationship(
        lazy="selectin", order_by="OrderItem.position", cascade="all, delete-orphan")


class OrderItem(Base):
    __tablename__ = "order_items"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    flash_sale_id: Mapped[str | None] = mapped_column(ForeignKey("flash_sales.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    quantity: Mapped[int] = mapped_column(BigInteger)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)


class IdempotencyKey(Base):
    """`Idempotency-Key` per caller: the body's hash and the first answer, stored in the
    order's own transaction (the primary key makes concurrent duplicates collide)."""

    __tablename__ = "idempotency_keys"

    caller_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    order_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
