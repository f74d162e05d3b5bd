"""Flash sales: reservation, one per product, start and end on time, units back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from live.app import create_app
from live.clock import FakeClock
from live.settings import Settings
from tests.commerce_helpers import flash, order, product_stock, run_jobs, sale
from tests.helpers import Api


@pytest.fixture
async def timed(make_settings: Callable[..., Settings], clock: FakeClock,
                aiohttp_client: Any) -> tuple[Api, web.Application]:
    app = create_app(make_settings(), clock=clock, run_timers=False)
    return Api(await aiohttp_client(app)), app


async def test_flash_sale_reserves_units_and_starts_and_ends_on_time(
        timed: tuple[Api, web.Application], clock: FakeClock) -> None:
    api, app = timed
    host = await api.host()
    room = await api.room(host, products=1, stock=50, price_cents=2990)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=20, start_in_s=30, duration_s=60)
    assert s["status"] == "scheduled" and s["remaining"] == 20 and s["quantity"] == 20
    assert s["starts_at"] == "2026-11-24T12:00:30.000Z"
    assert s["ends_at"] == "2026-11-24T12:01:30.000Z"
    assert await product_stock(api, pid) == 30
    snap = await api.get(f"/api/v1/rooms/{room['id']}")
    assert [f["id"] for f in snap["flash_sales"]] == [s["id"]]

    clock.advance(29.9)
    await run_jobs(app)
    assert (await sale(api, s["id"]))["status"] == "scheduled"
    clock.advance(0.1)
    await run_jobs(app)
    assert (await sale(api, s["id"]))["status"] == "running"

    viewer = await api.viewer()
    r = await order(api, viewer, room["id"], [(pid, 1)])
    assert r.status == 201 and r["items"][0]["unit_price_cents"] == 990
    assert r["items"][0]["flash_sale_id"] == s["id"]

    clock.advance(59.9)
    await run_jobs(app)
    assert (await sale(api, s["id"]))["status"] == "running"
    clock.advance(0.1)
    await run_jobs(app)
    ended = await sale(api, s["id"])
    assert ended["status"] == "ended" and ended["remaining"] == 19
    assert await product_stock(api, pid) == 30 + 19
    snap = await api.get(f"/api/v1/rooms/{room['id']}")
    assert snap["flash_sales"] == []
    # after the sale, the product sells at its own price from free stock
    r = await order(api, await api.viewer(), room["id"], [(pid, 1)])
    assert r["items"][0]["unit_price_cents"] == 2990 and r["items"][0]["flash_sale_id"] is None


async def test_start_in_zero_runs_at_once(timed: tuple[Api, web.Application]) -> None:
    api, _app = timed
    host = await api.host()
    room = await api.room(host, products=1)
    s = await flash(api, host, room, room["shelf"][0]["id"], start_in_s=0)
    assert s["status"] == "running"


async def test_sweeper_is_idempotent(timed: tuple[Api, web.Application],
                                     clock: FakeClock) -> None:
    api, app = timed
    host = await api.host()
    room = await api.room(host, products=1, stock=10)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=4, start_in_s=1, duration_s=1)
    clock.advance(5)
    await run_jobs(app)
    await run_jobs(app)
    assert (await sale(api, s["id"]))["status"] == "ended"
    assert await product_stock(api, pid) == 10


async def test_more_than_free_stock_is_sold_out_and_second_sale_conflicts(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=5)
    pid = room["shelf"][0]["id"]
    path = f"/api/v1/rooms/{room['id']}/flash-sales"
    body = {"product_id": pid, "price_cents": 100, "quantity": 6, "start_in_s": 0,
            "duration_s": 60}
    r = await api.post(path, body, token=host.token)
    assert r.status == 409 and r.code == "sold_out"
    r = await api.post(path, {**body, "quantity": 5}, token=host.token)
    assert r.status == 201
    r = await api.post(path, {**body, "quantity": 0}, token=host.token)
    assert r.status == 422
    r = await api.post(path, {**body, "quantity": 1}, token=host.token)
    assert r.status == 409 and r.code == "conflict"
    # after it ends another may be made
    end = await api.post(f"/api/v1/flash-sales/{await _first(api, room)}/end",
                         token=host.token)
    assert end.status == 200 and end["status"] == "ended"
    assert (await api.post(f"/api/v1/flash-sales/{end['id']}/end",
                           token=host.token)).code == "conflict"
    r = await api.post(path, {**body, "quantity": 5}, token=host.token)
    assert r.status == 201


async def _first(api: Api, room: dict[str, Any]) -> str:
    snap = await api.get(f"/api/v1/rooms/{room['id']}")
    return str(snap["flash_sales"][0]["id"])


async def test_flash_sale_validation_and_authorization(api: Api) -> None:
    host, other = await api.host(), await api.host()
    viewer = await api.viewer()
    room = await api.room(host, products=1)
    pid = room["shelf"][0]["id"]
    off_shelf = await api.product(host)
    path = f"/api/v1/rooms/{room['id']}/flash-sales"
    body = {"product_id": pid, "price_cents": 100, "quantity": 1, "start_in_s": 0,
            "duration_s": 60}
    assert (await api.post(path, body)).status == 401
    assert (await api.post(path, body, token=viewer.token)).status == 403
    assert (await api.post(path, body, token=other.token)).status == 403
    assert (await api.post("/api/v1/rooms/nope/flash-sales", body,
                           token=host.token)).status == 404
    r = await api.post(path, {**body, "product_id": off_shelf["id"]}, token=host.token)
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "product_id"
    for bad in ({"price_cents": "9"}, {"quantity": 1.5}, {"per_user_limit": 0},
                {"duration_s": 0}, {"start_in_s": -1},
                {"starts_at": "2026-11-24T12:00:00Z"}):
        r = await api.post(path, {**body, **bad}, token=host.token)
        assert r.status == 422 and r.code == "invalid", bad
    s = await flash(api, host, room, pid, quantity=1)
    assert (await api.post(f"/api/v1/flash-sales/{s['id']}/end",
                           token=other.token)).status == 403
    assert (await api.post("/api/v1/flash-sales/nope/end", token=host.token)).status == 404
    assert (await api.get("/api/v1/flash-sales/nope")).status == 404
    assert (await api.get(f"/api/v1/flash-sales/{s['id']}")).body == s


async def test_ending_the_room_ends_its_sales(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=10)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=7)
    r = await api.post(f"/api/v1/rooms/{room['id']}/status", {"status": "ended"},
                       token=host.token)
    assert r.status == 200 and r["flash_sales"] == []
    assert (await sale(api, s["id"]))["status"] == "ended"
    assert await product_stock(api, pid) == 10
