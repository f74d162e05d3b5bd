"""Orders and cart through the HTTP contract: pricing, idempotency, pay, cancel,
expiry, refund, the per-user limit and every error code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from live import keys
from live.app import create_app
from live.clock import FakeClock
from live.settings import Settings
from tests.commerce_helpers import DELIVERY, PICKUP, flash, order, product_stock, run_jobs, sale
from tests.helpers import Api


@pytest.fixture
async def timed(make_settings: Callable[..., Settings], clock: FakeClock,
                aiohttp_client: Any) -> tuple[Api, web.Application]:
    app = create_app(make_settings(payment_timeout_s=900), clock=clock, run_timers=False)
    return Api(await aiohttp_client(app)), app


async def test_cart_is_priced_now_and_a_running_flash_price_wins(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=2, price_cents=1000, stock=10)
    a, b = (p["id"] for p in room["shelf"])
    viewer = await api.viewer()
    path = f"/api/v1/rooms/{room['id']}/cart"
    r = await api.put(path, {"items": [{"product_id": a, "quantity": 2},
                                       {"product_id": b, "quantity": 1}]}, token=viewer.token)
    assert r.status == 200 and r["total_cents"] == 3000
    s = await flash(api, host, room, b, price_cents=500)
    r = await api.get(path, token=viewer.token)
    assert r["total_cents"] == 2500
    assert r["items"][1] == {"product_id": b, "quantity": 1, "unit_price_cents": 500,
                             "flash_sale_id": s["id"], "title": "赣南脐橙"}
    off = await api.product(host)
    r = await api.put(path, {"items": [{"product_id": off["id"], "quantity": 1}]},
                      token=viewer.token)
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "items.0.product_id"
    assert (await api.get(path, token=host.token)).status == 403
    assert (await api.get("/api/v1/rooms/nope/cart", token=viewer.token)).status == 404

    o = await order(api, viewer, room["id"], None, from_cart=True)
    assert o.status == 201 and o["total_cents"] == 2500 and len(o["items"]) == 2
    assert (await api.get(path, token=viewer.token))["items"] == []
    again = await order(api, viewer, room["id"], None, from_cart=True)
    assert again.status == 422 and again.code == "invalid"


async def test_buy_now_order_has_the_contract_fields(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, price_cents=1990, stock=5)
    pid = room["shelf"][0]["id"]
    viewer = await api.viewer()
    r = await order(api, viewer, room["id"], [(pid, 2)], fulfilment=DELIVERY)
    assert r.status == 201
    o = r.body
    for k in ("id", "room_id", "viewer_id", "status", "items", "discount_cents", "total_cents",
              "leader_id", "created_at", "expires_at", "coupon_claim_id", "group_buy_id",
              "group_id"):
        assert k in o
    assert o["status"] == "pending_payment" and o["viewer_id"] == viewer.id
    assert o["total_cents"] == 3980 and o["discount_cents"] == 0 and o["leader_id"] is None
    assert o["fulfilment"] == DELIVERY
    assert await product_stock(api, pid) == 3
    assert (await api.get(f"/api/v1/orders/{o['id']}", token=viewer.token)).body == o
    assert (await api.get(f"/api/v1/orders/{o['id']}", token=host.token)).body == o
    assert (await api.get(f"/api/v1/orders/{o['id']}",
                          token=(await api.viewer()).token)).status == 403
    assert (await api.get(f"/api/v1/orders/{o['id']}",
                          token=(await api.host()).token)).status == 403
    assert (await api.get("/api/v1/orders/nope", token=viewer.token)).status == 404


async def test_order_errors(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=2)
    pid = room["shelf"][0]["id"]
    viewer = await api.viewer()
    # Idempotency-Key required, 1..64
    body = {"room_id": room["id"], "items": [{"product_id": pid, "quantity": 1}],
            "fulfilment": PICKUP}
    r = await api.post("/api/v1/orders", body, token=viewer.token)
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "Idempotency-Key"
    r = await api.post("/api/v1/orders", body, token=viewer.token,
                       headers={"Idempotency-Key": "k" * 65})
    assert r.status == 422
    assert (await api.post("/api/v1/orders", body)).status == 401
    assert (await api.post("/api/v1/orders", body, token=host.token,
                           headers={"Idempotency-Key": "x"})).status == 403
    # items xor from_cart; fulfilment required and bounded
    r = await order(api, viewer, room["id"], [(pid, 1)], from_cart=True)
    assert r.status == 422 and r.code == "invalid"
    r = await order(api, viewer, room["id"], None)
    assert r.status == 422
    for f in ({"kind": "delivery"}, {"kind": "pickup", "point": ""},
              {"kind": "delivery", "address": "x" * 301}, {"kind": "drone", "address": "x"}):
        r = await order(api, viewer, room["id"], [(pid, 1)], fulfilment=f)
        assert r.status == 422 and r.code == "invalid", f
    r = await order(api, viewer, room["id"], [(pid, 0)])
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "items.0.quantity"
    r = await order(api, viewer, room["id"], [(pid, "1")])  # type: ignore[list-item]
    assert r.status == 422
    r = await order(api, viewer, room["id"], [(pid, 1), (pid, 1)])
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "items.1.product_id"
    off = await api.product(host)
    r = await order(api, viewer, room["id"], [(off["id"], 1)])
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "items.0.product_id"
    r = await order(api, viewer, "nope", [(pid, 1)])
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "room_id"
    r = await api.post("/api/v1/orders", raw=b"[1]", token=viewer.token,
                       headers={"Idempotency-Key": "raw", "Content-Type": "application/json"})
    assert r.status == 422 and r["error"]["fields"] == []
    # sold out: nothing partial
    r = await order(api, viewer, room["id"], [(pid, 3)])
    assert r.status == 409 and r.code == "sold_out"
    assert await product_stock(api, pid) == 2
    # room not live
    scheduled = await api.room(host, live=False, products=1)
    shelf = (await api.get(f"/api/v1/rooms/{scheduled['id']}"))["shelf"]
    r = await order(api, viewer, scheduled["id"], [(shelf[0]["id"], 1)])
    assert r.status == 409 and r.code == "room_not_live"


async def test_multi_line_order_is_all_or_nothing(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=2, stock=3)
    a, b = (p["id"] for p in room["shelf"])
    await api.patch(f"/api/v1/products/{b}", {"stock": 1}, token=host.token)
    viewer = await api.viewer()
    r = await order(api, viewer, room["id"], [(a, 2), (b, 2)])
    assert r.status == 409 and r.code == "sold_out"
    assert await product_stock(api, a) == 3 and await product_stock(api, b) == 1


async def test_retry_after_a_dropped_response_creates_one_order(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=10)
    pid = room["shelf"][0]["id"]
    viewer = await api.viewer()
    first = await order(api, viewer, room["id"], [(pid, 1)], key="retry-1")
    # the client never saw `first`; it retries the same body, keys reordered
    body = {"fulfilment": PICKUP, "items": [{"quantity": 1, "product_id": pid}],
            "room_id": room["id"]}
    raw = json.dumps(body, indent=2).encode()
    second = await api.post("/api/v1/orders", raw=raw, token=viewer.token,
                            headers={"Idempotency-Key": "retry-1",
                                     "Content-Type": "application/json"})
    assert second.status == 201 and second.body == first.body
    assert await product_stock(api, pid) == 9
    orders = (await api.get("/api/v1/orders", token=viewer.token))["orders"]
    assert [o["id"] for o in orders] == [first["id"]]


async def test_same_key_other_body_is_idempotency_mismatch(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=10)
    pid = room["shelf"][0]["id"]
    viewer = await api.viewer()
    assert (await order(api, viewer, room["id"], [(pid, 1)], key="k1")).status == 201
    r = await order(api, viewer, room["id"], [(pid, 2)], key="k1")
    assert r.status == 422 and r.code == "idempotency_mismatch"
    # keys are per caller: another viewer may use the same key
    assert (await order(api, await api.viewer(), room["id"], [(pid, 2)], key="k1")).status == 201
    assert await product_stock(api, pid) == 7


async def test_a_stored_refusal_is_replayed(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=1)
    pid = room["shelf"][0]["id"]
    viewer = await api.viewer()
    first = await order(api, viewer, room["id"], [(pid, 2)], key="sold")
    assert first.code == "sold_out"
    await api.patch(f"/api/v1/products/{pid}", {"stock": 5}, token=host.token)
    again = await order(api, viewer, room["id"], [(pid, 2)], key="sold")
    assert again.status == 409 and again.body == first.body
    assert await product_stock(api, pid) == 5


async def test_concurrent_same_key_makes_one_order(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=100)
    pid = room["shelf"][0]["id"]
    viewer = await api.viewer()
    replies = await asyncio.gather(*(order(api, viewer, room["id"], [(pid, 1)], key="same")
                                     for _ in range(20)))
    ok = [r for r in replies if r.status == 201]
    assert ok and all(r.status in (201, 409) for r in replies)
    assert all(r.code == "conflict" for r in replies if r.status == 409)
    assert len({r["id"] for r in ok}) == 1
    assert await product_stock(api, pid) == 99


async def test_pay_cancel_refund_and_wrong_states(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=10)
    pid = room["shelf"][0]["id"]
    viewer = await api.viewer()
    o1 = (await order(api, viewer, room["id"], [(pid, 2)])).body
    o2 = (await order(api, viewer, room["id"], [(pid, 3)])).body
    assert await product_stock(api, pid) == 5
    stranger = await api.viewer()
    assert (await api.post(f"/api/v1/orders/{o1['id']}/pay",
                           token=stranger.token)).status == 403
    assert (await api.post(f"/api/v1/orders/{o1['id']}/pay", token=host.token)).status == 403
    paid = await api.post(f"/api/v1/orders/{o1['id']}/pay", token=viewer.token)
    assert paid.status == 200 and paid["status"] == "paid" and paid["paid_at"]
    for verb in ("pay", "cancel"):
        r = await api.post(f"/api/v1/orders/{o1['id']}/{verb}", token=viewer.token)
        assert r.status == 409 and r.code == "conflict"
    c = await api.post(f"/api/v1/orders/{o2['id']}/cancel", token=viewer.token)
    assert c.status == 200 and c["status"] == "cancelled"
    assert await product_stock(api, pid) == 8
    assert (await api.post(f"/api/v1/orders/{o2['id']}/refund",
                           token=host.token)).code == "conflict"
    assert (await api.post(f"/api/v1/orders/{o1['id']}/refund",
                           token=(await api.host()).token)).status == 403
    assert (await api.post(f"/api/v1/orders/{o1['id']}/refund",
                           token=viewer.token)).status == 403
    rf = await api.post(f"/api/v1/orders/{o1['id']}/refund", token=host.token)
    assert rf.status == 200 and rf["status"] == "refunded"
    assert await product_stock(api, pid) == 10
    assert (await api.post(f"/api/v1/orders/{o1['id']}/refund",
                           token=host.token)).code == "conflict"
    assert (await api.post("/api/v1/orders/nope/pay", token=viewer.token)).status == 404


async def test_order_lists_for_host_and_viewer(api: Api) -> None:
    host, other = await api.host(), await api.host()
    room = await api.room(host, products=1)
    room2 = await api.room(other, products=1)
    v1, v2 = await api.viewer(), await api.viewer()
    a = (await order(api, v1, room["id"], [(room["shelf"][0]["id"], 1)])).body
    b = (await order(api, v2, room["id"], [(room["shelf"][0]["id"], 1)])).body
    c = (await order(api, v1, room2["id"], [(room2["shelf"][0]["id"], 1)])).body
    ids = lambda r: [o["id"] for o in r["orders"]]  # noqa: E731
    assert ids(await api.get("/api/v1/orders", token=v1.token)) == [c["id"], a["id"]]
    assert ids(await api.get(f"/api/v1/orders?room_id={room['id']}",
                             token=v1.token)) == [a["id"]]
    assert ids(await api.get("/api/v1/orders", token=host.token)) == [b["id"], a["id"]]
    assert ids(await api.get(f"/api/v1/orders?room_id={room['id']}",
                             token=host.token)) == [b["id"], a["id"]]
    assert (await api.get(f"/api/v1/orders?room_id={room2['id']}",
                          token=host.token)).status == 403
    assert (await api.get("/api/v1/orders?room_id=nope", token=host.token)).status == 404
    leader = await api.leader(host.invite_code or "")
    assert (await api.get("/api/v1/orders", token=leader.token)).status == 403
    assert (await api.get("/api/v1/orders")).status == 401


async def test_unpaid_orders_expire_and_units_go_back(
        timed: tuple[Api, web.Application], clock: FakeClock) -> None:
    api, app = timed
    host = await api.host()
    room = await api.room(host, products=2, stock=10)
    a, b = (p["id"] for p in room["shelf"])
    s = await flash(api, host, room, a, quantity=5, per_user_limit=2, duration_s=3600)
    viewer = await api.viewer()
    o = (await order(api, viewer, room["id"], [(a, 2), (b, 3)])).body
    assert (await sale(api, s["id"]))["remaining"] == 3
    assert await product_stock(api, b) == 7
    clock.advance(899)
    await run_jobs(app)
    assert (await api.get(f"/api/v1/orders/{o['id']}", token=viewer.token))["status"] == \
        "pending_payment"
    clock.advance(1)
    r = await api.post(f"/api/v1/orders/{o['id']}/pay", token=viewer.token)
    assert r.status == 409 and r.code == "conflict"
    await run_jobs(app)
    await run_jobs(app)
    assert (await api.get(f"/api/v1/orders/{o['id']}", token=viewer.token))["status"] == \
        "expired"
    assert (await sale(api, s["id"]))["remaining"] == 5
    assert await product_stock(api, b) == 10
    # the limit counts only live orders: the viewer may buy 2 again
    assert (await order(api, viewer, room["id"], [(a, 2)])).status == 201


async def test_per_user_flash_limit_is_checked_before_stock(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=10)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=3, per_user_limit=2)
    viewer = await api.viewer()
    r = await order(api, viewer, room["id"], [(pid, 3)])
    assert r.status == 422 and r.code == "limit_exceeded"
    assert (await order(api, viewer, room["id"], [(pid, 2)])).status == 201
    r = await order(api, viewer, room["id"], [(pid, 1)])
    assert r.status == 422 and r.code == "limit_exceeded"
    other = await api.viewer()
    assert (await order(api, other, room["id"], [(pid, 1)])).status == 201
    r = await order(api, await api.viewer(), room["id"], [(pid, 1)])
    assert r.status == 409 and r.code == "sold_out"
    # over the limit and sold out at once: the limit wins
    r = await order(api, viewer, room["id"], [(pid, 1)])
    assert r.code == "limit_exceeded"
    assert (await sale(api, s["id"]))["remaining"] == 0


async def test_a_sold_out_refusal_is_the_keys_stored_answer_and_holds_nothing(
        api: Api) -> None:
    """Doomed buyers are refused from reads (cart.service.early_refusal); the
    answer is still the key's first answer, and nothing is held for them."""
    host = await api.host()
    room = await api.room(host, products=1, stock=10)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=1, per_user_limit=1)
    winner, late = await api.viewer(), await api.viewer()
    won = await order(api, winner, room["id"], [(pid, 1)])
    assert won.status == 201
    refused = await order(api, late, room["id"], [(pid, 1)], key="late-1")
    assert refused.status == 409 and refused.code == "sold_out"
    assert refused.body["error"]["flash_sale_id"] == s["id"]
    # a malformed body is still `invalid`, sold out or not
    bad = await order(api, late, room["id"], [(pid, 1)], fulfilment={"kind": "pickup"})
    assert bad.status == 422 and bad.code == "invalid"
    await api.post(f"/api/v1/orders/{won['id']}/cancel", token=winner.token)
    assert (await sale(api, s["id"]))["remaining"] == 1
    again = await order(api, late, room["id"], [(pid, 1)], key="late-1")
    assert (again.status, again.body) == (refused.status, refused.body)  # replayed
    # the refusal held nothing for `late`: a new key buys the returned unit
    assert (await order(api, late, room["id"], [(pid, 1)], key="late-2")).status == 201
    assert (await sale(api, s["id"]))["remaining"] == 0


async def test_cancelled_flash_units_go_back_to_the_running_sale_else_to_stock(
        api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1, stock=10)
    pid = room["shelf"][0]["id"]
    s = await flash(api, host, room, pid, quantity=4, per_user_limit=4)
    viewer = await api.viewer()
    o1 = (await order(api, viewer, room["id"], [(pid, 2)])).body
    o2 = (await order(api, viewer, room["id"], [(pid, 2)])).body
    await api.post(f"/api/v1/orders/{o1['id']}/cancel", token=viewer.token)
    assert (await sale(api, s["id"]))["remaining"] == 2
    await api.post(f"/api/v1/orders/{o2['id']}/pay", token=viewer.token)
    await api.post(f"/api/v1/flash-sales/{s['id']}/end", token=host.token)
    assert await product_stock(api, pid) == 6 + 2
    r = await api.post(f"/api/v1/orders/{o2['id']}/refund", token=host.token)
    assert r["status"] == "refunded"
    assert await product_stock(api, pid) == 10


async def test_paid_order_runs_the_order_hooks_in_its_transaction(
        timed: tuple[Api, web.Application]) -> None:
    api, app = timed
    seen: list[tuple[str, str]] = []

    async def placed(session: Any, orders: Any, now: Any) -> list[Any]:
        seen.extend(("placed", order.status) for order in orders)
        return []

    async def paid(session: Any, order: Any, now: Any) -> list[Any]:
        seen.append(("paid", order.status))
        return []

    async def attribute(session: Any, **kw: Any) -> str | None:
        return "leader-x" if kw["share_token"] == "tok" else None

    hooks = app[keys.ORDER_HOOKS]
    hooks.placed.append(placed)
    hooks.paid.append(paid)
    hooks.attribute = attribute
    host = await api.host()
    room = await api.room(host, products=1)
    viewer = await api.viewer()
    o = (await order(api, viewer, room["id"], [(room["shelf"][0]["id"], 1)],
                     share_token="tok")).body
    assert o["leader_id"] == "leader-x"
    await api.post(f"/api/v1/orders/{o['id']}/pay", token=viewer.token)
    assert seen == [("placed", "pending_payment"), ("paid", "paid")]
