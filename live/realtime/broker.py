"""The broker interface: one ordered event stream per room.

`publish` assigns `seq` in one atomic step (increment, append to a bounded
history, fan out), so every worker sees one order. `memory.py` serves one
process; `redis.py` several workers. One shared test suite runs against both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
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


class Broker(ABC):
    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def publish(self, room_id: str,
                      items: Sequence[tuple[str, dict[str, Any], str | None]]) -> list[Envelope]:
        """Append (type, data, state_key) items to the room's stream, in order."""

    @abstractmethod
    async def last_seq(self, room_id: str) -> int: ...

    @abstractmethod
    async def since(self, room_id: str, last_seq: int) -> list[Envelope] | None:
        """Events after `last_seq`, or None when history no longer reaches back."""

    @abstractmethod
    def listen(self, room_id: str, listener: Listener) -> None:
        """Deliver this room's envelopes to `listener` on this worker."""

    @abstractmethod
    def unlisten(self, room_id: str, listener: Listener) -> None: ...
