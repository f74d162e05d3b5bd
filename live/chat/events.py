from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from live.events import Event


@dataclass(frozen=True)
class ChatPosted(Event):
    type = "chat"
    id: str
    user: dict[str, Any]
    text: str


@dataclass(frozen=True)
class ChatDeleted(Event):
    type = "chat_deleted"
    id: str


@dataclass(frozen=True)
class ModerationChanged(Event):
    """`{action, user_id, seconds?}`; slow mode: `{action, seconds}`. Never the words."""

    type = "moderation"
    action: str
    user_id: str | None = None
    seconds: int | None = None

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action}
        if self.user_id is not None:
            out["user_id"] = self.user_id
        if self.seconds is not None or self.action == "slow_mode":
            out["seconds"] = self.seconds
        return out
