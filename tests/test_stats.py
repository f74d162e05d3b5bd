"""Room numbers against hand-computed expectations, on both databases.

Until the cart lands on main, orders reach stats through the very hooks cart
calls (`app[keys.ORDER_HOOKS]`), with an order carrying the fields cart's
`Order` has; joins through `app[keys.JOIN_HOOKS]` as the Socket.IO join does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from live import keys
from live.accounts.principal import Principal
from live.app import create_app
from live.cart import hooks as order_hooks
from live.clock import FakeClock
from live.db import transaction
from live.settings import Settings
from live.stats import service
from live.webhooks.delivery import deliver_due
from tests.helpers import Actor, Api
from tests.webhook_receiver import Receiver


@dataclass
class Item:
    product_id: str
    quantity: int
    unit_price_cents: int
    title: str = "赣南脐橙"
    flash_sale_id: str | None = None


@dataclass
class Order:
    id: str
    room_id: str
    viewer_id: str
    total_cents: int
    leader_id: str | None = None
    status: str = "pending_payment"
    discount_cents: int = 0
    items: list[Item] = field(default_factory=list)
    created_at: datetime | None = None
    paid_at: datetime | None = None
    coupon_claim_id: str | None = None
    group_buy_id: str | None = None
    group_id: str | None = None


@pytest.fixture
async def timed(settings: Settings, clock: FakeClock,
                aiohttp_client: Any) -> tuple[web.Application, Api]:
    app = create_app(settings, clock=clock, run_timers=False)
    client: TestClient = await aiohttp_client(app)  # type: ignore[type-arg]
    return app, Api(client)


class Room:
    """Drives one room's life through the hooks the other domains call."""

    def __init__(self, app: web.Application, room_id: str) -> None:
        self.app, self.id = app, room_id
        self.orders: dict[str, Order] = {}

    @property
    def now(self) -> datetime:
        return self.app[keys.CLOCK].now()

    async def join(self, viewer: Actor, *, share_token: str | None = None,
                   visitor_id: str | None = None) -> None:
        who = Principal(role="viewer", id=viewer.id, name=viewer.name, host_id=None)
        # stats' own join hook only: these tokens are stand-ins, which the
        # distribution hook (also in JOIN_HOOKS) would refuse as not signed
        assert service.on_join in self.app[keys.JOIN_HOOKS]
        async with transaction(self.app) as session:
            await service.on_join(session, room_id=self.id, principal=who,
                                  share_token=share_token, visitor_id=visitor_id, now=self.now)

    async def visit(self, visitor_id: str, leader: Actor) -> None:
        async with transaction(self.app) as session:
            await service.note_person(session, room_id=self.id, stage="visited",
                                      visitor_id=visitor_id, leader_id=leader.id, now=self.now)

    async def chat(self, n: int) -> None:
        for _ in range(n):
            async with transaction(self.app) as session:
                await service.count_chat(session, room_id=self.id, now=self.now)

    async def pay(self, oid: str, viewer: Actor, total: int, leader: Actor | None = None,
                  items: list[Item] | None = None) -> None:
        order = Order(oid, self.id, viewer.id, total, leader.id if leader else None,
                      items=items or [Item("prod_x", 1, total)], created_at=self.now)
        hooks = self.app[keys.ORDER_HOOKS]
        async with transaction(self.app) as session:
            await order_hooks.run(hooks.placed, session, order, self.now)
        order.status, order.paid_at = "paid", self.now
        async with transaction(self.app) as session:
            await order_hooks.run(hooks.paid, session, order, self.now)
        self.orders[oid] = order

    async def refund(self, oid: str) -> None:
        order = self.orders[oid]
        order.status = "refunded"
        async with transaction(self.app) as session:
            await order_hooks.run(self.app[keys.ORDER_HOOKS].refunded, session, order, self.now)


async def test_room_stats_match_a_hand_computed_evening(
        timed: tuple[web.Application, Api], clock: FakeClock) -> None:
    app, api = timed
    host = await api.host()
    l1, l2 = await api.leader(host.invite_code or ""), await api.leader(host.invite_code or "")
    a, b, c, d = [await api.viewer(n) for n in ("阿", "贝", "茜", "丁")]
    room = Room(app, (await api.room(host))["id"])
    path = f"/api/v1/rooms/{room.id}/stats"
    empty = await api.get(path, token=host.token)
    assert empty.status == 200
    assert empty.body == {"visitors": 0, "viewers_now": 0, "peak_viewers": 0,
                          "chat_messages": 0, "likes": 0, "orders": 0, "buyers": 0,
                          "gmv_cents": 0, "aov_cents": 0, "conversion_rate": 0,
                          "refunds": 0}

    await room.join(a)                                     # person 1
    await room.visit("cookie-1", l1)                       # person 2
    await room.join(b, share_token="tok", visitor_id="cookie-1")  # = person 2 (linked)
    await room.visit("cookie-2", l2)                       # person 3
    await room.join(c, visitor_id="cookie-3")              # person 4 (no link: cookie unused)
    await room.join(a)                                     # again: nobody new
    for event in ("product_opened", "added_to_cart"):
        r = await api.post(f"/api/v1/rooms/{room.id}/track", {"event": event}, token=a.token)
        assert r.status == 200
    await room.chat(3)
    await room.pay("o1", a, 1000)
    clock.advance(120)
    await room.pay("o2", a, 2500)
    await room.pay("o3", b, 3000, leader=l1)
    await room.pay("o4", c, 999)
    await room.refund("o2")                                # a still buys (o1)
    await room.refund("o4")                                # c no longer a buyer
    await room.pay("o5", d, 500)                           # person 5: bought without joining

    stats = (await api.get(path, token=host.token)).body
    assert stats == {
        "visitors": 5, "viewers_now": 0, "peak_viewers": 0, "chat_messages": 3, "likes": 0,
        "orders": 3,                     # o1, o3, o5
        "buyers": 3,                     # a, b, d
        "gmv_cents": 1000 + 3000 + 500,
        "aov_cents": 4500 // 3,
        "conversion_rate": 0.6,          # 3 / 5
        "refunds": 2,
    }

    funnel = (await api.get(f"{path}/funnel", token=host.token)).body
    assert funnel["stages"] == ["visited", "joined", "product_opened", "added_to_cart",
                                "ordered", "paid"]
    assert funnel["room"] == {"visited": 2, "joined": 3, "product_opened": 1,
                              "added_to_cart": 1, "ordered": 4, "paid": 4}
    assert funnel["leaders"] == [
        {"leader_id": l1.id, "visited": 1, "joined": 1, "product_opened": 0,
         "added_to_cart": 0, "ordered": 1, "paid": 1},
        {"leader_id": l2.id, "visited": 1, "joined": 0, "product_opened": 0,
         "added_to_cart": 0, "ordered": 0, "paid": 0},
    ]

    series = (await api.get(f"{path}/series", token=host.token)).body
    assert series["room_id"] == room.id
    assert [(m["minute"], m["visitors"], m["chat_messages"], m["orders"], m["gmv_cents"],
             m["refunds"]) for m in series["minutes"]] == [
        ("2026-11-24T12:00:00.000Z", 4, 3, 1, 1000, 0),
        ("2026-11-24T12:01:00.000Z", 0, 0, 0, 0, 0),
        # flows in the minute: o2..o5 paid, o2 and o4 refunded (GMV is not taken back
        # from the minute it was made in; the totals above are net)
        ("2026-11-24T12:02:00.000Z", 1, 0, 4, 2500 + 3000 + 999 + 500, 2),
    ]


async def test_merging_a_visitor_into_an_already_counted_viewer(
        timed: tuple[web.Application, Api]) -> None:
    app, api = timed
    host = await api.host()
    leader = await api.leader(host.invite_code or "")
    v = await api.viewer()
    room = Room(app, (await api.room(host))["id"])
    await room.join(v)                      # counted as a viewer
    await room.visit("cookie-9", leader)    # counted as an unknown visitor
    path = f"/api/v1/rooms/{room.id}/stats"
    assert (await api.get(path, token=host.token))["visitors"] == 2
    await room.join(v, share_token="tok", visitor_id="cookie-9")  # they were one person
    assert (await api.get(path, token=host.token))["visitors"] == 1
    funnel = (await api.get(f"{path}/funnel", token=host.token)).body
    assert funnel["room"]["visited"] == 1 and funnel["room"]["joined"] == 1


async def test_concurrent_first_joins_count_a_person_once(
        timed: tuple[web.Application, Api]) -> None:
    app, api = timed
    host = await api.host()
    v, w = await api.viewer(), await api.viewer()
    room = Room(app, (await api.room(host))["id"])
    await asyncio.gather(*(room.join(x) for x in [v, w] * 10))
    await asyncio.gather(*(room.pay(f"o{i}", v, 100) for i in range(10)))
    stats = (await api.get(f"/api/v1/rooms/{room.id}/stats", token=host.token)).body
    assert stats["visitors"] == 2 and stats["buyers"] == 1 and stats["orders"] == 10
    assert stats["conversion_rate"] == 0.5


async def test_stats_are_for_the_rooms_host_only(api: Api) -> None:
    host, other = await api.host(), await api.host()
    viewer = await api.viewer()
    room = await api.room(host)
    for suffix in ("", "/series", "/funnel"):
        path = f"/api/v1/rooms/{room['id']}/stats{suffix}"
        assert (await api.get(path)).status == 401
        assert (await api.get(path, token=viewer.token)).status == 403
        r = await api.get(path, token=other.token)
        assert r.status == 403 and r.code == "forbidden"
        assert (await api.get(path, token=host.token)).status == 200
        missing = await api.get(f"/api/v1/rooms/nope/stats{suffix}", token=host.token)
        assert missing.status == 404 and missing.code == "not_found"
    bad = await api.post(f"/api/v1/rooms/{room['id']}/track", {"event": "nope"},
                         token=viewer.token)
    assert bad.status == 422 and bad.code == "invalid"
    assert (await api.post(f"/api/v1/rooms/{room['id']}/track", {"event": "product_opened"},
                           token=host.token)).status == 403
    q = await api.get(f"/api/v1/rooms/{room['id']}/stats/series?start=yesterday",
                      token=host.token)
    assert q.status == 422


def test_conversion_rate_rounds_to_four_decimals_exactly() -> None:
    assert service.conversion_rate(0, 0) == 0
    assert service.conversion_rate(1, 3) == 0.3333
    assert service.conversion_rate(2, 3) == 0.6667
    assert service.conversion_rate(1, 8) == 0.125
    assert service.conversion_rate(1, 20000) == 0.0001  # 0.00005 rounds half up
    assert service.conversion_rate(1, 20001) == 0.0
    assert service.conversion_rate(7, 7) == 1.0


async def test_paid_and_refunded_orders_reach_the_hosts_webhook(
        timed: tuple[web.Application, Api], aiohttp_server: Any) -> None:
    app, api = timed
    receiver = Receiver()
    receiver.url = str((await aiohttp_server(receiver.app())).make_url("/hook"))
    host = await api.host()
    await api.put("/api/v1/webhooks", {"url": receiver.url}, token=host.token)
    v = await api.viewer()
    room = Room(app, (await api.room(host))["id"])
    await room.pay("o1", v, 1990)
    await room.refund("o1")
    assert await deliver_due(app) == 2
    paid, refunded = receiver.events("order.paid"), receiver.events("order.refunded")
    assert [e["data"]["order"]["id"] for e in paid + refunded] == ["o1", "o1"]
    assert paid[0]["data"]["order"]["status"] == "paid"
    assert paid[0]["data"]["order"]["total_cents"] == 1990
    assert paid[0]["data"]["room_id"] == room.id
    assert refunded[0]["data"]["order"]["status"] == "refunded"


async def test_host_customers_segments_products_and_leaders_by_hand(
        timed: tuple[web.Application, Api], clock: FakeClock) -> None:
    app, api = timed
    host = await api.host()
    l1 = await api.leader(host.invite_code or "", name="团长一号")
    l2 = await api.leader(host.invite_code or "", name="团长二号")
    a, b, c, d, e = [await api.viewer(n) for n in "ABCDE"]
    r1 = Room(app, (await api.room(host))["id"])
    r2 = Room(app, (await api.room(host))["id"])

    def line(pid: str, qty: int, unit: int = 100) -> list[Item]:
        return [Item(pid, qty, unit, title=f"商品{pid}")]

    await r1.pay("o1", a, 100, items=line("p1", 1))
    await r1.pay("o2", b, 200, l1, items=line("p2", 2))
    await r1.pay("o3", c, 300, l2, items=line("p1", 3))
    clock.advance(100 * 86400)
    await r2.pay("o4", a, 400, items=line("p2", 4))
    await r2.pay("o5", d, 500, l1, items=line("p1", 5))
    await r2.pay("o6", e, 600, items=line("p3", 6))
    await r2.refund("o6")
    await r2.pay("o7", d, 700, items=line("p2", 7))
    # Another host's sales never show.
    other = await api.host()
    await Room(app, (await api.room(other))["id"]).pay("o8", a, 999)

    r = await api.get("/api/v1/stats/customers", token=host.token)
    assert r.status == 200, r.body
    assert r.body == {
        "windows": {"new_days": 30, "active_days": 30, "churn_days": 90},
        "customers": 4,              # a, b, c, d (e's only order was refunded)
        "new": 1,                    # d: first paid within 30 days
        "active": 1,                 # a: paid within 30 days, and before
        "churned": 2,                # b, c: nothing for 100 days
        "repurchase_rate": 0.5,      # a and d have two orders each
        "gmv_cents": 100 + 200 + 300 + 400 + 500 + 700,
        "top_products": [
            {"product_id": "p2", "title": "商品p2", "units": 2 + 4 + 7, "gmv_cents": 1300},
            {"product_id": "p1", "title": "商品p1", "units": 1 + 3 + 5, "gmv_cents": 900},
        ],
        "leaders": [
            {"leader_id": l1.id, "name": "团长一号", "orders": 2, "gmv_cents": 700},
            {"leader_id": l2.id, "name": "团长二号", "orders": 1, "gmv_cents": 300},
        ],
    }
    wide = (await api.get("/api/v1/stats/customers?new_days=200&churn_days=200&top=1",
                          token=host.token)).body
    assert (wide["new"], wide["churned"], len(wide["top_products"])) == (4, 0, 1)
    bad = await api.get("/api/v1/stats/customers?new_days=0", token=host.token)
    assert bad.status == 422 and bad.code == "invalid"
    viewer = await api.viewer()
    assert (await api.get("/api/v1/stats/customers", token=viewer.token)).status == 403

    csv = await api.client.get("/api/v1/stats/customers.csv",
                               headers={"Authorization": f"Bearer {host.token}"})
    assert csv.status == 200 and csv.content_type == "text/csv"
    lines = (await csv.text()).splitlines()
    assert lines[0] == "viewer_id,orders,gmv_cents,first_paid_at,last_paid_at"
    assert [row.split(",")[:3] for row in lines[1:]] == [
        [d.id, "2", "1200"], [a.id, "2", "500"], [c.id, "1", "300"], [b.id, "1", "200"],
        [e.id, "0", "0"]]
