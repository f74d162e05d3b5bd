from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from live.db import Base, UTCDateTime


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(12), index=True)  # scheduled | live | ended
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    playback_kind: Mapped[str] = mapped_column(String(10))  # webrtc | whep | hls | none
    playback_url: Mapped[str | None] = mapped_column(String(2000))
    pinned_product_id: Mapped[str | None] = mapped_column(String(40))
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    peak_viewers: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Product(Base):
    """A host's product. `stock` is free stock: orderable now at `price_cents`."""

    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int] = mapped_column(BigInteger)
    image_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ShelfItem(Base):
    """A product on a room's shelf (小黄车), in `position` order."""

    __tablename__ = "shelf_items"

    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True,
                                            index=True)
    position: Mapped[int] = mapped_column(Integer)
