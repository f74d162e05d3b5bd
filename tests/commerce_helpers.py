"""Shared steps for the commerce tests: a FakeClock app, flash sales and orders."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from tests.helpers import Actor, Api, Reply

PICKUP = {"kind": "pickup", "point": "阳光小区3号楼团长家"}
DELIVERY = {"kind": "delivery", "address": "上海市浦东新区世纪大道100号"}


async def flash(api: Api, host: Actor, room: dict[str, Any], product_id: str, *,
                quantity: int = 10, price_cents: int = 990, per_user_limit: int = 1,
                start_in_s: int = 0, duration_s: int = 600) -> dict[str, Any]:
    r = await api.post(f"/api/v1/rooms/{room['id']}/flash-sales", {
        "product_id": product_id, "price_cents": price_cents, "quantity": quantity,
        "per_user_limit": per_user_limit, "start_in_s": start_in_s,
        "duration_s": duration_s}, token=host.token)
    assert r.status == 201, r.body
    return dict(r.body)


async def order(api: Api, viewer: Actor, room_id: str, items: list[tuple[str, int]] | None,
                *, key: str | None = None, fulfilment: dict[str, Any] | None = None,
                **extra: Any) -> Reply:
    body: dict[str, Any] = {"room_id": room_id, "fulfilment": fulfilment or PICKUP, **extra}
    if items is not None:
        body["items"] = [{"product_id": p, "quantity": q} for p, q in items]
    return await api.post("/api/v1/orders", body, token=viewer.token,
                          headers={"Idempotency-Key": key or secrets.token_hex(8)})


async def product_stock(api: Api, product_id: str) -> int:
    return int((await api.get(f"/api/v1/products/{product_id}"))["stock"])


async def sale(api: Api, sale_id: str) -> dict[str, Any]:
    return dict((await api.get(f"/api/v1/flash-sales/{sale_id}")).body)


async def run_jobs(app: web.Application) -> None:
    from live import keys

    await app[keys.JOBS].run_all(app)
