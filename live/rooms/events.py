from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from live.events import Event


@dataclass(frozen=True)
class ShelfChanged(Event):
    type = "shelf"
    products: list[dict[str, Any]]


@dataclass(frozen=True)
class PinChanged(Event):
    type = "pin"
    product: dict[str, Any] | None


@dataclass(frozen=True)
class StatusChanged(Event):
    type = "status"
    status: str
