"""The base of every domain event.

Actions return events; the transport publishes them after the commit. An
event knows its room and its wire `type`; `data()` is the wire payload. The
broker adds `seq` and `ts`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    room_id: str
    type: ClassVar[str] = ""
    # State events (likes, viewers, stock) are coalesced to the newest per key
    # within a tick and in replay; `state_key()` names what they supersede.
    state: ClassVar[bool] = False

    def data(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "room_id"}

    def state_key(self) -> str:
        return self.type
