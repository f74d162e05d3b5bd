"""Moderation and the stored chat (the room's host)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from live import keys
from live.accounts.principal import HOST, Principal
from live.api import Body, Routes
from live.chat import service
from live.chat.schemas import ChatListOut, ChatQuery, ModerationIn, ModerationOut
from live.db import transaction
from live.realtime.publish import publish
from live.realtime.sio import PENDING_SEQ
from live.rooms import service as rooms_service

routes = Routes(tag="chat")


@routes.post("/api/v1/rooms/{room_id}/moderation", body=ModerationIn, response=ModerationOut,
             auth=HOST)
async def moderate(request: web.Request, *, principal: Principal,
                   body: Body[ModerationIn]) -> dict[str, Any]:
    """Mute, unmute, ban (disconnects at once), unban, delete a message, slow mode,
    blocked words."""
    app = request.app
    async with transaction(app) as session:
        room = await rooms_service.room_of_host(session, request.match_info["room_id"],
                                                principal)
        data = await body()
        events = await service.moderate(
            session, room=room, action=data.action, user_id=data.user_id,
            message_id=data.message_id, seconds=data.seconds, words=data.words,
            now=app[keys.CLOCK].now())
    await publish(app, events)
    return {"ok": True, "action": data.action}


@routes.get("/api/v1/rooms/{room_id}/chat", query=ChatQuery, response=ChatListOut, auth=HOST)
async def list_chat(request: web.Request, *, principal: Principal,
                    query: ChatQuery) -> dict[str, Any]:
    """The stored chat for review (newest `limit`, oldest first; deleted ones flagged)."""
    async with request.app[keys.SESSIONS]() as session:
        room = await rooms_service.room_of_host(session, request.match_info["room_id"],
                                                principal)
        messages = await service.list_messages(session, room_id=room.id, limit=query.limit,
                                               before=query.before)
        slow_mode_s, words = await service.settings_of(session, room.id)
    pending = request.app[PENDING_SEQ]  # seqs not yet written by the counters job
    for m in messages:
        if m["seq"] is None:
            m["seq"] = pending.get(m["id"])
    return {"messages": messages, "slow_mode_s": slow_mode_s, "blocked_words": words}
