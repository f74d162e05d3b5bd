"""The built-in relay under `live serve --workers N`.

aiortc's peer connections live in one process, so a room's broadcast lives on
the worker that accepted its WHIP publisher: the publisher's and every viewer's
connection are there. That worker records itself in Redis
(`{prefix}video:owner:{room_id}` = worker index, expiring unless the hub's
sweep refreshes it), and every other worker forwards the room's video requests
(WHIP, WHEP, DELETE/PATCH of a session, stream health) to the owner's private
loopback port, as `live.workers` forwards Engine.IO requests. Media does not
pass through the forwarding worker: only the SDP exchange does, and the answer
names the owner's ICE candidates.

    viewer ──POST /whep──▶ worker 1 ──(Redis: room → worker 0)──▶ worker 0
       ▲                                                          │ answer
       └──────────────── RTP/UDP straight to worker 0 ◀───────────┘

A second publisher landing on another worker meets the record (409 conflict),
even when two arrive at once: claiming is one Redis script. A room ended
through another worker is noticed by the owner's poll of the rooms it
broadcasts (≤ ENDED_POLL_S). An owner that died leaves a record that expires
(OWNER_TTL_MS) or is dropped by the first worker that cannot reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import select

from live import keys
from live.rooms.models import Room
from live.workers import WORKER, Handler, WorkerInfo, forward_http

log = logging.getLogger("live.video")

OWNER_TTL_MS = 15_000  # refreshed every second by the hub's sweep
ENDED_POLL_S = 1.0
FORWARDED = "X-Live-Video-Forwarded"  # a forwarded request is answered where it lands
VIDEO_PATH = re.compile(r"^/api/v1/rooms/([^/]+)/(?:whip|whep|video)(?:/[^/]+)?$")

# Take the record if it is free or already ours; else answer who holds it.
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
# Delete (ARGV[2] absent) or re-arm the record only while it names ARGV[1].
_IF_MINE = """
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    if ARGV[2] then redis.call('PEXPIRE', key, ARGV[2]) else redis.call('DEL', key) end
    n = n + 1
  end
end
return n
"""

class RedisOwners:
    """The hub's `Owners`: which worker holds each room's broadcast."""

    def __init__(self, app: web.Application, index: int) -> None:
        self._app = app  # the Redis client opens at start-up, after install()
        self.index = index
        self._me = str(index)

    @property
    def _redis(self) -> Any:
        return self._app[keys.REDIS]

    def _key(self, room_id: str) -> str:
        return f"{self._app[keys.SETTINGS].redis_prefix}video:owner:{room_id}"

    async def claim(self, room_id: str) -> bool:
        held = await self._redis.eval(_CLAIM, 1, self._key(room_id), self._me, OWNER_TTL_MS)
        return held is None

    async def release(self, room_id: str) -> None:
        await self._redis.eval(_IF_MINE, 1, self._key(room_id), self._me)

    async def refresh(self, room_ids: list[str]) -> None:
        await self._redis.eval(_IF_MINE, len(room_ids), *map(self._key, room_ids), self._me,
                               OWNER_TTL_MS)

    async def owner_of(self, room_id: str) -> int | None:
        raw = await self._redis.get(self._key(room_id))
        return int(raw) if raw is not None else None

    async def forget(self, room_id: str, index: int) -> None:
        """Drop a record naming a worker that cannot be reached (it died)."""
        await self._redis.eval(_IF_MINE, 1, self._key(room_id), str(index))


OWNERS: web.AppKey[RedisOwners] = web.AppKey("video_owners")


@web.middleware
async def forward_to_owner(request: web.Request, handler: Handler) -> web.StreamResponse:
    m = VIDEO_PATH.match(request.path)
    if m is None or request.method == "OPTIONS" or FORWARDED in request.headers:
        return await handler(request)
    owners = request.app[OWNERS]
    room_id = m.group(1)
    try:
        owner = await owners.owner_of(room_id)
    except Exception:  # Redis away: answer from here (this worker's broadcasts only)
        log.warning("cannot look up the broadcast's worker room=%s", room_id, exc_info=True)
        owner = None
    if owner is None or owner == owners.index:
        return await handler(request)
    info = request.app[WORKER]
    if not 0 <= owner < info.count:
        return await handler(request)
    target = f"http://127.0.0.1:{info.private_port(owner)}{request.path_qs}"
    headers = {k: v for k, v in request.headers.items()
               if k.lower() not in ("host", "content-length", "connection", "keep-alive",
                                    "transfer-encoding")}
    headers[FORWARDED] = str(owners.index)
    try:
        return await forward_http(request, target, headers)
    except aiohttp.ClientError:
        # The owner is gone (restarting) and its broadcast with it.
        log.warning("worker %d holding room=%s's video is unreachable", owner, room_id)
        with contextlib.suppress(Exception):
            await owners.forget(room_id, owner)
        return await handler(request)


async def end_ended_rooms(app: web.Application) -> None:
    """Stop broadcasts of rooms ended through another worker (its status hook
    only reaches its own hub)."""
    hub = app[keys.VIDEO]
    if not hub.rooms:
        return
    async with app[keys.SESSIONS]() as session:
        ended = (await session.scalars(select(Room.id).where(
            Room.id.in_(list(hub.rooms)), Room.status == "ended"))).all()
    for room_id in ended:
        hub.end_room(room_id)


async def cluster_ctx(app: web.Application) -> AsyncIterator[None]:
    async def poll() -> None:
        while True:
            await asyncio.sleep(ENDED_POLL_S)
            try:
                await end_ended_rooms(app)
            except Exception:
                log.warning("checking for ended rooms failed", exc_info=True)

    task = asyncio.create_task(poll())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def install(app: web.Application, info: WorkerInfo) -> None:
    """For a worker of `live serve --workers N` (Redis is required there), after
    `live.workers.install`."""
    owners = RedisOwners(app, info.index)
    app[keys.VIDEO].owners = owners
    app[OWNERS] = owners
    app.middlewares.append(forward_to_owner)
    # before video_ctx in cleanup order: the poll stops first, the hub after
    app.cleanup_ctx.append(cluster_ctx)
