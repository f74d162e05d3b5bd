"""The flash lane (live/cart/lane.py): 立即抢购 orders placed many per
transaction give the answers the one-by-one path gives, on both databases.

Each test sends its orders concurrently through the real HTTP API so that
they meet in batches, and checks through `live_batch_size{batcher="lane"}`
that batches of more than one order really formed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web

from live import keys
from live.cart import lane
from live.cart.service import Fulfilment, IdempotencyClaim
from live.db import transaction
from tests.commerce_helpers import PICKUP, flash, order, product_stock, sale
from tests.helpers import Actor, Api
from tests.share_helpers import open_link, share_link


def lane_batches(app: web.Application) -> tuple[float, float]:
    """(batches, orders) the flash lane has served so far."""
    registry = app[keys.METRICS].registry
    labels = {"batcher": "lane"}
    return (registry.get_sample_value("live_batch_size_count", labels) or 0,
            registry.get_sample_value("live_batch_size_sum", labels) or 0)


def assert_batched(app: web.Application, orders: int) -> None:
    batches, served = lane_batches(app)
    assert served >= orders and batches < served, (batches, served)


async def test_concurrent_buyers_share_lane_batches_and_get_whole_orders(
        api: Api, app: web.Application) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=100)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=30, price_cents=990, per_user_limit=2)
    viewers = await asyncio.gather(*(api.viewer(f"买家{i}") for i in range(40)))
    replies = await asyncio.gather(*(order(api, v, room["id"], [(pid, 1)]) for v in viewers))
    assert_batched(app, 40)
    placed = [r for r in replies if r.status == 201]
    assert len(placed) == 30
    assert {r.code for r in replies if r.status != 201} == {"sold_out"}
    for r, v in zip(replies, viewers, strict=True):
        if r.status != 201:
            continue
        o = r.body
        assert o["viewer_id"] == v.id and o["status"] == "pending_payment"
        assert o["items"] == [{"product_id": pid, "quantity": 1, "unit_price_cents": 990,
                               "flash_sale_id": s["id"], "title": room["shelf"][0]["title"]}]
        assert o["total_cents"] == o["items_cents"] == 990 and o["discount_cents"] == 0
        assert o["fulfilment"] == PICKUP
        assert (await api.get(f"/api/v1/orders/{o['id']}", token=v.token)).body == o
    assert (await sale(api, s["id"]))["remaining"] == 0
    assert await product_stock(api, pid) == 70
    # the buyers reached `ordered` in the funnel, each once
    stats = await api.get(f"/api/v1/rooms/{room['id']}/stats/funnel", token=host.token)
    assert stats.status == 200, stats.body
    assert stats["room"]["ordered"] == 30


async def test_a_buyer_over_the_limit_in_one_batch_gets_limit_exceeded(
        api: Api, app: web.Application) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=100)
    pid = room["shelf"][0]["id"]
    await flash(api, host, room, pid, quantity=20, per_user_limit=2)
    viewer = await api.viewer()
    replies = await asyncio.gather(*(order(api, viewer, room["id"], [(pid, 1)])
                                     for _ in range(5)))
    assert sorted(r.status for r in replies) == [201, 201, 422, 422, 422]
    assert {r.code for r in replies if r.status == 422} == {"limit_exceeded"}
    over = await order(api, viewer, room["id"], [(pid, 3)])
    assert over.status == 422 and over.code == "limit_exceeded"


async def test_one_key_sent_twice_at_once_makes_one_order(api: Api, app: web.Application) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=100)
    pid = room["shelf"][0]["id"]
    await flash(api, host, room, pid, quantity=5, per_user_limit=5)
    viewer = await api.viewer()
    replies = await asyncio.gather(*(order(api, viewer, room["id"], [(pid, 1)], key="same-key")
                                     for _ in range(6)))
    assert {r.status for r in replies} == {201}
    assert len({r["id"] for r in replies}) == 1
    mine = await api.get("/api/v1/orders", token=viewer.token)
    assert len(mine["orders"]) == 1
    again = await order(api, viewer, room["id"], [(pid, 1)], key="same-key")
    assert again.body == replies[0].body
    other = await order(api, viewer, room["id"], [(pid, 2)], key="same-key")
    assert other.status == 422 and other.code == "idempotency_mismatch"


async def test_too_late_buyers_get_their_hold_back(api: Api, app: web.Application) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=100)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=3, per_user_limit=1)
    viewers = await asyncio.gather(*(api.viewer() for _ in range(12)))
    replies = await asyncio.gather(*(order(api, v, room["id"], [(pid, 1)]) for v in viewers))
    won = [(r, v) for r, v in zip(replies, viewers, strict=True) if r.status == 201]
    lost = [v for r, v in zip(replies, viewers, strict=True) if r.status != 201]
    assert len(won) == 3
    # a winner cancels: the unit goes back to the sale, and a buyer turned away
    # earlier may buy it — their per-person hold was given back with `sold_out`
    first, winner = won[0]
    r = await api.post(f"/api/v1/orders/{first['id']}/cancel", token=winner.token)
    assert r.status == 200, r.body
    assert (await sale(api, s["id"]))["remaining"] == 1
    again = await order(api, lost[0], room["id"], [(pid, 1)])
    assert again.status == 201, again.body


async def test_the_lane_attributes_orders_to_the_bound_leader(
        api: Api, app: web.Application) -> None:
    host = await api.host()
    leader = await api.leader(host.invite_code or "")
    room = await api.room(host, products=1, stock=100)
    pid = room["shelf"][0]["id"]
    await flash(api, host, room, pid, quantity=10)
    token = await share_link(api, leader, room["id"])
    bound: list[Actor] = []
    for i in range(3):
        v = await api.viewer(f"团员{i}")
        status, _, _ = await open_link(api, token, viewer_token=v.token)
        assert status in (302, 303)
        bound.append(v)
    api.client.session.cookie_jar.clear()  # no cookie: these orders take the lane
    strangers = [await api.viewer() for _ in range(3)]
    replies = await asyncio.gather(*(order(api, v, room["id"], [(pid, 1)])
                                     for v in bound + strangers))
    assert_batched(app, 6)
    assert [r["leader_id"] for r in replies] == [leader.id] * 3 + [None] * 3


async def test_lane_refusals_are_stored_answers(api: Api, app: web.Application) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=100)
    other = await api.room(host, products=1, stock=100)
    pid = room["shelf"][0]["id"]
    await flash(api, host, room, pid, quantity=10)
    viewer = await api.viewer()
    # the product is not on `other`'s shelf: 422 naming the line, stored for the key
    replies = await asyncio.gather(
        order(api, viewer, other["id"], [(pid, 1)], key="k-shelf"),
        order(api, viewer, room["id"], [(pid, 1)], key="k-ok"))
    assert replies[0].status == 422 and replies[0].code == "invalid"
    assert replies[0].body["error"]["fields"][0]["field"] == "items.0.product_id"
    assert replies[1].status == 201
    again = await order(api, viewer, other["id"], [(pid, 1)], key="k-shelf")
    assert (again.status, again.body) == (replies[0].status, replies[0].body)


async def test_a_sale_ended_since_the_read_falls_back_to_the_full_path(
        api: Api, app: web.Application) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=100)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=10)
    viewer = await api.viewer()
    claim = IdempotencyClaim(viewer.id, "k-ended", "0" * 64)
    r = await api.post(f"/api/v1/flash-sales/{s['id']}/end", token=host.token)
    assert r.status == 200
    async with transaction(app) as session:
        answers, events = await lane.place_flash_orders(
            session, orders=[lane.LaneOrder(viewer.id, claim, room["id"], pid, 1,
                                            Fulfilment("pickup", "门口"), s["id"])],
            hooks=app[keys.ORDER_HOOKS], payment_timeout_s=900,
            now=app[keys.CLOCK].now() + timedelta(seconds=1))
    assert [a.then for a in answers] == [lane.FALLBACK] and events == []
    # nothing was kept for the key: the full path now places it at the product's price
    body: dict[str, Any] = {"room_id": room["id"], "items": [{"product_id": pid, "quantity": 1}],
                            "fulfilment": PICKUP}
    placed = await api.post("/api/v1/orders", body, token=viewer.token,
                            headers={"Idempotency-Key": "k-ended"})
    assert placed.status == 201 and placed["items"][0]["flash_sale_id"] is None


def _lane_order(viewer: Actor, room_id: str, pid: str, sale_id: str, key: str,
                quantity: int = 1) -> lane.LaneOrder:
    return lane.LaneOrder(viewer.id, IdempotencyClaim(viewer.id, key, "0" * 64), room_id, pid,
                          quantity, Fulfilment("pickup", "门口"), sale_id)


async def _place(app: web.Application, orders: list[lane.LaneOrder]) -> list[lane.LaneAnswer]:
    answers, _ = await lane.place_flash_batch(
        lambda: transaction(app), orders=orders, hooks=app[keys.ORDER_HOOKS],
        payment_timeout_s=900, now=app[keys.CLOCK].now())
    return answers


async def test_a_buyers_second_order_in_a_batch_is_decided_after_the_first(
        api: Api, app: web.Application) -> None:
    """One by one, B 1 unit, A 2 units, A 1 unit on 2 left (limit 2) give 201,
    409 sold_out, 201: A's second order must not be refused for a hold its
    first gives back."""
    host = await api.host()
    room = await api.room(host, products=1, stock=20)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=2, per_user_limit=2)
    a, b = await api.viewer(), await api.viewer()
    answers = await _place(app, [_lane_order(b, room["id"], pid, s["id"], "b1"),
                                 _lane_order(a, room["id"], pid, s["id"], "a1", 2),
                                 _lane_order(a, room["id"], pid, s["id"], "a2")])
    assert [(x.status, x.then) for x in answers] == [(201, None), (409, None),
                                                     (0, lane.FALLBACK)]
    body = {"room_id": room["id"], "items": [{"product_id": pid, "quantity": 1}],
            "fulfilment": PICKUP}
    # the handed-back order, the full way (its key was not kept)
    r = await api.post("/api/v1/orders", body, token=a.token, headers={"Idempotency-Key": "a2"})
    assert r.status == 201, r.body
    assert (await sale(api, s["id"]))["remaining"] == 0


@pytest.mark.parametrize(("batches", "size", "quantity"), [(2, 2, 1), (3, 4, 5)])
async def test_batches_at_once_on_a_sale_too_small_sell_it_exactly(
        api: Api, app: web.Application, backend: str, batches: int, size: int,
        quantity: int) -> None:
    """Batches at once (two workers', or up to three of one worker) on a sale
    too small for their buyers: each writes new flash_buyers rows (KEY SHARE on
    the sale's row through their foreign key) and stats rows before it takes
    units; whoever is short is placed again carefully. No deadlock, exactly
    the sale's units sold, each buyer answered once."""
    host = await api.host()
    room = await api.room(host, products=1, stock=50)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=quantity, per_user_limit=1)
    viewers = await asyncio.gather(*(api.viewer() for _ in range(batches * size)))
    orders = [_lane_order(v, room["id"], pid, s["id"], "k") for v in viewers]
    answers = await asyncio.wait_for(asyncio.gather(
        *(_place(app, orders[i:i + size]) for i in range(0, len(orders), size))), timeout=30)
    statuses = sorted(x.status for b in answers for x in b)
    assert statuses == [201] * quantity + [409] * (len(orders) - quantity), (backend, statuses)
    assert (await sale(api, s["id"]))["remaining"] == 0
    placed = await api.get(f"/api/v1/orders?room_id={room['id']}", token=host.token)
    assert len(placed["orders"]) == quantity


async def test_batches_meeting_rooms_in_opposite_order_do_not_deadlock(
        api: Api, app: web.Application, backend: str) -> None:
    """One product on sale in two rooms; two batches at once, each with a new
    buyer in both rooms, listed in opposite order: the stats rows of both
    rooms are locked in one order in every batch (found by review: PostgreSQL
    broke the cycle after 1 s and one batch went the slow way)."""
    host = await api.host()
    one = await api.room(host, products=1, stock=50)
    pid = one["shelf"][0]["id"]
    two = await api.room(host)
    r = await api.put(f"/api/v1/rooms/{two['id']}/shelf", {"product_ids": [pid]},
                      token=host.token)
    assert r.status == 200, r.body
    s = await flash(api, host, one, pid, quantity=10)
    v = await asyncio.gather(*(api.viewer() for _ in range(4)))
    a = [_lane_order(v[0], one["id"], pid, s["id"], "k"),
         _lane_order(v[1], two["id"], pid, s["id"], "k")]
    b = [_lane_order(v[2], two["id"], pid, s["id"], "k"),
         _lane_order(v[3], one["id"], pid, s["id"], "k")]
    # a deadlock would raise here (PostgreSQL breaks the cycle after deadlock_timeout)
    answers = await asyncio.wait_for(asyncio.gather(_place(app, a), _place(app, b)), timeout=30)
    assert [x.status for batch in answers for x in batch] == [201] * 4, backend


async def test_a_batch_short_every_time_is_handed_back_whole(
        api: Api, app: web.Application, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other batches outrunning this one again and again: after a few careful
    tries its orders go the full way, and nothing of them was kept."""
    host = await api.host()
    room = await api.room(host, products=1, stock=50)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=5)
    viewer = await api.viewer()
    tries = 0
    real = lane.place_flash_orders

    async def always_short(*args: Any, **kwargs: Any) -> Any:
        nonlocal tries
        tries += 1
        await real(*args, **kwargs)  # writes, then is rolled back
        raise lane.Short

    monkeypatch.setattr(lane, "place_flash_orders", always_short)
    answers = await _place(app, [_lane_order(viewer, room["id"], pid, s["id"], "k")])
    assert [a.then for a in answers] == [lane.FALLBACK] and tries == 4
    assert (await sale(api, s["id"]))["remaining"] == 5
    assert (await api.get(f"/api/v1/orders?room_id={room['id']}", token=host.token))[
        "orders"] == []


