"""Chat: stored messages (plain text), who joined a room, and moderation state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from live.db import Base, UTCDateTime


class ChatMessage(Base):
    """An accepted chat message. `text` is plain text, never rendered as HTML."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        UniqueConstraint("room_id", "user_id", "client_msg_id",
                         name="uq_chat_messages_client_msg_id"),
        Index("ix_chat_messages_room_id_created_at", "room_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"))
    user_id: Mapped[str] = mapped_column(String(40))
    user_role: Mapped[str] = mapped_column(String(10))
    nickname: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(String(200))
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RoomJoin(Base):
    """Who has joined a room (once per user): draws, coupons and stats ask this."""

    __tablename__ = "room_joins"

    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    role: Mapped[str] = mapped_column(String(10))
    first_joined_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChatMute(Base):
    __tablename__ = "chat_mutes"

    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: until unmuted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChatBan(Base):
    __tablename__ = "chat_bans"

    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChatSettings(Base):
    """Per-room chat rules: slow mode and blocked words (a JSON list)."""

    __tablename__ = "chat_settings"

    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    slow_mode_s: Mapped[int] = mapped_column(Integer, default=0)
    blocked_words: Mapped[str] = mapped_column(Text, default="[]")
