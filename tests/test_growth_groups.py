"""拼团 through the real server: open, join, complete at the last second, fail
with automatic refunds exactly once across workers and restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from live import keys
from live.app import create_app
from live.clock import FakeClock, iso
from live.settings import Settings
from tests.commerce_helpers import order, product_stock
from tests.helpers import Actor, Api
from tests.realtime_helpers import sio_client


@pytest.fixture
async def timed(make_settings: Callable[..., Settings], clock: FakeClock,
                aiohttp_client: Any) -> tuple[Api, web.Application]:
    app = create_app(make_settings(payment_timeout_s=900), clock=clock, run_timers=False)
    return Api(await aiohttp_client(app)), app


async def offer(api: Api, host: Actor, room: dict[str, Any], *, size: int = 2,
                window_s: int = 60, price_cents: int = 990) -> dict[str, Any]:
    r = await api.post(f"/api/v1/rooms/{room['id']}/group-buys", {
        "product_id": room["shelf"][0]["id"], "price_cents": price_cents, "group_size": size,
        "window_s": window_s}, token=host.token)
    assert r.status == 201, r.body
    return dict(r.body)


async def pay(api: Api, who: Actor, order_id: str) -> Any:
    return await api.post(f"/api/v1/orders/{order_id}/pay", token=who.token)


async def test_group_completes_on_the_payment_at_the_last_moment(
        timed: tuple[Api, web.Application], clock: FakeClock) -> None:
    api, app = timed
    host = await api.host()
    room = await api.room(host, products=1, price_cents=1990, stock=10)
    rid, pid = room["id"], room["shelf"][0]["id"]
    a, b = await api.viewer("团员甲"), await api.viewer("团员乙")
    async with sio_client(api.client, host.token) as s:
        await s.join(rid)
        gb = await offer(api, host, room, size=2, window_s=60)
        assert (await s.wait_for_type("group_buy"))["data"] == gb
        r = await order(api, a, rid, [(pid, 1)], group_buy_id=gb["id"])
        assert r.status == 201, r.body
        opened = r.body
        assert opened["group_buy_id"] == gb["id"] and opened["group_id"]
        assert opened["items"][0]["unit_price_cents"] == 990 and opened["total_cents"] == 990
        gid = opened["group_id"]
        ev = await s.wait_for_type("group")
        assert ev["data"]["id"] == gid and ev["data"]["status"] == "open"
        assert ev["data"]["members"] == 0 and ev["data"]["group_size"] == 2
        group = (await api.get(f"/api/v1/groups/{gid}")).body
        created = datetime.fromisoformat(opened["created_at"].replace("Z", "+00:00"))
        assert group["expires_at"] == iso(created + timedelta(seconds=60))
        assert [g["id"] for g in (await api.get(f"/api/v1/group-buys/{gb['id']}"))["groups"]] \
            == [gid]
        assert (await pay(api, a, opened["id"])).status == 200
        assert (await api.get(f"/api/v1/groups/{gid}"))["members"] == 1
        clock.advance(30)
        r = await order(api, b, rid, [(pid, 1)], group_buy_id=gb["id"], group_id=gid)
        assert r.status == 201, r.body
        assert r["group_id"] == gid
        clock.advance(29.999)  # 1 ms before the window closes
        assert (await pay(api, b, r["id"])).status == 200
        done = (await api.get(f"/api/v1/groups/{gid}")).body
        assert done["status"] == "complete" and done["members"] == 2
        await s.wait_until(lambda evs: any(e["type"] == "group"
                                           and e["data"]["status"] == "complete" for e in evs))
        clock.advance(5)
        await app[keys.JOBS].run_all(app)
        assert (await api.get(f"/api/v1/groups/{gid}"))["status"] == "complete"
        for o in (opened["id"], r["id"]):
            assert (await api.get(f"/api/v1/orders/{o}", token=host.token))["status"] == "paid"
        assert (await api.get(f"/api/v1/group-buys/{gb['id']}"))["groups"] == []


async def test_group_that_fails_refunds_paid_and_cancels_pending_orders_once(
        timed: tuple[Api, web.Application], clock: FakeClock,
        make_settings: Callable[..., Settings], aiohttp_client: Any) -> None:
    api, app = timed
    host = await api.host()
    room = await api.room(host, products=1, price_cents=1990, stock=10)
    rid, pid = room["id"], room["shelf"][0]["id"]
    a, b, c = await api.viewer("甲"), await api.viewer("乙"), await api.viewer("丙")
    gb = await offer(api, host, room, size=3, window_s=60)
    first = (await order(api, a, rid, [(pid, 2)], group_buy_id=gb["id"])).body
    gid = first["group_id"]
    assert (await pay(api, a, first["id"])).status == 200
    second = (await order(api, b, rid, [(pid, 1)], group_buy_id=gb["id"], group_id=gid)).body
    assert await product_stock(api, pid) == 7
    clock.advance(59.9)
    await app[keys.JOBS].run_all(app)
    assert (await api.get(f"/api/v1/groups/{gid}"))["status"] == "open"
    clock.advance(0.1)
    # past the window: paying is refused even before any sweeper ran, and so is joining
    r = await pay(api, b, second["id"])
    assert r.status == 409 and r.code == "conflict"
    r = await order(api, c, rid, [(pid, 1)], group_buy_id=gb["id"], group_id=gid)
    assert r.status == 409 and r.code == "conflict"
    # two workers (a second app on the same database) sweep at once, then a restart
    other = create_app(make_settings(payment_timeout_s=900), clock=clock, run_timers=False)
    await aiohttp_client(other)
    await asyncio.gather(app[keys.JOBS].run_all(app), other[keys.JOBS].run_all(other),
                         app[keys.JOBS].run_all(app))
    restarted = create_app(make_settings(payment_timeout_s=900), clock=clock, run_timers=False)
    await aiohttp_client(restarted)
    await restarted[keys.JOBS].run_all(restarted)
    group = (await api.get(f"/api/v1/groups/{gid}")).body
    assert group["status"] == "failed" and group["members"] == 1
    assert (await api.get(f"/api/v1/orders/{first['id']}", token=a.token))["status"] == \
        "refunded"
    assert (await api.get(f"/api/v1/orders/{second['id']}", token=b.token))["status"] == \
        "cancelled"
    assert await product_stock(api, pid) == 10  # every unit back (refunded once)
    stats = await api.get(f"/api/v1/rooms/{rid}/stats", token=host.token)
    if stats.status == 200:
        assert stats["refunds"] == 1 and stats["orders"] == 0


async def test_group_order_rules(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=2, price_cents=1990, stock=10)
    rid = room["id"]
    pid, other_pid = room["shelf"][0]["id"], room["shelf"][1]["id"]
    a, b, c = await api.viewer("甲"), await api.viewer("乙"), await api.viewer("丙")
    gb = await offer(api, host, room, size=2)
    r = await order(api, a, rid, [(other_pid, 1)], group_buy_id=gb["id"])
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "items"
    r = await order(api, a, rid, [(pid, 1), (other_pid, 1)], group_buy_id=gb["id"])
    assert r.status == 422
    r = await order(api, a, rid, [(pid, 1)], group_buy_id=gb["id"], coupon_claim_id="clm_x")
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "coupon_claim_id"
    r = await order(api, a, rid, [(pid, 1)], group_buy_id="nope")
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "group_buy_id"
    r = await order(api, a, rid, [(pid, 1)], group_buy_id=gb["id"], group_id="nope")
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "group_id"
    first = await order(api, a, rid, [(pid, 1)], group_buy_id=gb["id"])
    gid = first["group_id"]
    r = await order(api, a, rid, [(pid, 1)], group_buy_id=gb["id"], group_id=gid)
    assert r.status == 422 and r.code == "limit_exceeded"
    assert (await order(api, b, rid, [(pid, 1)], group_buy_id=gb["id"],
                        group_id=gid)).status == 201
    r = await order(api, c, rid, [(pid, 1)], group_buy_id=gb["id"], group_id=gid)
    assert r.status == 409 and r.code == "conflict"  # 2 pending orders fill it


async def test_a_full_group_is_never_over_joined(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=100)
    rid, pid = room["id"], room["shelf"][0]["id"]
    gb = await offer(api, host, room, size=3)
    opener = await api.viewer("团长邻居")
    gid = (await order(api, opener, rid, [(pid, 1)], group_buy_id=gb["id"]))["group_id"]
    joiners = [await api.viewer(f"v{i}") for i in range(8)]
    replies = await asyncio.gather(*(order(api, v, rid, [(pid, 1)], group_buy_id=gb["id"],
                                           group_id=gid) for v in joiners))
    assert sorted(r.status for r in replies) == [201, 201] + [409] * 6
    assert await product_stock(api, pid) == 97


async def test_failed_group_is_announced(timed: tuple[Api, web.Application],
                                         clock: FakeClock) -> None:
    api, app = timed
    host = await api.host()
    room = await api.room(host, products=1)
    a = await api.viewer()
    gb = await offer(api, host, room, size=2, window_s=3)
    gid = (await order(api, a, room["id"], [(room["shelf"][0]["id"], 1)],
                       group_buy_id=gb["id"]))["group_id"]
    async with sio_client(api.client, a.token) as s:
        await s.join(room["id"])
        clock.advance(3)
        await app[keys.JOBS].run_all(app)
        ev = await s.wait_for_type("group")
        assert ev["data"]["id"] == gid and ev["data"]["status"] == "failed"
