"""Room events of commerce: flash sales, stock and purchases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from live.events import Event


@dataclass(frozen=True)
class FlashChanged(Event):
    """A flash sale, whole: on schedule, start and end."""

    type = "flash"
    flash_sale: dict[str, Any]

    def data(self) -> dict[str, Any]:
        return dict(self.flash_sale)


@dataclass(frozen=True)
class StockChanged(Event):
    """Units left: a sale's `remaining`, or free stock when `flash_sale_id` is None.
    State: a tick or replay keeps only the newest per product and sale."""

    type = "stock"
    state = True
    product_id: str
    flash_sale_id: str | None
    remaining: int

    def state_key(self) -> str:
        return f"stock:{self.product_id}:{self.flash_sale_id or ''}"


@dataclass(frozen=True)
class PurchaseMade(Event):
    """One item of a paid order, for the room's "小*刚刚下单" toast."""

    type = "purchase"
    nickname: str
    product_title: str
    quantity: int


def mask_nickname(nickname: str) -> str:
    """Only the first character shows: 小明 → 小*."""
    return (nickname[:1] or "*") + "*"
