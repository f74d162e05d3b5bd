"""The in-process broker: embedded mode and most tests."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Sequence
from datetime import UTC, datetime

from live.clock import iso
from live.realtime.broker import Broker, Envelope, Item, Listener

HISTORY_MAX = 1000
HISTORY_MAX_AGE_S = 600.0


class MemoryBroker(Broker):
    def __init__(self, history_max: int = HISTORY_MAX,
                 history_max_age_s: float = HISTORY_MAX_AGE_S) -> None:
        self._seq: dict[str, int] = defaultdict(int)
        self._history: dict[str, deque[tuple[float, Envelope]]] = defaultdict(deque)
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._presence: dict[str, dict[str, int]] = defaultdict(dict)
        self._peak: dict[str, int] = defaultdict(int)
        self._likes: dict[str, int] = {}
        self._max = history_max
        self._max_age = history_max_age_s

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._listeners.clear()

    async def publish(self, room_id: str, items: Sequence[Item]) -> list[Envelope]:
        # No await between increment and fan-out: atomic within the event loop.
        now = time.monotonic()
        ts = iso(datetime.now(UTC)) or ""
        out = []
        history = self._history[room_id]
        for type_, data, state_key in items:
            self._seq[room_id] += 1
            env = Envelope(room_id, self._seq[room_id], type_, ts, data, state_key)
            history.append((now, env))
            out.append(env)
        self._trim(history, now)
        for env in out:
            for listener in list(self._listeners.get(room_id, ())):
                listener(env)
        return out

    def _trim(self, history: deque[tuple[float, Envelope]], now: float) -> None:
        while len(history) > self._max or (history and now - history[0][0] > self._max_age):
            history.popleft()

    async def last_seq(self, room_id: str) -> int:
        return self._seq.get(room_id, 0)

    async def since(self, room_id: str, last_seq: int) -> list[Envelope] | None:
        current = self._seq.get(room_id, 0)
        if last_seq > current or last_seq < 0:
            return None
        if last_seq == current:
            return []
        history = self._history.get(room_id)
        if history:
            self._trim(history, time.monotonic())
        if not history or history[0][1].seq > last_seq + 1:
            return None
        return [env for _, env in history if env.seq > last_seq]

    async def listen(self, room_id: str, listener: Listener) -> None:
        self._listeners[room_id].append(listener)

    async def unlisten(self, room_id: str, listener: Listener) -> None:
        listeners = self._listeners.get(room_id)
        if listeners and listener in listeners:
            listeners.remove(listener)
            if not listeners:
                del self._listeners[room_id]

    async def presence_add(self, room_id: str, user_id: str) -> int:
        users = self._presence[room_id]
        users[user_id] = users.get(user_id, 0) + 1
        self._peak[room_id] = max(self._peak[room_id], len(users))
        return len(users)

    async def presence_remove(self, room_id: str, user_id: str) -> int:
        users = self._presence[room_id]
        left = users.get(user_id, 0) - 1
        if left > 0:
            users[user_id] = left
        else:
            users.pop(user_id, None)
        return len(users)

    async def presence_count(self, room_id: str) -> int:
        return len(self._presence.get(room_id, ()))

    async def presence_peak(self, room_id: str) -> int:
        return self._peak.get(room_id, 0)

    async def add_likes(self, room_id: str, count: int, *, base: int) -> int:
        total = self._likes.get(room_id, base) + count
        self._likes[room_id] = total
        return total

    async def likes(self, room_id: str) -> int | None:
        return self._likes.get(room_id)
