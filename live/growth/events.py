"""Room events of the growth tools; each carries its whole object as `data`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from live.events import Event


@dataclass(frozen=True)
class _Whole(Event):
    body: dict[str, Any]

    def data(self) -> dict[str, Any]:
        return dict(self.body)


@dataclass(frozen=True)
class CouponPushed(_Whole):
    type = "coupon"


@dataclass(frozen=True)
class GroupBuyOffered(_Whole):
    type = "group_buy"


@dataclass(frozen=True)
class GroupChanged(_Whole):
    type = "group"


@dataclass(frozen=True)
class DrawChanged(_Whole):
    type = "draw"
