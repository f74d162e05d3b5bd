"""优惠券 through the real server: claims under concurrency, checkout once,
released on cancel/expiry, kept on refund."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from live import keys
from live.app import create_app
from live.clock import FakeClock
from live.settings import Settings
from tests.commerce_helpers import order
from tests.helpers import Actor, Api
from tests.realtime_helpers import sio_client


@pytest.fixture
async def timed(make_settings: Callable[..., Settings], clock: FakeClock,
                aiohttp_client: Any) -> tuple[Api, web.Application]:
    app = create_app(make_settings(payment_timeout_s=900), clock=clock, run_timers=False)
    return Api(await aiohttp_client(app)), app


async def joined(api: Api, room_id: str, *viewers: Actor) -> None:
    for v in viewers:
        async with sio_client(api.client, v.token) as s:
            assert (await s.join(room_id))["ok"]


async def coupon(api: Api, host: Actor, room_id: str, **kw: Any) -> dict[str, Any]:
    body = {"title": "满50减10", "discount_cents": 1000, "quantity": 10, "valid_for_s": 600,
            **kw}
    r = await api.post(f"/api/v1/rooms/{room_id}/coupons", body, token=host.token)
    assert r.status == 201, r.body
    return dict(r.body)


async def claim(api: Api, viewer: Actor, coupon_id: str) -> Any:
    return await api.post(f"/api/v1/coupons/{coupon_id}/claim", token=viewer.token)


async def test_coupon_event_and_claim_rules(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1)
    rid = room["id"]
    a, stranger = await api.viewer("阿花"), await api.viewer("路人")
    async with sio_client(api.client, a.token) as s:
        await s.join(rid)
        c = await coupon(api, host, rid, quantity=2, per_viewer=1)
        ev = await s.wait_for_type("coupon")
        assert ev["data"] == c
    r = await claim(api, stranger, c["id"])
    assert r.status == 403 and r.code == "forbidden"  # never joined the room
    assert (await claim(api, a, "nope")).status == 404
    r = await claim(api, a, c["id"])
    assert r.status == 201, r.body
    assert r["claim"] == {"id": r["claim"]["id"], "coupon_id": c["id"], "room_id": rid,
                          "status": "unused", "order_id": None, "expires_at": c["expires_at"]}
    r2 = await claim(api, a, c["id"])
    assert r2.status == 422 and r2.code == "limit_exceeded"
    assert (await api.get(f"/api/v1/coupons/{c['id']}"))["remaining"] == 1
    mine = await api.get("/api/v1/me/coupons", token=a.token)
    assert [x["id"] for x in mine["claims"]] == [r["claim"]["id"]]
    assert mine["claims"][0]["coupon"]["title"] == "满50减10"
    host_claim = await api.post(f"/api/v1/coupons/{c['id']}/claim", token=host.token)
    assert host_claim.status == 403


async def test_sold_out_and_expired_claims(timed: tuple[Api, web.Application],
                                           clock: FakeClock) -> None:
    api, _ = timed
    host = await api.host()
    room = await api.room(host)
    a, b = await api.viewer("甲"), await api.viewer("乙")
    await joined(api, room["id"], a, b)
    c = await coupon(api, host, room["id"], quantity=1, per_viewer=3, valid_for_s=60)
    assert (await claim(api, a, c["id"])).status == 201
    r = await claim(api, b, c["id"])
    assert r.status == 409 and r.code == "sold_out"
    c2 = await coupon(api, host, room["id"], quantity=5, valid_for_s=60)
    clock.advance(60)
    r = await claim(api, b, c2["id"])
    assert r.status == 409 and r.code == "not_running"
    snap = await api.get(f"/api/v1/rooms/{room['id']}")
    assert snap["coupons"] == []  # expired coupons leave the snapshot


async def test_concurrent_claims_never_exceed_quantity(api: Api) -> None:
    host = await api.host()
    room = await api.room(host)
    viewers = [await api.viewer(f"v{i}") for i in range(12)]
    await joined(api, room["id"], *viewers)
    c = await coupon(api, host, room["id"], quantity=5, per_viewer=2)
    # every viewer claims three times at once: 36 claims for 5 coupons
    replies = await asyncio.gather(*(claim(api, v, c["id"]) for v in viewers for _ in range(3)))
    statuses = [r.status for r in replies]
    assert statuses.count(201) == 5, statuses
    assert all(r.code in ("sold_out", "limit_exceeded") for r in replies if r.status != 201)
    assert 500 not in statuses
    assert (await api.get(f"/api/v1/coupons/{c['id']}"))["remaining"] == 0
    per_viewer: dict[str, int] = {}
    for v in viewers:
        n = len((await api.get("/api/v1/me/coupons", token=v.token))["claims"])
        per_viewer[v.id] = n
        assert n <= 2
    assert sum(per_viewer.values()) == 5


async def test_one_viewer_racing_itself_gets_at_most_per_viewer(api: Api) -> None:
    host = await api.host()
    room = await api.room(host)
    v = await api.viewer()
    await joined(api, room["id"], v)
    c = await coupon(api, host, room["id"], quantity=100, per_viewer=2)
    replies = await asyncio.gather(*(claim(api, v, c["id"]) for _ in range(10)))
    assert sorted(r.status for r in replies) == [201, 201] + [422] * 8
    assert (await api.get(f"/api/v1/coupons/{c['id']}"))["remaining"] == 98


async def test_checkout_applies_a_claim_once_and_releases_it_on_cancel(
        timed: tuple[Api, web.Application], clock: FakeClock) -> None:
    api, app = timed
    host = await api.host()
    room = await api.room(host, products=1, price_cents=3000, stock=50)
    rid, pid = room["id"], room["shelf"][0]["id"]
    v, w = await api.viewer("阿花"), await api.viewer("阿强")
    await joined(api, rid, v, w)
    amount = await coupon(api, host, rid, discount_cents=1000, min_spend_cents=5000,
                          per_viewer=3, valid_for_s=3600)
    cl = (await claim(api, v, amount["id"]))["claim"]
    # below the minimum spend
    r = await order(api, v, rid, [(pid, 1)], coupon_claim_id=cl["id"])
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "coupon_claim_id"
    # someone else's claim
    r = await order(api, w, rid, [(pid, 2)], coupon_claim_id=cl["id"])
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "coupon_claim_id"
    r = await order(api, v, rid, [(pid, 2)], coupon_claim_id=cl["id"])
    assert r.status == 201, r.body
    first = r.body
    assert first["discount_cents"] == 1000 and first["total_cents"] == 5000
    assert first["coupon_claim_id"] == cl["id"]
    [mine] = (await api.get("/api/v1/me/coupons", token=v.token))["claims"]
    assert mine["status"] == "used" and mine["order_id"] == first["id"]
    # used: a second order cannot take it
    r = await order(api, v, rid, [(pid, 2)], coupon_claim_id=cl["id"])
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "coupon_claim_id"
    # cancelled: unused again, and usable
    assert (await api.post(f"/api/v1/orders/{first['id']}/cancel", token=v.token)).status == 200
    [mine] = (await api.get("/api/v1/me/coupons", token=v.token))["claims"]
    assert mine["status"] == "unused" and mine["order_id"] is None
    r = await order(api, v, rid, [(pid, 3)], coupon_claim_id=cl["id"])
    assert r.status == 201 and r["total_cents"] == 8000
    second = r.body
    # expired unpaid: unused again
    clock.advance(901)
    await app[keys.JOBS].run_all(app)
    assert (await api.get(f"/api/v1/orders/{second['id']}", token=v.token))["status"] == "expired"
    [mine] = (await api.get("/api/v1/me/coupons", token=v.token))["claims"]
    assert mine["status"] == "unused"
    # paid then refunded: stays used
    r = await order(api, v, rid, [(pid, 2)], coupon_claim_id=cl["id"])
    assert r.status == 201
    third = r.body
    assert (await api.post(f"/api/v1/orders/{third['id']}/pay", token=v.token)).status == 200
    assert (await api.post(f"/api/v1/orders/{third['id']}/refund",
                           token=host.token)).status == 200
    [mine] = (await api.get("/api/v1/me/coupons", token=v.token))["claims"]
    assert mine["status"] == "used" and mine["order_id"] == third["id"]


async def test_percent_coupon_floors_and_never_exceeds_the_total(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, price_cents=999, stock=50)
    rid, pid = room["id"], room["shelf"][0]["id"]
    v = await api.viewer()
    await joined(api, rid, v)
    pct = await coupon(api, host, rid, discount_cents=None, discount_bps=1500)
    cl = (await claim(api, v, pct["id"]))["claim"]
    r = await order(api, v, rid, [(pid, 1)], coupon_claim_id=cl["id"])
    assert r.status == 201
    assert r["discount_cents"] == 999 * 1500 // 10000 == 149
    assert r["total_cents"] == 999 - 149
    big = await coupon(api, host, rid, discount_cents=100000)
    cl = (await claim(api, v, big["id"]))["claim"]
    r = await order(api, v, rid, [(pid, 1)], coupon_claim_id=cl["id"])
    assert r.status == 201 and r["discount_cents"] == 999 and r["total_cents"] == 0


async def test_a_coupon_is_never_applied_twice_under_concurrency(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, price_cents=2000, stock=100)
    rid, pid = room["id"], room["shelf"][0]["id"]
    v = await api.viewer()
    await joined(api, rid, v)
    c = await coupon(api, host, rid, discount_cents=500)
    cl = (await claim(api, v, c["id"]))["claim"]
    replies = await asyncio.gather(*(order(api, v, rid, [(pid, 1)], coupon_claim_id=cl["id"])
                                     for _ in range(8)))
    assert sorted(r.status for r in replies) == [201] + [422] * 7, [r.body for r in replies]
    orders = (await api.get(f"/api/v1/orders?room_id={rid}", token=v.token))["orders"]
    assert len(orders) == 1 and orders[0]["discount_cents"] == 500


async def test_coupon_of_another_room_or_expired_is_refused_at_checkout(
        timed: tuple[Api, web.Application], clock: FakeClock) -> None:
    api, _ = timed
    host = await api.host()
    room = await api.room(host, products=1)
    other = await api.room(host, products=1)
    v = await api.viewer()
    await joined(api, room["id"], v)
    c = await coupon(api, host, room["id"], valid_for_s=30)
    cl = (await claim(api, v, c["id"]))["claim"]
    r = await order(api, v, other["id"], [(other["shelf"][0]["id"], 5)],
                    coupon_claim_id=cl["id"])
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "coupon_claim_id"
    clock.advance(30)
    r = await order(api, v, room["id"], [(room["shelf"][0]["id"], 5)],
                    coupon_claim_id=cl["id"])
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "coupon_claim_id"
