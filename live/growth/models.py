from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from live.db import Base, UTCDateTime


class Coupon(Base):
    """A coupon the host pushes into a room; `remaining` = quantity − claims made."""

    __tablename__ = "coupons"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    discount_cents: Mapped[int | None] = mapped_column(BigInteger)
    discount_bps: Mapped[int | None] = mapped_column(Integer)
    min_spend_cents: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    per_viewer: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class CouponClaim(Base):
    """One claim of a coupon by a viewer. `n` numbers the viewer's claims of the
    coupon (1..per_viewer); the unique (coupon_id, viewer_id, n) makes the
    per-viewer limit hold when one viewer claims twice at once."""

    __tablename__ = "coupon_claims"
    __table_args__ = (UniqueConstraint("coupon_id", "viewer_id", "n"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id"))
    room_id: Mapped[str] = mapped_column(String(40))
    viewer_id: Mapped[str] = mapped_column(String(40), index=True)
    n: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))  # unused | used
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GroupBuy(Base):
    """A 拼团 offer: `group_size` people paying within `window_s` get `price_cents`."""

    __tablename__ = "group_buys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    group_size: Mapped[int] = mapped_column(Integer)
    window_s: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Group(Base):
    """One group of an offer. `members` counts paid orders, `held` pending or
    paid ones (a seat is taken in one conditional UPDATE when an order joins)."""

    __tablename__ = "buy_groups"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    group_buy_id: Mapped[str] = mapped_column(ForeignKey("group_buys.id"), index=True)
    room_id: Mapped[str] = mapped_column(String(40), index=True)
    group_size: Mapped[int] = mapped_column(Integer)
    members: Mapped[int] = mapped_column(Integer)
    held: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), index=True)  # open | complete | failed
    opened_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GroupSeat(Base):
    """A viewer's live order in a group (pending or paid); one per viewer."""

    __tablename__ = "group_seats"

    group_id: Mapped[str] = mapped_column(ForeignKey("buy_groups.id"), primary_key=True)
    viewer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), index=True)


class Draw(Base):
    """A 福袋 lucky draw. `running_room_id` is the room while it runs, NULL after:
    its unique constraint keeps one running draw per room on both databases."""

    __tablename__ = "draws"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), index=True)
    running_room_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    prize: Mapped[str] = mapped_column(String(120))
    winners: Mapped[int] = mapped_column(Integer)
    eligibility: Mapped[str] = mapped_column(String(10))  # joined | chatted
    keyword: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), index=True)  # running | ended
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    seed: Mapped[str] = mapped_column(String(64))  # secret until the end
    commitment: Mapped[str] = mapped_column(String(64))
    eligible: Mapped[str | None] = mapped_column(Text)  # JSON list, set at the end
    winner_ids: Mapped[str | None] = mapped_column(Text)  # JSON list, set at the end


class Subscription(Base):
    """A viewer's reminder for a scheduled room; `notified_at` set when it went live."""

    __tablename__ = "room_subscriptions"

    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    viewer_id: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
    subscribed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
