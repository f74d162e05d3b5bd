"""Chat, joins and moderation. Transport-free: callers commit and publish.

Refusal codes (the contract's): `not_joined` and `rate_limited` are decided by
the transport (they concern the connection and a shared bucket); the rest here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.accounts.principal import Principal
from live.chat.events import ChatDeleted, ChatPosted, ModerationChanged
from live.chat.models import ChatBan, ChatMessage, ChatMute, ChatSettings, RoomJoin
from live.clock import iso
from live.errors import Code, LiveError, forbidden, invalid
from live.events import Event
from live.ids import new_id
from live.rooms.models import Room

MAX_TEXT = 200


class ChatCode(StrEnum):
    MUTED = "muted"
    BANNED = "banned"
    RATE_LIMITED = "rate_limited"
    SLOW_MODE = "slow_mode"
    TOO_LONG = "too_long"
    EMPTY = "empty"
    BLOCKED_WORD = "blocked_word"
    NOT_JOINED = "not_joined"


def chat_error(code: str, message: str, **extra: Any) -> LiveError:
    return LiveError(code, message, status=409 if code != ChatCode.RATE_LIMITED else 429,
                     **extra)


# --- joins ----------------------------------------------------------------------

async def record_join(session: AsyncSession, *, room_id: str, principal: Principal,
                      now: datetime) -> bool:
    """Remember that `principal` joined (the first time only). True if it is new."""
    if await session.get(RoomJoin, (room_id, principal.id)) is not None:
        return False
    session.add(RoomJoin(room_id=room_id, user_id=principal.id, role=principal.role,
                         first_joined_at=now))
    await session.flush()
    return True


async def has_joined(session: AsyncSession, *, room_id: str, user_id: str) -> bool:
    """Has this user (viewer, host or leader) ever joined the room?"""
    return await session.get(RoomJoin, (room_id, user_id)) is not None


async def joined_viewers(session: AsyncSession, *, room_id: str,
                         before: datetime | None = None) -> list[str]:
    """Viewer ids that joined the room (before `before`), sorted."""
    query = select(RoomJoin.user_id).where(RoomJoin.room_id == room_id,
                                           RoomJoin.role == "viewer")
    if before is not None:
        query = query.where(RoomJoin.first_joined_at <= before)
    return sorted(await session.scalars(query))


async def count_joined_viewers(session: AsyncSession, *, room_id: str) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(RoomJoin)
        .where(RoomJoin.room_id == room_id, RoomJoin.role == "viewer")) or 0)


async def count_messages(session: AsyncSession, *, room_id: str) -> int:
    """Accepted chat messages, deleted ones included."""
    return int(await session.scalar(
        select(func.count()).select_from(ChatMessage)
        .where(ChatMessage.room_id == room_id)) or 0)


# --- moderation state -----------------------------------------------------------

async def is_banned(session: AsyncSession, *, room_id: str, user_id: str) -> bool:
    return await session.get(ChatBan, (room_id, user_id)) is not None


async def banned_users(session: AsyncSession, *, room_id: str) -> set[str]:
    return set(await session.scalars(select(ChatBan.user_id).where(ChatBan.room_id == room_id)))


async def check_can_join(session: AsyncSession, *, room_id: str, user_id: str) -> None:
    if await is_banned(session, room_id=room_id, user_id=user_id):
        raise forbidden("you are banned from this room")


async def settings_of(session: AsyncSession, room_id: str) -> tuple[int, list[str]]:
    row = await session.get(ChatSettings, room_id)
    if row is None:
        return 0, []
    return row.slow_mode_s, list(json.loads(row.blocked_words or "[]"))


async def _settings_row(session: AsyncSession, room_id: str) -> ChatSettings:
    row = await session.get(ChatSettings, room_id)
    if row is None:
        row = ChatSettings(room_id=room_id, slow_mode_s=0, blocked_words="[]")
        session.add(row)
    return row


# --- chat -----------------------------------------------------------------------

@dataclass(frozen=True)
class Posted:
    id: str
    seq: int | None


async def find_by_client_msg_id(session: AsyncSession, *, room_id: str, user_id: str,
                                client_msg_id: str) -> Posted | None:
    row = (await session.execute(
        select(ChatMessage.id, ChatMessage.seq).where(
            ChatMessage.room_id == room_id, ChatMessage.user_id == user_id,
            ChatMessage.client_msg_id == client_msg_id))).first()
    return Posted(row[0], row[1]) if row else None


def clean_text(text: str) -> str:
    """Trimmed; 1..200 code points (`empty`, `too_long`)."""
    text = text.strip()
    if not text:
        raise chat_error(ChatCode.EMPTY, "the message is empty")
    if len(text) > MAX_TEXT:
        raise chat_error(ChatCode.TOO_LONG, f"at most {MAX_TEXT} characters")
    return text


async def check_message(session: AsyncSession, *, room_id: str, user: Principal, text: str,
                        now: datetime) -> tuple[str, bool]:
    """May `user` say `text` now? Checks, in order: room ended, banned, muted,
    empty, too long, blocked word, slow mode. The room's host is exempt from
    mute, ban and slow mode (it moderates). Only reads, so the caller can run
    it before its write transaction; returns the cleaned text and whether slow
    mode applies (then `store_message` checks it again, under the write lock)."""
    # One round trip for the room and everything moderation says about this user.
    def about_user(column: Any, model: Any) -> Any:
        return select(column).where(model.room_id == room_id, model.user_id == user.id) \
            .scalar_subquery()

    row = (await session.execute(
        select(Room.status, Room.host_id,
               about_user(ChatBan.created_at, ChatBan),
               about_user(ChatMute.created_at, ChatMute), about_user(ChatMute.until, ChatMute),
               select(ChatSettings.slow_mode_s).where(ChatSettings.room_id == room_id)
               .scalar_subquery(),
               select(ChatSettings.blocked_words).where(ChatSettings.room_id == room_id)
               .scalar_subquery())
        .where(Room.id == room_id))).first()
    if row is None:
        raise LiveError(Code.NOT_FOUND, "room not found")
    status, host_id, banned_at, muted_at, mute_until, slow_mode_s, blocked_words = row
    if status == "ended":
        raise LiveError(Code.ROOM_NOT_LIVE, "the room has ended")
    is_host = user.role == "host" and host_id == user.id
    if not is_host:
        if banned_at is not None:
            raise chat_error(ChatCode.BANNED, "you are banned from this room")
        if muted_at is not None and (mute_until is None or mute_until > now):
            extra = {}
            if mute_until is not None:
                extra["retry_after_s"] = round((mute_until - now).total_seconds(), 3)
            raise chat_error(ChatCode.MUTED, "you are muted in this room", **extra)
    text = clean_text(text)
    slow_mode_s = slow_mode_s or 0
    lowered = text.casefold()
    for word in json.loads(blocked_words or "[]"):
        if word.casefold() in lowered:
            raise chat_error(ChatCode.BLOCKED_WORD, "the message contains a blocked word")
    slow = slow_mode_s > 0 and not is_host
    if slow:
        await check_slow_mode(session, room_id=room_id, user_id=user.id,
                              slow_mode_s=slow_mode_s, now=now)
    return text, slow


async def check_slow_mode(session: AsyncSession, *, room_id: str, user_id: str,
                          slow_mode_s: int, now: datetime) -> None:
    last = await session.scalar(
        select(func.max(ChatMessage.created_at)).where(
            ChatMessage.room_id == room_id, ChatMessage.user_id == user_id))
    if last is not None and last + timedelta(seconds=slow_mode_s) > now:
        wait = (last + timedelta(seconds=slow_mode_s) - now).total_seconds()
        raise chat_error(ChatCode.SLOW_MODE, f"slow mode: one message per {slow_mode_s} s",
                         retry_after_s=round(wait, 3))


async def store_message(session: AsyncSession, *, room_id: str, user: Principal, text: str,
                        client_msg_id: str | None, slow: bool,
                        now: datetime) -> tuple[ChatMessage, list[Event]]:
    """Store a message `check_message` accepted (in the write transaction)."""
    if slow:  # two messages racing each other must not both pass slow mode
        slow_mode_s, _words = await settings_of(session, room_id)
        await check_slow_mode(session, room_id=room_id, user_id=user.id,
                              slow_mode_s=slow_mode_s, now=now)
    message = ChatMessage(id=new_id("msg"), room_id=room_id, user_id=user.id,
                          user_role=user.role, nickname=user.name, text=text,
                          client_msg_id=client_msg_id, seq=None, deleted=False, created_at=now)
    session.add(message)
    await session.flush()
    return message, [ChatPosted(room_id, message.id, {"id": user.id, "nickname": user.name},
                                text)]


async def set_message_seqs(session: AsyncSession, seqs: dict[str, int]) -> None:
    """Record the seq each message got when published (after its commit).

    One executemany, not one statement per message: on SQLite this runs under
    the write lock, and every separate await is a trip through a busy event loop."""
    if seqs:
        await session.execute(update(ChatMessage), [{"id": message_id, "seq": seq}
                                                    for message_id, seq in sorted(seqs.items())])


async def list_messages(session: AsyncSession, *, room_id: str, limit: int,
                        before: str | None = None) -> list[dict[str, Any]]:
    """The newest `limit` messages (before message id `before`), oldest first."""
    query = select(ChatMessage).where(ChatMessage.room_id == room_id)
    if before is not None:
        pivot = await session.get(ChatMessage, before)
        if pivot is None or pivot.room_id != room_id:
            raise invalid("unknown message", ("before", "no such message in this room"))
        query = query.where(ChatMessage.created_at <= pivot.created_at,
                            ChatMessage.id < pivot.id)
    rows = list(await session.scalars(
        query.order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc()).limit(limit)))
    rows.reverse()
    return [message_dict(m) for m in rows]


def message_dict(m: ChatMessage) -> dict[str, Any]:
    return {"id": m.id, "seq": m.seq, "user": {"id": m.user_id, "nickname": m.nickname},
            "role": m.user_role, "text": m.text, "created_at": iso(m.created_at),
            "deleted": m.deleted}


# --- moderation (the room's host) -----------------------------------------------

MODERATION_ACTIONS = ("mute", "unmute", "ban", "unban", "delete_message", "slow_mode",
                      "blocked_words")


async def moderate(session: AsyncSession, *, room: Room, action: str, user_id: str | None,
                   message_id: str | None, seconds: int | None,
                   words: Sequence[str] | None, now: datetime) -> list[Event]:
    room_id = room.id
    if action in ("mute", "unmute", "ban", "unban"):
        if not user_id:
            raise invalid(f"{action} needs a user_id", ("user_id", "required"))
        if user_id == room.host_id:
            raise invalid("the host cannot moderate itself", ("user_id", "the room's host"))
    if action == "mute":
        until = now + timedelta(seconds=seconds) if seconds else None
        row = await session.get(ChatMute, (room_id, user_id))
        if row is None:
            session.add(ChatMute(room_id=room_id, user_id=user_id, until=until, created_at=now))
        else:
            row.until = until
            row.created_at = now
        await session.flush()
        return [ModerationChanged(room_id, "mute", user_id, seconds or None)]
    if action == "unmute":
        await session.execute(delete(ChatMute).where(ChatMute.room_id == room_id,
                                                     ChatMute.user_id == user_id))
        return [ModerationChanged(room_id, "unmute", user_id)]
    if action == "ban":
        if await session.get(ChatBan, (room_id, user_id)) is None:
            session.add(ChatBan(room_id=room_id, user_id=user_id, created_at=now))
            await session.flush()
        return [ModerationChanged(room_id, "ban", user_id)]
    if action == "unban":
        await session.execute(delete(ChatBan).where(ChatBan.room_id == room_id,
                                                    ChatBan.user_id == user_id))
        return [ModerationChanged(room_id, "unban", user_id)]
    if action == "delete_message":
        if not message_id:
            raise invalid("delete_message needs a message_id", ("message_id", "required"))
        message = await session.get(ChatMessage, message_id)
        if message is None or message.room_id != room_id:
            raise invalid("unknown message", ("message_id", "no such message in this room"))
        if message.deleted:
            return []
        message.deleted = True
        await session.flush()
        return [ChatDeleted(room_id, message_id)]
    if action == "slow_mode":
        if seconds is None:
            raise invalid("slow_mode needs seconds", ("seconds", "required (0 = off)"))
        rules = await _settings_row(session, room_id)
        rules.slow_mode_s = seconds
        await session.flush()
        return [ModerationChanged(room_id, "slow_mode", None, seconds)]
    if action == "blocked_words":
        if words is None:
            raise invalid("blocked_words needs words", ("words", "required (a list)"))
        unique = list(dict.fromkeys(w.strip() for w in words if w.strip()))
        rules = await _settings_row(session, room_id)
        rules.blocked_words = json.dumps(unique, ensure_ascii=False)
        await session.flush()
        return []  # never broadcast the words
    raise invalid("unknown action", ("action", f"one of {', '.join(MODERATION_ACTIONS)}"))


# --- counters persisted from the broker -------------------------------------------

async def raise_room_counters(session: AsyncSession, *, room_id: str, likes: int | None,
                              peak_viewers: int | None) -> None:
    """Persist live likes and peak viewers; never lowers them (another worker or
    an older value may arrive late)."""
    if likes is not None:
        await session.execute(update(Room).where(Room.id == room_id, Room.likes < likes)
                              .values(likes=likes))
    if peak_viewers:
        await session.execute(update(Room).where(Room.id == room_id,
                                                 Room.peak_viewers < peak_viewers)
                              .values(peak_viewers=peak_viewers))


async def viewers_who_chatted(session: AsyncSession, *, room_id: str, keyword: str,
                              since: datetime, until: datetime) -> list[str]:
    """Viewer ids with an accepted chat containing `keyword` (case-sensitive)
    posted in [since, until], deleted ones included, sorted by code point."""
    rows = await session.execute(
        select(ChatMessage.user_id, ChatMessage.text).where(
            ChatMessage.room_id == room_id, ChatMessage.user_role == "viewer",
            ChatMessage.created_at >= since, ChatMessage.created_at <= until,
            # LIKE narrows it down (case-insensitive on SQLite); `in` decides
            ChatMessage.text.contains(keyword, autoescape=True)))
    return sorted({user_id for user_id, text in rows if keyword in text})
