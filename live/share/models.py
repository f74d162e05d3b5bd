"""Distribution tables.

- `share_rules`: one row per change of a host's rules (versioned: a payment
  uses the newest version at its time).
- `share_visits`: every visit by a 团长's link (`/r/`, or a first join/order
  with a share token); a visit names a browser (`visitor_id`, the `live_vid`
  cookie), a viewer, or both.
- `share_person_links`: a `live_vid` cookie and the viewer it belongs to are
  one person.
- `share_bindings`: who a person is bound to under a host's rules, per
  subject (`v:<viewer id>` or `c:<visitor id>`).
- `share_orders`: the attributed orders that were paid (and maybe refunded):
  the figures 团长 stats and leaderboards are made of.
- `share_commissions`: the ledger.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from live.db import Base, UTCDateTime


class Rules(Base):
    __tablename__ = "share_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    levels: Mapped[int] = mapped_column(Integer)
    rates_bps: Mapped[str] = mapped_column(String(40))  # "1000,300"
    attribution_window_h: Mapped[int] = mapped_column(Integer)
    refund_window_h: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(12))  # last_click | first_click
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Visit(Base):
    __tablename__ = "share_visits"
    __table_args__ = (
        Index("ix_share_visits_room_leader", "room_id", "leader_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"))
    host_id: Mapped[str] = mapped_column(String(40))
    leader_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    visitor_id: Mapped[str | None] = mapped_column(String(64), index=True)
    viewer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    source: Mapped[str] = mapped_column(String(8))  # link | join | order
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PersonLink(Base):
    __tablename__ = "share_person_links"

    visitor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    viewer_id: Mapped[str] = mapped_column(ForeignKey("viewers.id"), index=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Binding(Base):
    __tablename__ = "share_bindings"

    host_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    leader_id: Mapped[str] = mapped_column(String(40))
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AttributedOrder(Base):
    __tablename__ = "share_orders"

    order_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host_id: Mapped[str] = mapped_column(String(40), index=True)
    room_id: Mapped[str] = mapped_column(String(40), index=True)
    leader_id: Mapped[str] = mapped_column(String(40), index=True)
    viewer_id: Mapped[str] = mapped_column(String(40))
    total_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))  # paid | refunded
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Commission(Base):
    __tablename__ = "share_commissions"
    __table_args__ = (
        UniqueConstraint("order_id", "level", name="uq_share_commissions_order_id"),
        Index("ix_share_commissions_status_settle", "status", "settle_after"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40))
    leader_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    host_id: Mapped[str] = mapped_column(String(40), index=True)
    room_id: Mapped[str] = mapped_column(String(40))
    level: Mapped[int] = mapped_column(Integer)
    rate_bps: Mapped[int] = mapped_column(Integer)
    base_cents: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))  # frozen | settled | reversed
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settle_after: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
