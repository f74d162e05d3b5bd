"""Commerce reaches the room: a real Socket.IO client sees a flash sale scheduled,
start, sell and end — `flash`, `stock` and `purchase` — while another viewer buys
over HTTP. On both databases, with the in-process broker and with Redis (where
the hot sale is also gated by the Redis stock script)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from live.app import create_app
from live.clock import FakeClock
from live.settings import Settings
from tests.commerce_helpers import flash, order, run_jobs
from tests.helpers import Api
from tests.realtime_helpers import sio_client

SALE_FIELDS = {"id", "room_id", "product_id", "price_cents", "quantity", "remaining",
               "per_user_limit", "starts_at", "ends_at", "status"}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(params=["memory", "redis"])
def broker_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "memory":
        return {}
    redis_url = request.getfixturevalue("redis_url")
    request.getfixturevalue("redis_cleanup")
    return {"redis_url": redis_url, "redis_prefix": request.getfixturevalue("redis_prefix")}


async def test_flash_stock_and_purchase_reach_a_socketio_client(
        make_settings: Callable[..., Settings], clock: FakeClock, aiohttp_client: Any,
        broker_settings: dict[str, Any]) -> None:
    app = create_app(make_settings(**broker_settings), clock=clock, run_timers=False)
    client = await aiohttp_client(app)
    api = Api(client)
    host = await api.host()
    room = await api.room(host, products=1, stock=50, price_cents=3990, title="赣南脐橙 5斤装")
    pid = room["shelf"][0]["id"]
    pin = await api.post(f"/api/v1/rooms/{room['id']}/pin", {"product_id": pid},
                         token=host.token)
    assert pin.status == 200, pin.body
    watcher = await api.viewer("围观群众")
    buyer = await api.viewer("小明同学")

    async with sio_client(client, watcher.token) as sio:
        ack = await sio.join(room["id"])
        assert ack["ok"], ack
        assert ack["snapshot"]["pinned_product_id"] == pid
        server_time = ts(ack["snapshot"]["server_time"])

        # scheduled: the room hears of it at once, with what a countdown needs
        s = await flash(api, host, room, pid, quantity=5, price_cents=990, per_user_limit=2,
                        start_in_s=30, duration_s=120)
        scheduled = (await sio.wait_for_type("flash"))["data"]
        assert set(scheduled) >= SALE_FIELDS
        assert scheduled["id"] == s["id"] and scheduled["status"] == "scheduled"
        assert scheduled["price_cents"] == 990 and scheduled["remaining"] == 5
        assert (ts(scheduled["starts_at"]) - server_time).total_seconds() == 30
        assert (ts(scheduled["ends_at"]) - ts(scheduled["starts_at"])).total_seconds() == 120

        # starts on the server's timer
        clock.advance(30)
        await run_jobs(app)
        started = (await sio.wait_for_type("flash", 2))["data"]
        assert started["id"] == s["id"] and started["status"] == "running"
        assert started["price_cents"] == 990 and started["quantity"] == 5
        assert started["remaining"] == 5 and started["per_user_limit"] == 2
        assert started["ends_at"] == scheduled["ends_at"]

        # another viewer buys two at the flash price and pays
        r = await order(api, buyer, room["id"], [(pid, 2)])
        assert r.status == 201, r.body
        assert r["items"][0]["unit_price_cents"] == 990 and r["total_cents"] == 1980
        stock = await sio.wait_until(lambda evs: any(
            e["type"] == "stock" and e["data"]["flash_sale_id"] == s["id"]
            and e["data"]["remaining"] == 3 for e in evs))
        assert [e for e in stock if e["type"] == "stock"][-1]["data"] == {
            "product_id": pid, "flash_sale_id": s["id"], "remaining": 3}
        assert sio.of_type("purchase") == []           # not before payment
        paid = await api.post(f"/api/v1/orders/{r['id']}/pay", {}, token=buyer.token)
        assert paid.status == 200 and paid["status"] == "paid", paid.body
        purchase = (await sio.wait_for_type("purchase"))["data"]
        assert purchase == {"nickname": "小*", "product_title": "赣南脐橙 5斤装", "quantity": 2}
        assert "小明同学" not in str(sio.events)

        # a third unit goes, then the sale ends on time and the rest go back
        r2 = await order(api, await api.viewer("阿花"), room["id"], [(pid, 1)])
        assert r2.status == 201, r2.body
        await sio.wait_until(lambda evs: any(
            e["type"] == "stock" and e["data"]["flash_sale_id"] == s["id"]
            and e["data"]["remaining"] == 2 for e in evs))
        clock.advance(120)
        await run_jobs(app)
        ended = (await sio.wait_for_type("flash", 3))["data"]
        assert ended["id"] == s["id"] and ended["status"] == "ended"
        assert ended["remaining"] == 2
        # the unsold units return to free stock, and the room is told
        free = await sio.wait_until(lambda evs: any(
            e["type"] == "stock" and e["data"]["flash_sale_id"] is None
            and e["data"]["product_id"] == pid for e in evs))
        last_free = [e for e in free if e["type"] == "stock"
                     and e["data"]["flash_sale_id"] is None][-1]["data"]
        product = await api.get(f"/api/v1/products/{pid}")
        assert last_free["remaining"] == product["stock"] == 50 - 5 + 2

        # one order for the whole story: consecutive seqs, nothing twice
        seqs = [e["seq"] for e in sio.events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert [e["data"]["status"] for e in sio.of_type("flash")] == [
            "scheduled", "running", "ended"]
