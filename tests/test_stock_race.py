"""Never oversold: 200 concurrent buyers on 20 units, with and without the Redis gate."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from live import keys
from live.app import create_app
from live.settings import Settings
from tests.commerce_helpers import flash, order, product_stock, sale
from tests.helpers import Api

BUYERS = 200
UNITS = 20


async def _race(api: Api, *, gated: bool, app: web.Application) -> None:
    assert (app[keys.STOCK_GATE] is not None) == gated
    host = await api.host()
    room = await api.room(host, products=1, stock=100)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=UNITS)
    viewers = await asyncio.gather(*(api.viewer() for _ in range(BUYERS)))
    replies = await asyncio.gather(*(order(api, v, room["id"], [(pid, 1)]) for v in viewers))
    statuses = sorted(r.status for r in replies)
    assert statuses.count(201) == UNITS, statuses
    assert all(r.code == "sold_out" for r in replies if r.status != 201)
    assert (await sale(api, s["id"]))["remaining"] == 0
    assert await product_stock(api, pid) == 100 - UNITS
    host_orders = (await api.get(f"/api/v1/orders?room_id={room['id']}",
                                 token=host.token))["orders"]
    assert len(host_orders) == UNITS


async def test_200_concurrent_buyers_on_20_units_make_20_orders(
        make_settings: Callable[..., Settings], aiohttp_client: Any) -> None:
    app = create_app(make_settings())
    await _race(Api(await aiohttp_client(app)), gated=False, app=app)


@pytest.mark.usefixtures("redis_cleanup")
async def test_200_concurrent_buyers_on_20_units_with_the_redis_gate(
        make_settings: Callable[..., Settings], aiohttp_client: Any, redis_url: str,
        redis_prefix: str) -> None:
    app = create_app(make_settings(redis_url=redis_url, redis_prefix=redis_prefix))
    await _race(Api(await aiohttp_client(app)), gated=True, app=app)


async def test_free_stock_race_makes_exactly_the_stock_in_orders(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=10)
    pid = room["shelf"][0]["id"]
    viewers = await asyncio.gather(*(api.viewer() for _ in range(60)))
    replies = await asyncio.gather(*(order(api, v, room["id"], [(pid, 1)]) for v in viewers))
    assert sum(r.status == 201 for r in replies) == 10
    assert await product_stock(api, pid) == 0


async def test_one_viewer_racing_itself_keeps_the_per_user_limit(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=100)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=50, per_user_limit=2)
    viewer = await api.viewer()
    replies = await asyncio.gather(*(order(api, viewer, room["id"], [(pid, 1)])
                                     for _ in range(20)))
    assert sum(r.status == 201 for r in replies) == 2
    assert all(r.code == "limit_exceeded" for r in replies if r.status != 201)
    assert (await sale(api, s["id"]))["remaining"] == 48
