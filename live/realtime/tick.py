"""Room ticks: coalesce what happens in a room into one frame, encoded once.

One `RoomFanout` per room with members on this worker. The broker delivers the
room's envelopes (in seq order) to `on_envelope`, which only appends and wakes
the room's tick task. The tick sends at once when the room has been quiet, then
at most once per `tick_s` while events keep coming: every frame is encoded once
(one Socket.IO packet, one Engine.IO packet, one websocket frame) and written
to every member's socket in one loop (`wire.py`). A quiet room's task
sleeps on an `asyncio.Event`: it costs nothing per tick; a room without members
stops its task and unsubscribes.

Live frames never skip a seq. State events (`likes`, `viewers`, `stock`) are
coalesced *before* they get a seq (`StatePublisher`: newest per state key per
tick), so frames stay consecutive and still carry at most one of each per tick.

Join race: a joining connection subscribes (`prepare`) before the snapshot
reads `seq` = S, and is attached with `after_seq = S`. Envelopes ≤ S still in
flight are filtered out for it; envelopes in (S, already flushed] are sent to
it alone (catch-up) before its first shared frame. So its first live event is
S + 1 and nothing is lost or duplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from live.realtime.broker import Broker, Envelope, Item

if TYPE_CHECKING:
    from live.metrics import Metrics

log = logging.getLogger("live.realtime.tick")

TICK_S = 0.1
SENT_LOG = 2048  # envelopes a room remembers after sending, for joiners' catch-up

# (room_id, envelopes) -> the encoded frame sender, provided by the transport
Sender = Callable[[str, list[tuple[str, Any]]], Awaitable[None]]


def frame_payload(room_id: str, events: list[Envelope]) -> dict[str, Any]:
    return {"room_id": room_id, "events": [e.wire() for e in events]}


def collapse(events: list[Envelope]) -> list[Envelope]:
    """Keep only the newest state event per state key (replay may omit superseded ones)."""
    newest: dict[str, int] = {}
    for e in events:
        if e.state_key is not None:
            newest[e.type + "\x00" + e.state_key] = e.seq
    return [e for e in events
            if e.state_key is None or newest[e.type + "\x00" + e.state_key] == e.seq]


@dataclass
class Member:
    sid: str
    eio_sid: str
    user_id: str
    after_seq: int  # the snapshot seq: this member wants only envelopes after it
    catchup_upto: int | None = None  # flushed before it joined: sent to it alone first


@dataclass
class RoomFanout:
    room_id: str
    members: dict[str, Member] = field(default_factory=dict)
    buffer: list[Envelope] = field(default_factory=list)
    sent_log: deque[Envelope] = field(default_factory=lambda: deque(maxlen=SENT_LOG))
    flushed_max: int = 0
    joining: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    status: str | None = None  # last `status` event seen (the transports' cache)
    frames: int = 0
    stopped: bool = False
    # loop times for the tick-lag metric: when the buffer's first envelope came,
    # and when the last frame went out
    first_at: float | None = None
    flushed_at: float = 0.0

    def on_envelope(self, env: Envelope) -> None:
        if not self.buffer:
            self.first_at = asyncio.get_running_loop().time()
        self.buffer.append(env)
        if env.type == "status":
            self.status = env.data.get("status")
        self.wake.set()


class Transport:
    """What the tick needs from Socket.IO (kept apart so the tick is testable)."""

    def encode(self, payload: dict[str, Any]) -> Any:  # -> a packet sent to many
        raise NotImplementedError

    async def send(self, eio_sid: str, packet: Any) -> None:
        raise NotImplementedError

    async def send_many(self, eio_sids: list[str], packet: Any) -> None:
        for eio_sid in eio_sids:
            await self.send(eio_sid, packet)

    async def kick(self, sid: str) -> None:
        raise NotImplementedError


class Fanout:
    """Every room with members on this worker, and their ticks."""

    def __init__(self, broker: Broker, transport: Transport, tick_s: float = TICK_S,
                 metrics: Metrics | None = None) -> None:
        self.broker = broker
        self.transport = transport
        self.tick_s = tick_s
        self.metrics = metrics
        self.rooms: dict[str, RoomFanout] = {}
        self.state = StatePublisher(broker, tick_s, metrics)
        self.closed = False

    def _count_rooms(self) -> None:
        if self.metrics is not None:
            self.metrics.rooms_active.set(len(self.rooms))

    async def start(self) -> None:
        self.state.start()

    async def close(self) -> None:
        self.closed = True
        for rf in list(self.rooms.values()):
            await self._stop(rf)
        await self.state.close()

    # --- membership -----------------------------------------------------------

    async def prepare(self, room_id: str) -> RoomFanout:
        """Subscribe to the room (once per worker) before a joiner reads its snapshot."""
        rf = self.rooms.get(room_id)
        if rf is None:
            rf = RoomFanout(room_id)
            self.rooms[room_id] = rf
            self._count_rooms()
            rf.joining += 1
            try:
                await self.broker.listen(room_id, rf.on_envelope)
                rf.flushed_max = await self.broker.last_seq(room_id)
                # envelopes that raced the read are at or below flushed_max
                rf.buffer = [e for e in rf.buffer if e.seq > rf.flushed_max]
            except BaseException:
                rf.joining -= 1
                self.rooms.pop(room_id, None)
                self._count_rooms()
                with contextlib.suppress(Exception):
                    await self.broker.unlisten(room_id, rf.on_envelope)
                raise
            rf.ready.set()
            rf.task = asyncio.create_task(self._run(rf), name=f"tick:{room_id}")
            return rf
        rf.joining += 1
        await rf.ready.wait()
        return rf

    def attach(self, rf: RoomFanout, *, sid: str, eio_sid: str, user_id: str,
               after_seq: int) -> None:
        """Synchronous on purpose: nothing runs between the join's ack and this."""
        rf.joining -= 1
        member = Member(sid, eio_sid, user_id, after_seq)
        if rf.flushed_max > after_seq:
            member.catchup_upto = rf.flushed_max
            rf.wake.set()
        rf.members[sid] = member

    async def abandon(self, rf: RoomFanout) -> None:
        rf.joining -= 1
        await self._maybe_stop(rf)

    async def detach(self, room_id: str, sid: str) -> None:
        rf = self.rooms.get(room_id)
        if rf is None:
            return
        rf.members.pop(sid, None)
        await self._maybe_stop(rf)

    async def _maybe_stop(self, rf: RoomFanout) -> None:
        if not rf.members and rf.joining <= 0 and self.rooms.get(rf.room_id) is rf:
            await self._stop(rf)

    async def _stop(self, rf: RoomFanout) -> None:
        rf.stopped = True
        rf.wake.set()
        self.rooms.pop(rf.room_id, None)
        self._count_rooms()
        if rf.task is not None and rf.task is not asyncio.current_task():
            rf.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rf.task
        with contextlib.suppress(Exception):
            await self.broker.unlisten(rf.room_id, rf.on_envelope)

    def status_of(self, room_id: str) -> str | None:
        rf = self.rooms.get(room_id)
        return rf.status if rf else None

    # --- the tick -------------------------------------------------------------

    async def _run(self, rf: RoomFanout) -> None:
        while True:
            await rf.wake.wait()
            rf.wake.clear()
            if rf.stopped:
                return
            try:
                await self.flush(rf)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("tick failed room_id=%s", rf.room_id)
            await asyncio.sleep(self.tick_s)  # the coalescing window

    def _observe_lag(self, rf: RoomFanout) -> None:
        """Tick lag: how late this flush runs after it was due. It was due when the
        first buffered envelope arrived, or one tick after the previous frame if
        that is later (the coalescing window is by design, not lag). Lag grows
        when the event loop is overloaded."""
        if self.metrics is None or rf.first_at is None:
            return
        now = asyncio.get_running_loop().time()
        due = max(rf.first_at, rf.flushed_at + self.tick_s)
        self.metrics.tick_lag.observe(max(0.0, now - due))

    async def flush(self, rf: RoomFanout) -> None:
        self._observe_lag(rf)
        rf.first_at = None
        events, rf.buffer = rf.buffer, []
        events = [e for e in events if e.seq > rf.flushed_max]
        if events and (events[0].seq != rf.flushed_max + 1
                       or events[-1].seq - events[0].seq + 1 != len(events)):
            events = await self._fill_gap(rf, events)
        for member in list(rf.members.values()):
            if member.catchup_upto is not None:
                await self._catch_up(rf, member)
        if not events:
            return
        transport = self.transport
        packet = transport.encode(frame_payload(rf.room_id, events))
        first = events[0].seq
        members = list(rf.members.values())
        # Flushed before it is sent: sending yields to the loop now and then, and
        # a member attached meanwhile (not in `members`) gets it as catch-up.
        rf.sent_log.extend(events)
        rf.flushed_max = events[-1].seq
        rf.frames += 1
        rf.flushed_at = asyncio.get_running_loop().time()
        if self.metrics is not None:
            self.metrics.frames.inc()
        await transport.send_many([m.eio_sid for m in members if m.after_seq < first], packet)
        for member in members:
            if member.after_seq >= first:  # joined mid-frame: only what follows its snapshot
                own = [e for e in events if e.seq > member.after_seq]
                if own:
                    await transport.send(member.eio_sid,
                                         transport.encode(frame_payload(rf.room_id, own)))
        for e in events:
            if e.type == "moderation" and e.data.get("action") == "ban":
                await self._kick(rf, str(e.data.get("user_id")))

    async def _fill_gap(self, rf: RoomFanout, events: list[Envelope]) -> list[Envelope]:
        """The subscription lost something (a Redis reconnect): refetch from history."""
        fetched = await self.broker.since(rf.room_id, rf.flushed_max)
        if fetched is None:
            log.warning("gap in room_id=%s after seq %s not in history; clients will rejoin",
                        rf.room_id, rf.flushed_max)
            return events
        top = max(events[-1].seq, fetched[-1].seq if fetched else 0)
        by_seq = {e.seq: e for e in fetched}
        by_seq.update((e.seq, e) for e in events)
        return [by_seq[s] for s in range(rf.flushed_max + 1, top + 1) if s in by_seq]

    async def _catch_up(self, rf: RoomFanout, member: Member) -> None:
        upto = member.catchup_upto or 0
        member.catchup_upto = None
        missed = [e for e in rf.sent_log if member.after_seq < e.seq <= upto]
        if len(missed) != upto - member.after_seq:
            fetched = await self.broker.since(rf.room_id, member.after_seq)
            if fetched is None:
                log.warning("catch-up for sid=%s room_id=%s not in history", member.sid,
                            rf.room_id)
                return
            missed = [e for e in fetched if e.seq <= upto]
        if missed:
            await self.transport.send(member.eio_sid,
                                      self.transport.encode(frame_payload(rf.room_id, missed)))

    async def _kick(self, rf: RoomFanout, user_id: str) -> None:
        for member in [m for m in rf.members.values() if m.user_id == user_id]:
            rf.members.pop(member.sid, None)
            with contextlib.suppress(Exception):
                await self.transport.kick(member.sid)


class StatePublisher:
    """State events wait here for at most one tick, newest per key, then get a seq.

    `likes` and `viewers` come from the broker's exact counters, read when the
    tick publishes (so the newest value wins across workers too); other state
    events (commerce's `stock`) are kept as given, newest per state key.
    """

    def __init__(self, broker: Broker, tick_s: float, metrics: Metrics | None = None) -> None:
        self.broker = broker
        self.tick_s = tick_s
        self.metrics = metrics
        self.pending: dict[str, dict[str, Item]] = {}
        self.likes: dict[str, int] = {}
        self.viewers: set[str] = set()
        self.touched: set[str] = set()  # rooms whose counters need persisting
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name="tick:state")

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        with contextlib.suppress(Exception):
            await self.flush()

    def put(self, room_id: str, item: Item) -> None:
        key = f"{item[0]}\x00{item[2] or ''}"
        self.pending.setdefault(room_id, {})[key] = item
        self.wake.set()

    def likes_changed(self, room_id: str, total: int) -> None:
        self.likes[room_id] = max(total, self.likes.get(room_id, 0))
        self.touched.add(room_id)
        self.wake.set()

    def viewers_changed(self, room_id: str) -> None:
        self.viewers.add(room_id)
        self.touched.add(room_id)
        self.wake.set()

    async def _run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("state tick failed")
            await asyncio.sleep(self.tick_s)

    async def flush(self) -> None:
        pending, self.pending = self.pending, {}
        likes, self.likes = self.likes, {}
        viewers, self.viewers = self.viewers, set()
        for room_id in set(pending) | set(likes) | viewers:
            items = list(pending.get(room_id, {}).values())
            if room_id in likes:
                current = await self.broker.likes(room_id)
                items.append(("likes", {"total": max(likes[room_id], current or 0)}, "likes"))
            if room_id in viewers:
                count = await self.broker.presence_count(room_id)
                items.append(("viewers", {"count": count}, "viewers"))
            try:
                await self.broker.publish(room_id, items)
            except Exception:
                log.exception("state publish failed room_id=%s", room_id)
                continue
            if self.metrics is not None:
                self.metrics.count_events(items)


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
