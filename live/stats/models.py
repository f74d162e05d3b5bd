"""Counters written in the transaction of the change they count, so reading
them is one row per room whatever the number of orders or people."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from live.db import Base, UTCDateTime


class RoomStats(Base):
    __tablename__ = "room_stats"

    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    visitors: Mapped[int] = mapped_column(BigInteger, default=0)  # distinct people
    chat_messages: Mapped[int] = mapped_column(BigInteger, default=0)
    orders: Mapped[int] = mapped_column(BigInteger, default=0)  # paid, not refunded
    buyers: Mapped[int] = mapped_column(BigInteger, default=0)
    gmv_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds: Mapped[int] = mapped_column(BigInteger, default=0)


class StatsIdentity(Base):
    """A viewer (`w:<id>`) or a link visitor's cookie (`c:<id>`) seen in a room,
    and the person it belongs to there: a visitor and its linked viewer are one."""

    __tablename__ = "stats_identities"

    room_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    identity: Mapped[str] = mapped_column(String(80), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(80))


class StatsPerson(Base):
    """One person in a room: how far down the funnel they went, and for which 团长."""

    __tablename__ = "stats_persons"

    room_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    leader_id: Mapped[str | None] = mapped_column(String(40))
    stages: Mapped[int] = mapped_column(Integer, default=0)  # bit set of funnel stages
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StatsBuyer(Base):
    """A viewer's paid, not refunded orders in a room (buyers = rows with orders > 0)."""

    __tablename__ = "stats_buyers"

    room_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    viewer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    gmv_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class StatsMinute(Base):
    """What happened in a room during one UTC minute (flows, not totals;
    `likes_total` and `peak_viewers` are the highest seen in the minute)."""

    __tablename__ = "stats_minutes"

    room_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)
    peak_viewers: Mapped[int] = mapped_column(Integer, default=0)
    chat_messages: Mapped[int] = mapped_column(Integer, default=0)
    likes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    gmv_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds: Mapped[int] = mapped_column(Integer, default=0)


class StatsCustomer(Base):
    """A viewer's paid, not refunded orders with one host (across its rooms).
    A refund takes back the order and GMV but not the first/last payment times."""

    __tablename__ = "stats_customers"

    host_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    viewer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    gmv_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    first_paid_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_paid_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StatsProduct(Base):
    """Units and line GMV of a host's product over paid, not refunded orders."""

    __tablename__ = "stats_products"

    host_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    units: Mapped[int] = mapped_column(BigInteger, default=0)
    gmv_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class StatsLeader(Base):
    """Orders and GMV a 团长 brought a host (direct attribution), net of refunds."""

    __tablename__ = "stats_leaders"

    host_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    leader_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    gmv_cents: Mapped[int] = mapped_column(BigInteger, default=0)
