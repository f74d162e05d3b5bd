"""The Redis broker: several workers (processes, machines) share every room.

- `seq` is assigned in one Lua script: INCR the room's counter, RPUSH the
  entry onto the room's bounded history (trimmed by count and by age), and
  PUBLISH it on the room's channel. Redis runs scripts one at a time, so every
  worker sees one order, and Pub/Sub delivers a channel's messages in order.
- Each worker has one Pub/Sub connection and one reader task; `listen`
  subscribes to a room's channel and returns once Redis confirmed it, so a
  joiner's snapshot `seq` read afterwards cannot miss an event.
- Entries are `<seq>:<ms>:<msgpack [type, ts, data, state_key]>`: msgpack
  between processes, JSON only at the edge.
- Presence is a hash user -> open connections (HINCRBY; a user at 0 is
  removed), so the distinct count is HLEN: exact, no HyperLogLog. Likes are an
  INCRBY counter seeded from the database total.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgpack

from live.clock import iso
from live.realtime.broker import Broker, Envelope, Item, Listener

log = logging.getLogger("live.realtime.redis")

# A room's counter that Redis does not have (a new room, or Redis restarted or
# flushed and lost it) starts at the Redis server's clock in microseconds, not
# at 0: every seq ever issued for the room is below it (unless a room averaged
# more than a million events a second), so seq never goes backwards for a
# client across a Redis loss. A client's `last_seq` from before the loss is
# then below the new history and its `join` gets `replay: null` (a resync by
# snapshot), never events of the new counter passed off as the ones it missed.
# A counter seeded by a read expires unless an event comes (unknown room ids
# leave nothing behind); the first publish makes it permanent.
_SEQ = """
local function seq_of(key)
  local v = redis.call('GET', key)
  if v then return tonumber(v) end
  local t = redis.call('TIME')
  v = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('SET', key, v, 'EX', 86400)
  return tonumber(v)
end
"""

_PUBLISH = _SEQ + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
seq_of(KEYS[1])
redis.call('PERSIST', KEYS[1])
local seqs = {}
for i = 5, #ARGV do
  local seq = redis.call('INCR', KEYS[1])
  -- '%.0f': Lua 5.1 would print a 16-digit number in exponent form
  local entry = string.format('%.0f', seq) .. ':' .. string.format('%.0f', now) .. ':' .. ARGV[i]
  redis.call('RPUSH', KEYS[2], entry)
  redis.call('PUBLISH', ARGV[1], entry)
  seqs[#seqs + 1] = seq
end
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
local cutoff = now - tonumber(ARGV[3])
while true do
  local head = redis.call('LINDEX', KEYS[2], 0)
  if not head then break end
  local ms = tonumber(string.match(head, '^%d+:(%d+):'))
  if ms >= cutoff then break end
  redis.call('LPOP', KEYS[2])
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return seqs
"""

_LAST_SEQ = _SEQ + """
return seq_of(KEYS[1])
"""

_SINCE = _SEQ + """
local current = seq_of(KEYS[1])
local last = tonumber(ARGV[1])
if last >= current then return {current, 'none'} end
local head = redis.call('LINDEX', KEYS[2], 0)
if not head then return {current, 'gone'} end
local first = tonumber(string.match(head, '^(%d+):'))
if first > last + 1 then return {current, 'gone'} end
return {current, 'ok', redis.call('LRANGE', KEYS[2], last + 1 - first, -1)}
"""

_PRESENCE_ADD = """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local count = redis.call('HLEN', KEYS[1])
local peak = tonumber(redis.call('GET', KEYS[2]) or '0')
if count > peak then redis.call('SET', KEYS[2], count) end
return count
"""

_PRESENCE_REMOVE = """
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return redis.call('HLEN', KEYS[1])
"""

_ADD_LIKES = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[2]) end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


MARK_TTL_S = 600  # refreshed every 10 s


class RedisBroker(Broker):
    def __init__(self, redis: Any, prefix: str, *, history_max: int = 1000,
                 history_max_age_s: float = 600.0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.history_max = history_max
        self.history_max_age_s = history_max_age_s
        self._publish = redis.register_script(_PUBLISH)
        self._since = redis.register_script(_SINCE)
        self._last_seq = redis.register_script(_LAST_SEQ)
        self._presence_add = redis.register_script(_PRESENCE_ADD)
        self._presence_remove = redis.register_script(_PRESENCE_REMOVE)
        self._add_likes = redis.register_script(_ADD_LIKES)
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._confirmed: dict[bytes, asyncio.Event] = {}
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # This worker's mark in Redis: gone after the connection broke means
        # Redis lost its data (restart, flush), not just the connection.
        self._mark = f"{prefix}broker:alive:{uuid.uuid4().hex}"
        self._restoring: asyncio.Task[None] | None = None

    def _key(self, room_id: str, what: str) -> str:
        return f"{self.prefix}room:{room_id}:{what}"

    def _channel(self, room_id: str) -> str:
        return f"{self.prefix}room:{room_id}"

    async def start(self) -> None:
        await self.keep_alive()
        self._pubsub = self.redis.pubsub()
        control = f"{self.prefix}broker".encode()
        self._confirmed[control] = asyncio.Event()
        await self._pubsub.subscribe(control)
        self._reader = asyncio.create_task(self._read(), name="broker:redis")
        await asyncio.wait_for(self._confirmed[control].wait(), 10)

    async def keep_alive(self) -> None:
        """Refresh this worker's mark (the counters job does, every second)."""
        await self.redis.set(self._mark, "1", ex=MARK_TTL_S)

    async def _restored(self, lost_generation: int) -> None:
        """The subscription is back after a break: did Redis keep its data?"""
        try:
            if await self.redis.exists(self._mark):
                return  # only the connection broke
            log.warning("redis lost its data; re-registering this worker's presence")
            await self.keep_alive()
            if self.on_data_lost is not None:
                await self.on_data_lost(lost_generation)
        except Exception:
            log.exception("restoring after a redis loss failed")

    async def close(self) -> None:
        if self._restoring is not None:
            self._restoring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._restoring
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None
        self._listeners.clear()

    # --- the ordered stream -------------------------------------------------------

    async def publish(self, room_id: str, items: Sequence[Item]) -> list[Envelope]:
        if not items:
            return []
        ts = iso(datetime.now(UTC)) or ""
        packed = [msgpack.packb([t, ts, data, key], use_bin_type=True)
                  for t, data, key in items]
        seqs = await self._publish(
            keys=[self._key(room_id, "seq"), self._key(room_id, "hist")],
            args=[self._channel(room_id), self.history_max,
                  int(self.history_max_age_s * 1000), int(self.history_max_age_s) + 1,
                  *packed])
        return [Envelope(room_id, int(seq), t, ts, data, key)
                for seq, (t, data, key) in zip(seqs, items, strict=True)]

    async def last_seq(self, room_id: str) -> int:
        return int(await self._last_seq(keys=[self._key(room_id, "seq")]))

    async def since(self, room_id: str, last_seq: int) -> list[Envelope] | None:
        if last_seq < 0:
            return None
        out = await self._since(keys=[self._key(room_id, "seq"), self._key(room_id, "hist")],
                                args=[last_seq])
        current, state = int(out[0]), out[1]
        state = state.decode() if isinstance(state, bytes) else state
        if state == "none":
            return [] if last_seq == current else None
        if state != "ok":
            return None
        cutoff_ms = (time.time() - self.history_max_age_s) * 1000
        envelopes = []
        for raw in out[2]:
            env, ms = self._decode(room_id, raw)
            if env.seq == last_seq + 1 and ms < cutoff_ms:
                return None  # older than the history keeps
            envelopes.append(env)
        return envelopes

    @staticmethod
    def _decode(room_id: str, raw: bytes) -> tuple[Envelope, int]:
        seq, ms, body = raw.split(b":", 2)
        type_, ts, data, key = msgpack.unpackb(body, raw=False)
        return Envelope(room_id, int(seq), type_, ts, data, key), int(ms)

    async def listen(self, room_id: str, listener: Listener) -> None:
        async with self._lock:
            listeners = self._listeners[room_id]
            listeners.append(listener)
            if len(listeners) > 1:
                return
            channel = self._channel(room_id).encode()
            confirmed = self._confirmed[channel] = asyncio.Event()
            try:
                await self._pubsub.subscribe(channel)
                await asyncio.wait_for(confirmed.wait(), 10)
            except BaseException:
                listeners.remove(listener)
                self._confirmed.pop(channel, None)
                raise

    async def unlisten(self, room_id: str, listener: Listener) -> None:
        async with self._lock:
            listeners = self._listeners.get(room_id)
            if not listeners or listener not in listeners:
                return
            listeners.remove(listener)
            if listeners:
                return
            del self._listeners[room_id]
            channel = self._channel(room_id).encode()
            self._confirmed.pop(channel, None)
            if self._pubsub is not None:
                await self._pubsub.unsubscribe(channel)

    async def _read(self) -> None:
        start = len(self.prefix) + len("room:")
        broken: int | None = None  # the generation the connection broke in
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if broken is None:
                    broken = self.generation
                    self.generation += 1  # presence added from now on is in the new Redis
                    log.warning("redis subscription lost (%s); reconnecting",
                                type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            if broken is not None:  # reconnected (and re-subscribed by redis-py)
                self._restoring = asyncio.create_task(self._restored(broken))
                broken = None
            if message is None:
                continue
            kind = message["type"]
            channel = message["channel"]
            if kind == "subscribe":
                event = self._confirmed.get(channel)
                if event is not None:
                    event.set()
                continue
            if kind != "message":
                continue
            room_id = channel[start:].decode()
            try:
                env, _ms = self._decode(room_id, message["data"])
            except Exception:
                log.exception("undecodable entry on %r", channel)
                continue
            for listener in list(self._listeners.get(room_id, ())):
                try:
                    listener(env)
                except Exception:
                    log.exception("listener failed room_id=%s", room_id)

    # --- presence ---------------------------------------------------------------------

    async def presence_add(self, room_id: str, user_id: str) -> int:
        return int(await self._presence_add(
            keys=[self._key(room_id, "presence"), self._key(room_id, "peak")], args=[user_id]))

    async def presence_remove(self, room_id: str, user_id: str) -> int:
        return int(await self._presence_remove(keys=[self._key(room_id, "presence")],
                                               args=[user_id]))

    async def presence_count(self, room_id: str) -> int:
        return int(await self.redis.hlen(self._key(room_id, "presence")))

    async def presence_peak(self, room_id: str) -> int:
        return int(await self.redis.get(self._key(room_id, "peak")) or 0)

    # --- likes -------------------------------------------------------------------------

    async def add_likes(self, room_id: str, count: int, *, base: int) -> int:
        return int(await self._add_likes(keys=[self._key(room_id, "likes")],
                                         args=[count, base]))

    async def likes(self, room_id: str) -> int | None:
        value = await self.redis.get(self._key(room_id, "likes"))
        return int(value) if value is not None else None
