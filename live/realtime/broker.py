"""The broker interface: one ordered event stream per room, plus the room's
live counters (presence and likes) that every worker must agree on.

`publish` assigns `seq` in one atomic step (increment, append to a bounded
history, fan out), so every worker sees one order. `memory.py` serves one
process; `redis.py` several workers. One shared test suite runs against both
(`tests/test_broker.py`).

Counters are exact (no HyperLogLog, no sampling): presence is a per-room map
user -> open connections, likes a per-room integer seeded from the database.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Envelope:
    """An event as the wire carries it: `{seq, type, ts, data}` in a room."""

    room_id: str
    seq: int
    type: str
    ts: str
    data: dict[str, Any]
    state_key: str | None = None  # set for state events (coalesced to the newest)

    def wire(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "ts": self.ts, "data": self.data}


Listener = Callable[[Envelope], None]
Item = tuple[str, dict[str, Any], str | None]  # (type, data, state_key)


class Broker(ABC):
    # Bumped when the broker loses its connection; a presence added in an older
    # generation may be gone with the broker's data (see `on_data_lost`).
    generation: int = 0
    # Called (once per loss) when the broker came back without its data (Redis
    # restarted or flushed): each worker then re-adds the presence of its own
    # connections counted before the loss.
    on_data_lost: Callable[[int], Awaitable[None]] | None = None

    @abstractmethod
    async def start(self) -> None: ...

    async def keep_alive(self) -> None:
        """Periodic: whatever lets the broker tell a lost connection from lost data."""
        return None

    @abstractmethod
    async def close(self) -> None: ...

    # --- the ordered stream -----------------------------------------------------

    @abstractmethod
    async def publish(self, room_id: str, items: Sequence[Item]) -> list[Envelope]:
        """Append (type, data, state_key) items to the room's stream, in order."""

    @abstractmethod
    async def last_seq(self, room_id: str) -> int: ...

    @abstractmethod
    async def since(self, room_id: str, last_seq: int) -> list[Envelope] | None:
        """Events after `last_seq`, or None when history no longer reaches back
        (or `last_seq` is ahead of the room)."""

    @abstractmethod
    async def listen(self, room_id: str, listener: Listener) -> None:
        """Deliver this room's envelopes to `listener` on this worker, in seq
        order. Once this returns, every event published later is delivered."""

    @abstractmethod
    async def unlisten(self, room_id: str, listener: Listener) -> None: ...

    # --- presence: distinct users connected to a room (all workers) -------------

    @abstractmethod
    async def presence_add(self, room_id: str, user_id: str) -> int:
        """One more connection of `user_id`; returns the distinct user count."""

    @abstractmethod
    async def presence_remove(self, room_id: str, user_id: str) -> int:
        """One connection fewer; returns the distinct user count."""

    @abstractmethod
    async def presence_count(self, room_id: str) -> int: ...

    @abstractmethod
    async def presence_peak(self, room_id: str) -> int:
        """The highest distinct count seen since the broker's data began."""

    # --- likes: an exact counter -------------------------------------------------

    @abstractmethod
    async def add_likes(self, room_id: str, count: int, *, base: int) -> int:
        """Add `count`; `base` seeds a counter this broker has not seen (the
        total persisted in the database). Returns the new total."""

    @abstractmethod
    async def likes(self, room_id: str) -> int | None:
        """The live total, or None if this broker holds no counter for the room."""
