"""Production mode: the Redis stock gate in front of the database ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from live import keys
from live.app import create_app
from live.settings import Settings
from tests.commerce_helpers import flash, order, product_stock, sale
from tests.helpers import Api

pytestmark = pytest.mark.usefixtures("redis_cleanup")


@pytest.fixture
async def gated(make_settings: Callable[..., Settings], aiohttp_client: Any, redis_url: str,
                redis_prefix: str) -> tuple[Api, web.Application]:
    app = create_app(make_settings(redis_url=redis_url, redis_prefix=redis_prefix))
    return Api(await aiohttp_client(app)), app


async def gate_remaining(app: web.Application, sale_id: str) -> int | None:
    gate = app[keys.STOCK_GATE]
    assert gate is not None
    value = await app[keys.REDIS].get(gate.keys_of(sale_id)[0])
    return None if value is None else int(value)


async def flush_prefix(redis_url: str, prefix: str) -> int:
    """What a Redis restart does to our keys, without touching anyone else's."""
    client = aioredis.from_url(redis_url)
    n = 0
    try:
        async for key in client.scan_iter(match=f"{prefix}*", count=500):
            n += await client.delete(key)
    finally:
        await client.aclose()
    return n


async def test_gate_follows_orders_cancels_and_replays(gated: tuple[Api, web.Application]
                                                       ) -> None:
    api, app = gated
    host = await api.host()
    room = await api.room(host, products=1, stock=20)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=5, per_user_limit=2)
    assert await gate_remaining(app, s["id"]) == 5
    viewer = await api.viewer()
    first = await order(api, viewer, room["id"], [(pid, 2)], key="a")
    assert first.status == 201
    replay = await order(api, viewer, room["id"], [(pid, 2)], key="a")
    assert replay.body == first.body
    assert await gate_remaining(app, s["id"]) == 3
    over = await order(api, viewer, room["id"], [(pid, 1)])
    assert over.status == 422 and over.code == "limit_exceeded"
    assert await gate_remaining(app, s["id"]) == 3
    await api.post(f"/api/v1/orders/{first['id']}/cancel", token=viewer.token)
    assert await gate_remaining(app, s["id"]) == 5
    assert (await order(api, viewer, room["id"], [(pid, 2)])).status == 201
    # a refusal the database makes (room not live) gives the gate its units back
    end = await api.post(f"/api/v1/rooms/{room['id']}/status", {"status": "ended"},
                         token=host.token)
    assert end.status == 200
    assert (await sale(api, s["id"]))["status"] == "ended"


async def test_the_gates_sold_out_is_answered_from_reads_and_stored(
        gated: tuple[Api, web.Application]) -> None:
    api, app = gated
    host = await api.host()
    room = await api.room(host, products=1, stock=20)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=1, per_user_limit=1)
    winner, late = await api.viewer(), await api.viewer()
    won = await order(api, winner, room["id"], [(pid, 1)])
    assert won.status == 201 and await gate_remaining(app, s["id"]) == 0
    refused = await order(api, late, room["id"], [(pid, 1)], key="k")
    assert refused.status == 409 and refused.code == "sold_out"
    assert await gate_remaining(app, s["id"]) == 0
    limited = await order(api, winner, room["id"], [(pid, 1)])
    assert limited.status == 422 and limited.code == "limit_exceeded"  # before stock
    await api.post(f"/api/v1/orders/{won['id']}/cancel", token=winner.token)
    assert await gate_remaining(app, s["id"]) == 1
    again = await order(api, late, room["id"], [(pid, 1)], key="k")
    assert (again.status, again.body) == (refused.status, refused.body)
    assert await gate_remaining(app, s["id"]) == 1  # the replay took nothing
    assert (await order(api, late, room["id"], [(pid, 1)])).status == 201


async def test_redis_flushed_mid_sale_never_oversells(
        gated: tuple[Api, web.Application], redis_url: str, redis_prefix: str) -> None:
    api, app = gated
    host = await api.host()
    room = await api.room(host, products=1, stock=100)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=15, per_user_limit=1)
    viewers = await asyncio.gather(*(api.viewer() for _ in range(60)))

    async def flusher() -> None:
        for _ in range(5):
            await asyncio.sleep(0.05)
            await flush_prefix(redis_url, redis_prefix)

    buys = asyncio.gather(*(order(api, v, room["id"], [(pid, 1)]) for v in viewers))
    replies, _ = await asyncio.gather(buys, flusher())
    assert sum(r.status == 201 for r in replies) == 15
    assert all(r.code == "sold_out" for r in replies if r.status != 201)
    assert (await sale(api, s["id"]))["remaining"] == 0
    assert await product_stock(api, pid) == 85
    # the same viewers again: the limit holds after the gate was rebuilt
    again = await asyncio.gather(*(order(api, v, room["id"], [(pid, 1)]) for v in viewers[:30]))
    assert not any(r.status == 201 for r in again)
    await flush_prefix(redis_url, redis_prefix)
    winner = next(v for v, r in zip(viewers, replies, strict=True) if r.status == 201)
    r = await order(api, winner, room["id"], [(pid, 1)])
    assert r.code == "limit_exceeded"  # rebuilt from the database's buyers
    assert await gate_remaining(app, s["id"]) == 0


async def test_gate_is_reconciled_from_the_database_at_start_up(
        make_settings: Callable[..., Settings], aiohttp_client: Any, redis_url: str,
        redis_prefix: str) -> None:
    settings = make_settings(redis_url=redis_url, redis_prefix=redis_prefix)
    app = create_app(settings)
    api = Api(await aiohttp_client(app))
    host = await api.host()
    room = await api.room(host, products=1, stock=10)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=6, per_user_limit=3)
    viewer = await api.viewer()
    assert (await order(api, viewer, room["id"], [(pid, 2)])).status == 201
    gate = app[keys.STOCK_GATE]
    assert gate is not None
    # Redis lost a write: the gate says more than the ledger
    await app[keys.REDIS].set(gate.keys_of(s["id"])[0], 99)
    app2 = create_app(settings)
    api2 = Api(await aiohttp_client(app2))
    assert await gate_remaining(app2, s["id"]) == 4
    r = await order(api2, viewer, room["id"], [(pid, 2)])
    assert r.status == 422 and r.code == "limit_exceeded"


async def test_a_buyer_the_lane_refuses_after_the_gate_let_them_by_gets_the_unit_back(
        gated: tuple[Api, web.Application]) -> None:
    """The gate more generous than the database (a reload racing an order, a
    flush): the flash lane finds the sale short, shares out what is left and
    refuses the rest `sold_out` — and the gate gets their units and holds back,
    so a unit that comes back later can be bought by them."""
    api, app = gated
    host = await api.host()
    room = await api.room(host, products=1, stock=20)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=1, per_user_limit=1)
    gate = app[keys.STOCK_GATE]
    assert gate is not None
    remaining_key, buyers_key = gate.keys_of(s["id"])
    winner, late = await api.viewer(), await api.viewer()
    won = await order(api, winner, room["id"], [(pid, 1)])
    assert won.status == 201
    await app[keys.REDIS].incrby(remaining_key, 1)  # one unit the database does not have
    refused = await order(api, late, room["id"], [(pid, 1)])
    assert refused.status == 409 and refused.code == "sold_out"
    assert await app[keys.REDIS].hget(buyers_key, late.id) is None
    assert await gate_remaining(app, s["id"]) == 1
    r = await api.post(f"/api/v1/orders/{won['id']}/cancel", token=winner.token)
    assert r.status == 200
    assert (await order(api, late, room["id"], [(pid, 1)])).status == 201
