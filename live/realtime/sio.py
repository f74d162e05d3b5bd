"""The Socket.IO server: path `/socket.io/`, namespace `/`, protocol v5.

One `AsyncNamespace` whose single `trigger_event` override does what every
event needs: the connection's identity (from `auth.token` at connect),
payload validation (pydantic), and mapping errors to the ack `{ok: false,
error: {code, message}}`. The handlers below it only do their own work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import socketio  # type: ignore[import-untyped]
from aiohttp import web
from engineio import packet as eio_packet  # type: ignore[import-untyped]
from pydantic import BaseModel, ValidationError
from socketio import packet as sio_packet
from sqlalchemy.exc import IntegrityError

from live import keys
from live.accounts.principal import Principal
from live.chat import service as chat_service
from live.chat.schemas import ChatIn, JoinIn, LeaveIn, LikeIn
from live.db import transaction
from live.errors import (
    Code,
    LiveError,
    from_validation_error,
    overloaded,
    service_unavailable,
    unavailable,
)
from live.metrics import Metrics
from live.realtime import wire
from live.realtime.publish import publish
from live.realtime.tick import Fanout, Transport, collapse
from live.rooms.models import Room
from live.snapshot import build_snapshot
from live.stats import service as stats_service

log = logging.getLogger("live.realtime.sio")

MAX_PACKET_BYTES = 16 * 1024
NAMESPACE = "/"

FANOUT = keys.FANOUT
LIMITER = keys.LIMITER
# message id -> seq, written to chat_messages.seq by the counters job (one
# transaction a second rather than one per message)
PENDING_SEQ: web.AppKey[dict[str, int]] = web.AppKey("pending_chat_seq")


def origin_allowed(settings_origins: tuple[str, ...], origin: str | None,
                   environ: dict[str, Any]) -> bool:
    """No Origin: allowed (not a browser). Else the server's own origin (as the
    Host header names it), an origin in LIVE_ALLOWED_ORIGINS, or a localhost
    origin on any port when those are allowed. Never `*`."""
    if not origin:
        return True
    host = environ.get("HTTP_HOST", "")
    scheme = environ.get("wsgi.url_scheme", "http")
    if host and origin in (f"{scheme}://{host}", f"http://{host}", f"https://{host}"):
        return True
    if origin in settings_origins:
        return True
    try:
        parts = urlsplit(origin)
        hostname = parts.hostname
    except ValueError:
        return False
    if not hostname:
        return False
    if ":" in hostname:
        hostname = f"[{hostname}]"
    # an allowed origin without a port allows that scheme and host on any port
    return f"{parts.scheme}://{hostname}" in settings_origins


YIELD_EVERY = 128  # members written per event-loop turn


class SioTransport(Transport):
    """Frames encoded once (one Socket.IO packet, one Engine.IO packet, one
    websocket frame) and written to each member's socket in one loop, through
    the fast path of `wire.py` where it is safe, else engineio's queue."""

    def __init__(self, sio: socketio.AsyncServer, metrics: Metrics | None = None) -> None:
        self.sio = sio
        self.metrics = metrics
        wire.install(sio.eio)

    def encode(self, payload: dict[str, Any]) -> wire.Frame:
        pkt = self.sio.packet_class(sio_packet.EVENT, namespace=NAMESPACE,
                                    data=["events", payload])
        packet = eio_packet.Packet(eio_packet.MESSAGE, pkt.encode())
        frame = wire.Frame(packet, wire.text_frame(packet.encode()))
        if self.metrics is not None:
            self.metrics.frame_bytes.observe(len(frame.wire))
        return frame

    async def send(self, eio_sid: str, frame: wire.Frame) -> None:
        await self.send_many([eio_sid], frame)

    async def send_many(self, eio_sids: list[str], frame: wire.Frame) -> None:
        sockets = self.sio.eio.sockets
        queued = []
        for i, eio_sid in enumerate(eio_sids):
            if i and i % YIELD_EVERY == 0:
                # let database replies and handlers in between: a chat's
                # transaction should not wait out a whole room's frame per await
                await asyncio.sleep(0)
            eio_socket = sockets.get(eio_sid)
            if eio_socket is None:
                continue
            written = wire.write(eio_socket, frame)
            if written is False:
                queued.append(eio_sid)
            elif written is None and self.metrics is not None:
                self.metrics.slow_clients_dropped.inc()  # aborted: it stopped reading
        for eio_sid in queued:
            await self.sio.eio.send_packet(eio_sid, frame.packet)

    async def kick(self, sid: str) -> None:
        await self.sio.disconnect(sid, namespace=NAMESPACE)


@dataclass
class Conn:
    sid: str
    principal: Principal
    visitor_id: str | None
    room_id: str | None = None
    counted: bool = False  # in the room's presence (viewers)
    counted_gen: int = 0  # the broker generation it was counted in
    likes_base: int = 0


Handler = Callable[[Conn, Any], Awaitable[dict[str, Any]]]


class RoomNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, app: web.Application) -> None:
        super().__init__(NAMESPACE)
        self.app = app
        self.conns: dict[str, Conn] = {}
        self.handlers: dict[str, tuple[type[BaseModel], Handler]] = {
            "join": (JoinIn, self.join),
            "chat": (ChatIn, self.chat),
            "like": (LikeIn, self.like),
            "leave": (LeaveIn, self.leave),
        }

    # --- the one dispatch hook ------------------------------------------------

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            try:
                return await self.connect(args[0], args[1], args[2] if len(args) > 2 else None)
            except socketio.exceptions.ConnectionRefusedError:
                raise
            except Exception as exc:
                if not busy(exc):
                    raise
                # a reconnect storm that outruns the database pool, or Redis or
                # the database lost: refused with a code the client can retry on
                log.warning("connect refused, over capacity: %s", type(exc).__name__)
                raise socketio.exceptions.ConnectionRefusedError(
                    "over_capacity", service_unavailable().to_dict()) from None
        if event == "disconnect":
            return await self.disconnect(args[0])
        sid = args[0]
        data = args[1] if len(args) > 1 else None
        try:
            conn = self.conns.get(sid)
            if conn is None:
                raise LiveError(Code.UNAUTHORIZED, "connect with a token first")
            spec = self.handlers.get(event)
            if spec is None:
                raise LiveError(Code.INVALID, f"unknown event {event!r}", fields=[])
            model, handler = spec
            if not isinstance(data, dict):
                raise LiveError(Code.INVALID, "the payload must be an object", fields=[])
            try:
                payload = model.model_validate(data)
            except ValidationError as exc:
                raise from_validation_error(exc) from None
            result = await handler(conn, payload)
            return {"ok": True, **result}
        except LiveError as err:
            return {"ok": False, "error": err.to_dict()}
        except Exception as exc:
            if busy(exc):  # capacity, not a bug: the client may retry (errors.py)
                log.warning("over capacity on socket event %s: %s", event, type(exc).__name__)
                return {"ok": False, "error": service_unavailable().to_dict()}
            log.exception("socket event %s failed sid=%s", event, sid)
            return {"ok": False, "error": {"code": Code.INTERNAL.value,
                                           "message": "internal error"}}

    # --- connection ------------------------------------------------------------

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token or len(token) > 512:
            raise socketio.exceptions.ConnectionRefusedError(
                "unauthorized", {"code": "unauthorized", "message": "auth.token is required"})
        principal = await self.app[keys.PRINCIPALS](token)  # batched with other connects
        if principal is None:
            raise socketio.exceptions.ConnectionRefusedError(
                "unauthorized", {"code": "unauthorized", "message": "unknown or revoked token"})
        self.conns[sid] = Conn(sid, principal, visitor_cookie(environ))
        self.app[keys.METRICS].connections.inc()

    async def disconnect(self, sid: str) -> None:
        conn = self.conns.pop(sid, None)
        if conn is not None:
            self.app[keys.METRICS].connections.dec()
        if conn is not None and conn.room_id is not None:
            await self._leave_room(conn)

    # --- events -----------------------------------------------------------------

    async def join(self, conn: Conn, data: JoinIn) -> dict[str, Any]:
        app = self.app
        fanout = app[FANOUT]
        broker = app[keys.BROKER]
        if conn.room_id is not None:
            await self._leave_room(conn)
        principal = conn.principal
        now = app[keys.CLOCK].now()
        rf = await fanout.prepare(data.room_id)
        counted = False
        counted_gen = 0
        try:
            async with transaction(app) as session:
                room = await session.get(Room, data.room_id)
                if room is None:
                    raise LiveError(Code.NOT_FOUND, "room not found")
                await chat_service.check_can_join(session, room_id=room.id, user_id=principal.id)
                events = []
                for hook in app[keys.JOIN_HOOKS]:
                    events += await hook(session, room_id=room.id, principal=principal,
                                         share_token=data.share_token,
                                         visitor_id=conn.visitor_id, now=now)
                await chat_service.record_join(session, room_id=room.id, principal=principal,
                                               now=now)
                likes_base = room.likes
                if rf.status is None:
                    rf.status = room.status
            await publish(app, events)
            if principal.role == "viewer":
                counted_gen = broker.generation
                await broker.presence_add(data.room_id, principal.id)
                counted = True
                fanout.state.viewers_changed(data.room_id)
            async with app[keys.SESSIONS]() as session:
                snapshot = await build_snapshot(app, session, data.room_id)
            seq = int(snapshot["seq"])
            replay = None
            if data.last_seq is not None and data.last_seq <= seq:
                missed = await broker.since(data.room_id, data.last_seq)
                if missed is not None:
                    replay = [e.wire() for e in collapse([e for e in missed if e.seq <= seq])]
        except BaseException:
            if counted:
                await broker.presence_remove(data.room_id, principal.id)
                fanout.state.viewers_changed(data.room_id)
            await fanout.abandon(rf)
            raise
        # Nothing awaits from here to the ack: the room's tick cannot send this
        # connection a frame before its ack is queued.
        eio_sid = self.server.manager.eio_sid_from_sid(conn.sid, NAMESPACE)
        if eio_sid is None or conn.sid not in self.conns:  # gone meanwhile
            if counted:
                await broker.presence_remove(data.room_id, principal.id)
                fanout.state.viewers_changed(data.room_id)
            await fanout.abandon(rf)
            raise LiveError(Code.CONFLICT, "the connection closed")
        conn.room_id = data.room_id
        conn.counted = counted
        if counted:
            conn.counted_gen = counted_gen
        conn.likes_base = likes_base
        fanout.attach(rf, sid=conn.sid, eio_sid=eio_sid, user_id=principal.id, after_seq=seq)
        return {"snapshot": snapshot, "replay": replay}

    async def chat(self, conn: Conn, data: ChatIn) -> dict[str, Any]:
        app = self.app
        principal = conn.principal
        if conn.room_id != data.room_id:
            raise chat_service.chat_error(chat_service.ChatCode.NOT_JOINED,
                                          "join the room first")
        pending = app[PENDING_SEQ]
        settings = app[keys.SETTINGS]
        try:
            # Reads first, without the write turn (SQLite admits one writer):
            # the duplicate check, the bucket, the moderation checks.
            async with app[keys.SESSIONS]() as session:
                if data.client_msg_id is not None:
                    first = await chat_service.find_by_client_msg_id(
                        session, room_id=data.room_id, user_id=principal.id,
                        client_msg_id=data.client_msg_id)
                    if first is not None:
                        return {"id": first.id, "seq": first.seq or pending.get(first.id)}
                chat_service.clean_text(data.text)  # `empty`, `too_long` spend no token
                now = app[keys.CLOCK].now()
                wait = await app[LIMITER].take(f"chat:{data.room_id}:{principal.id}",
                                               settings.chat_burst, settings.chat_rate_per_s,
                                               now.timestamp())
                if wait > 0:
                    raise chat_service.chat_error(chat_service.ChatCode.RATE_LIMITED,
                                                  "too many messages",
                                                  retry_after_s=round(wait, 3))
                text, slow = await chat_service.check_message(
                    session, room_id=data.room_id, user=principal, text=data.text, now=now)
            # Then one short transaction: the message and its stats.
            async with transaction(app) as session:
                message, events = await chat_service.store_message(
                    session, room_id=data.room_id, user=principal, text=text,
                    client_msg_id=data.client_msg_id, slow=slow, now=now)
                await stats_service.count_chat(session, room_id=data.room_id, now=now)
        except IntegrityError:
            # the same client_msg_id raced itself: answer with the first one
            async with app[keys.SESSIONS]() as session:
                first = await chat_service.find_by_client_msg_id(
                    session, room_id=data.room_id, user_id=principal.id,
                    client_msg_id=data.client_msg_id or "")
            if first is None:
                raise
            return {"id": first.id, "seq": first.seq or pending.get(first.id)}
        envelopes = await publish(app, events)
        seq = envelopes[0].seq if envelopes else None
        if seq is not None:
            pending[message.id] = seq  # stored by the counters job, in batches
        return {"id": message.id, "seq": seq}

    async def like(self, conn: Conn, data: LikeIn) -> dict[str, Any]:
        app = self.app
        principal = conn.principal
        if conn.room_id != data.room_id:
            raise chat_service.chat_error(chat_service.ChatCode.NOT_JOINED,
                                          "join the room first")
        fanout = app[FANOUT]
        if fanout.status_of(data.room_id) == "ended":
            raise LiveError(Code.ROOM_NOT_LIVE, "the room has ended")
        settings = app[keys.SETTINGS]
        rate = settings.like_rate_per_s
        wait = await app[LIMITER].take(f"like:{data.room_id}:{principal.id}", max(1.0, rate),
                                       rate, app[keys.CLOCK].now().timestamp())
        if wait > 0:
            raise LiveError(Code.RATE_LIMITED, "too many likes", retry_after_s=round(wait, 3))
        total = await app[keys.BROKER].add_likes(data.room_id, data.count,
                                                 base=conn.likes_base)
        fanout.state.likes_changed(data.room_id, total)
        return {"total": total}

    async def leave(self, conn: Conn, data: LeaveIn) -> dict[str, Any]:
        if conn.room_id == data.room_id:
            await self._leave_room(conn)
        return {}

    async def restore_presence(self, lost_generation: int) -> None:
        """The broker came back without its data (Redis restarted or flushed):
        count this worker's viewers that were counted before the loss again, so
        `viewers` is right without waiting for them to reconnect."""
        broker = self.app[keys.BROKER]
        fanout = self.app[FANOUT]
        restored = 0
        for conn in list(self.conns.values()):
            if conn.counted and conn.room_id is not None and conn.counted_gen <= lost_generation:
                conn.counted_gen = broker.generation
                await broker.presence_add(conn.room_id, conn.principal.id)
                fanout.state.viewers_changed(conn.room_id)
                restored += 1
        log.warning("presence of %d connections restored after a broker loss", restored)

    async def _leave_room(self, conn: Conn) -> None:
        room_id = conn.room_id
        if room_id is None:
            return
        conn.room_id = None
        fanout = self.app[FANOUT]
        await fanout.detach(room_id, conn.sid)
        if conn.counted:
            conn.counted = False
            try:
                await self.app[keys.BROKER].presence_remove(room_id, conn.principal.id)
            except Exception as exc:  # Redis lost: its presence went with it
                log.warning("presence not removed room_id=%s: %s", room_id,
                            type(exc).__name__)
            finally:
                fanout.state.viewers_changed(room_id)


def busy(exc: Exception) -> bool:
    """Capacity, not a bug: the pool or SQLite's lock wait ran out, or Redis or
    the database went away under the event. The client may retry."""
    return overloaded(exc) or unavailable(exc)


def visitor_cookie(environ: dict[str, Any]) -> str | None:
    raw = environ.get("HTTP_COOKIE")
    if not raw:
        return None
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(raw)
    except CookieError:
        return None
    morsel = cookie.get("live_vid")
    value = morsel.value if morsel else None
    return value if value and len(value) <= 128 else None


# --- wiring (create_app calls these) ------------------------------------------------

def attach_socketio(app: web.Application) -> socketio.AsyncServer:
    settings = app[keys.SETTINGS]
    origins = tuple(o.rstrip("/") for o in settings.allowed_origins)

    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        return origin_allowed(origins, origin, environ)

    sio = socketio.AsyncServer(
        async_mode="aiohttp", cors_allowed_origins=allowed,
        max_http_buffer_size=MAX_PACKET_BYTES, logger=False, engineio_logger=False)
    namespace = RoomNamespace(app)
    sio.register_namespace(namespace)
    sio.attach(app, socketio_path="socket.io")
    app[keys.SIO] = sio
    app[PENDING_SEQ] = {}
    app[keys.SNAPSHOT_PARTS].append(_snapshot_part(app))
    app[keys.JOBS].add("realtime:persist-counters", 1.0, persist_counters)
    app[keys.JOBS].add("realtime:broker-alive", 10.0, keep_broker_alive)
    app.cleanup_ctx.append(realtime_ctx)
    app.on_shutdown.append(drain_connections)
    return sio


async def drain_connections(app: web.Application) -> None:
    """Graceful shutdown (on_shutdown: the listeners are already closed): tell every
    client to reconnect, elsewhere. An Engine.IO close, not a Socket.IO
    disconnect: stock clients take the latter as "do not reconnect". Each
    connection leaves its room first (presence), and on reconnecting the client
    joins with its `last_seq` and the broker's history replays what it missed."""
    sio = app.get(keys.SIO)
    if sio is None:
        return
    sockets = list(sio.eio.sockets.values())
    for sock in sockets:
        try:
            await sock.close(wait=False, abort=False, reason=sio.eio.reason.SERVER_DISCONNECT)
        except Exception as exc:
            log.warning("closing a connection at shutdown failed: %s", type(exc).__name__)
    if sockets:
        log.info("shutdown: told %d connections to reconnect", len(sockets))


async def realtime_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx, after the broker's: room ticks stop before the broker closes."""
    metrics = app[keys.METRICS]
    fanout = Fanout(app[keys.BROKER], SioTransport(app[keys.SIO], metrics), metrics=metrics)
    await fanout.start()
    app[FANOUT] = fanout
    app[keys.BROKER].on_data_lost = app[keys.SIO].namespace_handlers[NAMESPACE].restore_presence
    yield
    await fanout.close()
    try:
        await persist_counters(app, every_room=True)
    except Exception:
        log.exception("persisting counters at shutdown failed")


def _snapshot_part(app: web.Application) -> Callable[[Any, str], Awaitable[dict[str, Any]]]:
    async def part(session: Any, room_id: str) -> dict[str, Any]:
        broker = app[keys.BROKER]
        out: dict[str, Any] = {"viewers": await broker.presence_count(room_id)}
        likes = await broker.likes(room_id)
        if likes is not None:
            out["likes"] = max(likes, (await session.get(Room, room_id)).likes)
        return out
    return part


async def keep_broker_alive(app: web.Application) -> None:
    await app[keys.BROKER].keep_alive()


async def persist_counters(app: web.Application, every_room: bool = False) -> None:
    """Write live likes and peak viewers to `rooms` (never lowering them)."""
    pending = app[PENDING_SEQ]
    if pending:
        batch = dict(pending)
        async with transaction(app) as session:
            await chat_service.set_message_seqs(session, batch)
        for message_id in batch:
            pending.pop(message_id, None)
    fanout = app.get(FANOUT)
    if fanout is None:
        return
    rooms = set(fanout.state.touched)
    fanout.state.touched.clear()
    if every_room:
        rooms |= set(fanout.rooms)
    if not rooms:
        return
    broker = app[keys.BROKER]
    try:
        async with transaction(app) as session:
            for room_id in sorted(rooms):
                likes = await broker.likes(room_id)
                peak = await broker.presence_peak(room_id)
                await chat_service.raise_room_counters(session, room_id=room_id, likes=likes,
                                                   peak_viewers=peak)
    except Exception:
        fanout.state.touched |= rooms  # try again next time
        raise
