"""The built-in WebRTC relay: one publisher per room (WHIP), viewers (WHEP).

Everything lives in this process: `VideoHub` holds every peer connection
(`app[keys.VIDEO]`), closes a connection whose state turns `failed`/`closed`,
drops a publisher whose media stops, and closes everything on shutdown.

    publisher ──WHIP──▶ RTCPeerConnection ─▶ IngestVideoTrack (yuv420p, meter)
                                                 │ MediaRelay
                          drain (keeps it read) ◀┼▶ viewer 1 (own VP8 encoder)
                                                 └▶ viewer N

aiortc decodes the publisher and re-encodes for every viewer, so the relay is
for small rooms (LIVE_WEBRTC_MAX_VIEWERS; docs/benchmarks.md). Large audiences
watch an external SFU/CDN (the room's `playback`; docs/video.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcicetransport import parse_stun_turn_uri
from aiortc.sdp import SessionDescription

from live.errors import Code, LiveError, conflict
from live.ids import new_id
from live.video.media import CountingTrack, IngestVideoTrack

log = logging.getLogger("live.video")

MAX_SDP_BYTES = 64 * 1024
CLOSE_TIMEOUT_S = 5.0


def bad_offer(message: str) -> LiveError:
    return LiveError(Code.INVALID, message, status=400)


def parse_ice_servers(urls: Iterable[str]) -> list[RTCIceServer]:
    """`stun:host:port`, `turn:user:secret@host:port?transport=udp`, `turns:...`."""
    servers = []
    for raw in urls:
        scheme, _, rest = raw.strip().partition(":")
        username = credential = None
        if scheme in ("turn", "turns") and "@" in rest:
            userinfo, _, rest = rest.rpartition("@")
            username, _, credential = userinfo.partition(":")
        url = f"{scheme}:{rest}"
        try:
            parse_stun_turn_uri(url)
        except ValueError as exc:
            raise ValueError(f"LIVE_ICE_SERVERS: cannot use {raw!r}: {exc}") from None
        servers.append(RTCIceServer(urls=url, username=username or None,
                                    credential=credential or None))
    return servers


def check_offer(sdp: str) -> None:
    """400 unless `sdp` parses as SDP and offers audio or video."""
    if not sdp.strip():
        raise bad_offer("the body must be an SDP offer")
    try:
        desc = SessionDescription.parse(sdp)
    except Exception as exc:
        raise bad_offer(f"the offer is not valid SDP: {exc}") from None
    if not any(m.kind in ("audio", "video") for m in desc.media):
        raise bad_offer("the offer has no audio or video")
    for m in desc.media:
        # aiortc accepts such an offer, answers, and then fails an assertion in
        # a background task once ICE connects: refuse it here instead.
        if m.kind in ("audio", "video") and m.port != 0 and (
                m.dtls is None or not m.dtls.fingerprints):
            raise bad_offer(f"the {m.kind} section has no DTLS fingerprint or setup role")


def _answer_has_media(sdp: str) -> bool:
    desc = SessionDescription.parse(sdp)
    return any(m.kind in ("audio", "video") and m.port != 0 and m.direction != "inactive"
               for m in desc.media)


class Owners(Protocol):
    """Where a room's broadcast lives, for `live serve --workers N` (cluster.py).

    The relay is per process: the worker that accepted the WHIP publisher holds
    every connection of the room, and the others forward to it."""

    async def claim(self, room_id: str) -> bool: ...  # False: another worker holds it
    async def release(self, room_id: str) -> None: ...
    async def refresh(self, room_ids: list[str]) -> None: ...


@dataclass(eq=False)
class Session:
    id: str
    kind: str  # whip | whep
    room_id: str
    owner_id: str
    pc: RTCPeerConnection
    created_at: float
    connected_at: float | None = None
    closed: bool = False


@dataclass(eq=False)
class Broadcast:
    room_id: str
    session: Session | None = None  # None while the WHIP offer is being answered
    relay: MediaRelay = field(default_factory=MediaRelay)
    video: IngestVideoTrack | None = None
    audio: CountingTrack | None = None
    viewers: dict[str, Session] = field(default_factory=dict)
    pending_viewers: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    rx_samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=4))

    @property
    def ready(self) -> bool:
        return self.session is not None and not self.session.closed

    def tracks(self) -> list[IngestVideoTrack | CountingTrack]:
        return [t for t in (self.video, self.audio) if t is not None]

    def last_media_at(self) -> float | None:
        times = [t.last_frame_at for t in self.tracks() if t.last_frame_at is not None]
        return max(times) if times else None

    def bitrate_kbps(self) -> int:
        if len(self.rx_samples) < 2:
            return 0
        (t0, b0), (t1, b1) = self.rx_samples[0], self.rx_samples[-1]
        return max(0, int((b1 - b0) * 8 / max(t1 - t0, 1e-3) / 1000))


class VideoHub:
    def __init__(self, *, max_viewers: int, ice_servers: Iterable[str] = (),
                 connect_timeout_s: float = 10.0, stall_timeout_s: float = 15.0) -> None:
        self.max_viewers = max_viewers
        self.ice_servers = parse_ice_servers(ice_servers)
        self.connect_timeout_s = connect_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.sessions: dict[str, Session] = {}
        self.rooms: dict[str, Broadcast] = {}
        self.owners: Owners | None = None  # set by cluster.install with several workers
        self._background: set[asyncio.Task[None]] = set()

    # --- peer connections -----------------------------------------------------

    def _new_pc(self, kind: str, room_id: str, owner_id: str) -> Session:
        # An explicit list: aiortc's default would ask Google's STUN server.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self.ice_servers)))
        session = Session(new_id(kind), kind, room_id, owner_id, pc, time.monotonic())

        @pc.on("connectionstatechange")
        def on_state() -> None:
            self._on_state(session)

        return session

    def _on_state(self, s: Session) -> None:
        state = s.pc.connectionState
        log.debug("%s %s room=%s state=%s", s.kind, s.id, s.room_id, state)
        if state == "connected" and s.connected_at is None:
            s.connected_at = time.monotonic()
        elif state in ("failed", "closed") and not s.closed:
            self._spawn(self.end_session(s, f"connection {state}"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _close_pc(pc: RTCPeerConnection) -> None:
        try:
            await asyncio.wait_for(pc.close(), CLOSE_TIMEOUT_S)
        except Exception:
            log.warning("closing a peer connection failed", exc_info=True)

    async def _negotiate(self, s: Session, offer: str) -> str:
        try:
            await s.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        except LiveError:
            raise
        except Exception as exc:
            raise bad_offer(f"cannot use this offer: {exc}") from None
        return await self._answer(s)

    async def _answer(self, s: Session) -> str:
        try:
            answer = await s.pc.createAnswer()
            await s.pc.setLocalDescription(answer)
        except Exception as exc:
            raise bad_offer(f"cannot answer this offer: {exc}") from None
        sdp = s.pc.localDescription.sdp
        if not _answer_has_media(sdp):
            raise bad_offer("no audio or video codec in common with the offer")
        return sdp

    # --- WHIP -----------------------------------------------------------------

    async def publish(self, room_id: str, owner_id: str, offer: str) -> tuple[Session, str]:
        """Answer a publisher's offer; 409 conflict if the room has one."""
        check_offer(offer)
        if room_id in self.rooms:
            raise conflict("someone is already publishing to this room")
        b = Broadcast(room_id)
        self.rooms[room_id] = b  # reserved before the first await
        if self.owners is not None and not await self._claim(room_id):
            if self.rooms.get(room_id) is b:
                del self.rooms[room_id]
            raise conflict("someone is already publishing to this room")
        s = self._new_pc("whip", room_id, owner_id)
        b.session = s
        received: list[MediaStreamTrack] = []
        s.pc.on("track", received.append)
        try:
            await s.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        except BaseException as exc:
            await self._abort_publish(b)
            if isinstance(exc, Exception):
                raise bad_offer(f"cannot use this offer: {exc}") from None
            raise
        try:
            if not received:
                raise bad_offer("the offer sends no audio or video")
            extra: list[MediaStreamTrack] = []
            for track in received:
                if track.kind == "video" and b.video is None:
                    b.video = IngestVideoTrack(track)
                elif track.kind == "audio" and b.audio is None:
                    b.audio = CountingTrack(track)
                else:  # a second track of a kind: read and dropped, never queued up
                    extra.append(track)
            # The broadcast ends with its video (or its audio, when it has no video).
            if b.video is not None:
                self._drain(b, b.relay.subscribe(b.video, buffered=False), ends=True)
            if b.audio is not None:
                self._drain(b, b.relay.subscribe(b.audio, buffered=False),
                            ends=b.video is None)
            for track in extra:
                self._drain(b, track, ends=False)
            sdp = await self._answer(s)
            if self.rooms.get(room_id) is not b:  # the room ended meanwhile
                raise LiveError(Code.ROOM_NOT_LIVE, "the room has ended")
        except BaseException:
            await self._abort_publish(b)
            raise
        self.sessions[s.id] = s
        log.info("whip %s room=%s publishing video=%s audio=%s", s.id, room_id,
                 b.video is not None, b.audio is not None)
        if s.pc.connectionState in ("failed", "closed"):
            self._on_state(s)
        return s, sdp

    async def _claim(self, room_id: str) -> bool:
        assert self.owners is not None
        try:
            return await self.owners.claim(room_id)
        except Exception:  # Redis away: publish here; viewers on this worker still see it
            log.warning("cannot record the broadcast's worker room=%s", room_id, exc_info=True)
            return True

    def _release(self, room_id: str) -> None:
        if self.owners is not None:
            self._spawn(self._release_now(room_id))

    async def _release_now(self, room_id: str) -> None:
        assert self.owners is not None
        if room_id in self.rooms:  # published again here meanwhile
            return
        try:
            await self.owners.release(room_id)
        except Exception:  # the record expires by itself
            log.warning("cannot release the broadcast's worker room=%s", room_id, exc_info=True)

    async def _abort_publish(self, b: Broadcast) -> None:
        if self.rooms.get(b.room_id) is b:
            del self.rooms[b.room_id]
            self._release(b.room_id)
        await self._end_broadcast(b, "setup failed")

    def _drain(self, b: Broadcast, track: MediaStreamTrack, *, ends: bool) -> None:
        """Keep reading `track`: the relay's reader starts on the first read, and
        aiortc queues decoded frames without bound until somebody reads them."""

        async def run() -> None:
            try:
                while True:
                    await track.recv()
            except MediaStreamError:
                pass
            except Exception:
                log.exception("reading the publisher's %s failed room=%s", track.kind,
                              b.room_id)
            finally:
                track.stop()
            if ends and self.rooms.get(b.room_id) is b:
                await self._end_broadcast(b, f"the publisher's {track.kind} ended")

        b.tasks.append(asyncio.ensure_future(run()))

    # --- WHEP -----------------------------------------------------------------

    async def play(self, room_id: str, owner_id: str, offer: str) -> tuple[Session, str]:
        """Answer a viewer's offer with the room's relayed tracks."""
        check_offer(offer)
        b = self.rooms.get(room_id)
        if b is None or not b.ready:
            raise LiveError(Code.NOT_RUNNING, "nobody is publishing to this room")
        if len(b.viewers) + b.pending_viewers >= self.max_viewers:
            raise LiveError(Code.OVER_CAPACITY,
                            f"the built-in relay carries {self.max_viewers} viewers per room")
        b.pending_viewers += 1
        s = self._new_pc("whep", room_id, owner_id)
        try:
            try:
                await s.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            except Exception as exc:
                raise bad_offer(f"cannot use this offer: {exc}") from None
            taken: set[str] = set()
            for t in s.pc.getTransceivers():
                source = b.video if t.kind == "video" else b.audio if t.kind == "audio" else None
                if source is None or t.kind in taken:
                    t.direction = "inactive"
                    continue
                taken.add(t.kind)
                # Video unbuffered: a viewer whose encoder lags gets the newest
                # frame instead of a growing queue. Audio buffered: no gaps.
                t.sender.replaceTrack(b.relay.subscribe(source, buffered=t.kind == "audio"))
                t.direction = "sendonly"  # never receive (nobody would read it)
            if not taken:
                raise bad_offer("the offer asks for no audio or video the publisher sends")
            sdp = await self._answer(s)
            if self.rooms.get(room_id) is not b or not b.ready:
                raise LiveError(Code.NOT_RUNNING, "the publisher left")
        except BaseException:
            b.pending_viewers -= 1
            await self._close_pc(s.pc)
            raise
        b.pending_viewers -= 1
        b.viewers[s.id] = s
        self.sessions[s.id] = s
        log.info("whep %s room=%s viewers=%d", s.id, room_id, len(b.viewers))
        if s.pc.connectionState in ("failed", "closed"):
            self._on_state(s)
        return s, sdp

    # --- ending ---------------------------------------------------------------

    def find(self, session_id: str, *, kind: str, room_id: str) -> Session | None:
        s = self.sessions.get(session_id)
        if s is None or s.kind != kind or s.room_id != room_id or s.closed:
            return None
        return s

    async def end_session(self, s: Session, reason: str) -> None:
        if s.closed:
            return
        b = self.rooms.get(s.room_id)
        if s.kind == "whip":
            if b is not None and b.session is s:
                await self._end_broadcast(b, reason)
                return
            s.closed = True
            self.sessions.pop(s.id, None)
            await self._close_pc(s.pc)
            return
        s.closed = True
        self.sessions.pop(s.id, None)
        if b is not None:
            b.viewers.pop(s.id, None)
        log.info("whep %s room=%s ended: %s", s.id, s.room_id, reason)
        await self._close_pc(s.pc)

    async def _end_broadcast(self, b: Broadcast, reason: str) -> None:
        if self.rooms.get(b.room_id) is b:
            del self.rooms[b.room_id]
            self._release(b.room_id)
        current = asyncio.current_task()
        for task in b.tasks:
            if task is not current:
                task.cancel()
        sessions = list(b.viewers.values())
        b.viewers.clear()
        if b.session is not None:
            sessions.append(b.session)
            if not b.session.closed:
                log.info("whip %s room=%s ended: %s", b.session.id, b.room_id, reason)
        for s in sessions:
            s.closed = True
            self.sessions.pop(s.id, None)
        for track in b.tracks():
            track.stop()
        await asyncio.gather(*(self._close_pc(s.pc) for s in sessions))

    def end_room(self, room_id: str, reason: str = "the room ended") -> None:
        """Stop the room's broadcast now; its connections close in the background."""
        b = self.rooms.pop(room_id, None)
        if b is not None:
            self._release(room_id)
            if b.session is not None:
                b.session.closed = True  # not publishing from here on
            self._spawn(self._end_broadcast(b, reason))

    async def close(self) -> None:
        await asyncio.gather(*(self._end_broadcast(b, "shutdown")
                               for b in list(self.rooms.values())))
        await asyncio.gather(*(self.end_session(s, "shutdown")
                               for s in list(self.sessions.values())))
        if self._background:  # releases of worker records, closing connections
            await asyncio.wait(list(self._background), timeout=CLOSE_TIMEOUT_S)
        for task in list(self._background):
            task.cancel()

    # --- watching -------------------------------------------------------------

    async def sweep(self) -> None:
        """Drop dead connections and stalled publishers; sample ingest bitrate."""
        now = time.monotonic()
        for s in list(self.sessions.values()):
            state = s.pc.connectionState
            if state == "connected" and s.connected_at is None:
                s.connected_at = now
            if state in ("failed", "closed"):
                await self.end_session(s, f"connection {state}")
            elif s.connected_at is None and now - s.created_at > self.connect_timeout_s:
                await self.end_session(s, f"not connected within {self.connect_timeout_s:g} s")
        for b in list(self.rooms.values()):
            pub = b.session
            if pub is None or pub.closed or pub.connected_at is None:
                continue
            last = b.last_media_at() or pub.connected_at
            if now - last > self.stall_timeout_s:
                await self._end_broadcast(b, f"no media for {self.stall_timeout_s:g} s")
                continue
            with contextlib.suppress(Exception):
                report = await pub.pc.getStats()
                rx = sum(int(getattr(st, "bytesReceived", 0)) for st in report.values()
                         if getattr(st, "type", "") == "transport")
                b.rx_samples.append((now, rx))

        if self.owners is not None and self.rooms:
            try:
                await self.owners.refresh(list(self.rooms))
            except Exception:
                log.warning("cannot refresh the broadcasts' worker records", exc_info=True)

    async def run(self, interval_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("video sweep failed")

    def health(self, room_id: str) -> dict[str, Any]:
        b = self.rooms.get(room_id)
        if b is None or not b.ready:
            return {"publishing": False, "width": None, "height": None, "fps": 0.0,
                    "bitrate_kbps": 0, "viewers": 0}
        v = b.video
        return {"publishing": True,
                "width": v.width if v else None, "height": v.height if v else None,
                "fps": v.fps() if v else 0.0, "bitrate_kbps": b.bitrate_kbps(),
                "viewers": len(b.viewers)}
