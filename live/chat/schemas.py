from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from live.validation import Id, In, Query

Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
ClientMsgId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ShareToken = Annotated[str, StringConstraints(min_length=1, max_length=512)]


# --- Socket.IO payloads ----------------------------------------------------------

class JoinIn(In):
    room_id: Id
    last_seq: Annotated[int, Field(strict=True, ge=0)] | None = None
    share_token: ShareToken | None = None


class ChatIn(In):
    room_id: Id
    # Checked by the service after trimming (`empty`, `too_long`), not here: the
    # 16 KiB packet limit bounds it.
    text: str
    client_msg_id: ClientMsgId | None = None


class LikeIn(In):
    room_id: Id
    count: Annotated[int, Field(strict=True, ge=1, le=50)] = 1


class LeaveIn(In):
    room_id: Id


# --- HTTP --------------------------------------------------------------------------

class ModerationIn(In):
    action: Literal["mute", "unmute", "ban", "unban", "delete_message", "slow_mode",
                    "blocked_words"]
    user_id: Id | None = None
    message_id: Id | None = None
    seconds: Annotated[int, Field(strict=True, ge=0, le=10**8)] | None = None
    words: Annotated[list[Word], Field(max_length=500)] | None = None


class ModerationOut(BaseModel):
    ok: bool
    action: str


class ChatUserOut(BaseModel):
    id: str
    nickname: str


class ChatMessageOut(BaseModel):
    id: str
    seq: int | None
    user: ChatUserOut
    role: str
    text: str
    created_at: str
    deleted: bool


class ChatListOut(BaseModel):
    messages: list[ChatMessageOut]
    slow_mode_s: int
    blocked_words: list[str]


class ChatQuery(Query):
    limit: Annotated[int, Field(ge=1, le=1000)] = 200
    before: str | None = None
