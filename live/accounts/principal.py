"""Who is calling: the one type every transport hands to services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["host", "leader", "viewer", "any"]
HOST: tuple[Role, ...] = ("host",)
LEADER: tuple[Role, ...] = ("leader",)
VIEWER: tuple[Role, ...] = ("viewer",)
ACCOUNT: tuple[Role, ...] = ("host", "leader")
ANY: Role = "any"
ANYONE: tuple[Role, ...] = ("any",)


@dataclass(frozen=True)
class Principal:
    role: Literal["host", "leader", "viewer"]
    id: str
    name: str  # account name or viewer nickname
    host_id: str | None  # hosts: themselves; leaders: the root of their chain; viewers: None
    parent_id: str | None = None

    @property
    def is_viewer(self) -> bool:
        return self.role == "viewer"
