"""Typed application keys: the one place that names what the app holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    import socketio
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from live.accounts.principal import Principal
    from live.batch import Batcher
    from live.cart.gate import StockGate
    from live.cart.hooks import OrderHooks
    from live.clock import Clock
    from live.jobs import Jobs
    from live.metrics import Metrics
    from live.realtime.broker import Broker
    from live.realtime.tick import Fanout
    from live.settings import Settings
    from live.snapshot import SnapshotPart
    from live.video.hub import VideoHub

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine")
SESSIONS: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("sessions")
# Bearer token -> its principal (None: unknown or revoked), batched (api.principal_batcher).
PRINCIPALS: web.AppKey[Batcher[str, Principal | None]] = web.AppKey("principals")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
BROKER: web.AppKey[Broker] = web.AppKey("broker")
SIO: web.AppKey[socketio.AsyncServer] = web.AppKey("sio")
JOBS: web.AppKey[Jobs] = web.AppKey("jobs")
SNAPSHOT_PARTS: web.AppKey[list[SnapshotPart]] = web.AppKey("snapshot_parts")
REDIS: web.AppKey[Any] = web.AppKey("redis")  # redis.asyncio.Redis | None
# Called in the transaction that changes a room's status: (session, room, now) -> events.
# Growth registers the reminder outbox here; commerce may end flash sales.
STATUS_HOOKS: web.AppKey[list[Any]] = web.AppKey("status_hooks")
ORDER_HOOKS: web.AppKey[OrderHooks] = web.AppKey("order_hooks")
# Called in the transaction of a Socket.IO `join` (and before anything is sent):
# (session, *, room_id, principal, share_token, visitor_id, now) -> events.
# Distribution binds the viewer to a 团长 here; it raises LiveError(invalid) for
# a tampered or foreign share token, which refuses the join.
JOIN_HOOKS: web.AppKey[list[Any]] = web.AppKey("join_hooks")
# Real time (live/realtime): this worker's room ticks; the token buckets of chat,
# likes, sign-ins and orders (app.limiter_ctx).
FANOUT: web.AppKey[Fanout] = web.AppKey("fanout")
LIMITER: web.AppKey[Any] = web.AppKey("limiter")  # ratelimit.MemoryLimiter | RedisLimiter
# Production mode: the Redis stock gate of hot flash sales (None when embedded).
STOCK_GATE: web.AppKey[StockGate | None] = web.AppKey("stock_gate")
# The built-in WebRTC relay: every WHIP/WHEP peer connection of this process.
VIDEO: web.AppKey[VideoHub] = web.AppKey("video")
