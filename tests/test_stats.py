"""Room numbers against hand-computed expectations, on both databases.

Everything here happens through the real interfaces: accounts, rooms, share
links (`/r/…`), Socket.IO joins, chat and likes, orders placed, paid,
cancelled, expired (the sweeper) and refunded over HTTP, a coupon. The
expected figures are worked out by hand in the comments next to them.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from live import keys
from live.app import create_app
from live.clock import FakeClock, iso
from live.settings import Settings
from live.stats import service
from live.webhooks.delivery import deliver_due
from tests.commerce_helpers import PICKUP, order, run_jobs
from tests.helpers import Actor, Api
from tests.realtime_helpers import SioClient, server_url, sio_client
from tests.share_helpers import open_link, share_link
from tests.webhook_receiver import Receiver

T0 = datetime.fromisoformat("2026-11-24T12:00:00+00:00")  # FakeClock's start


def at(seconds: float) -> str | None:
    return iso(T0 + timedelta(seconds=seconds))


@pytest.fixture
async def shop(make_settings: Callable[..., Settings], clock: FakeClock,
               aiohttp_client: Any) -> tuple[web.Application, Api]:
    """A real server on a FakeClock; jobs run when a test says so. Unpaid
    orders expire after 60 s."""
    app = create_app(make_settings(payment_timeout_s=60), clock=clock, run_timers=False)
    return app, Api(await aiohttp_client(app))


# --- steps a client takes -----------------------------------------------------------

async def product(api: Api, host: Actor, title: str, price_cents: int) -> str:
    return str((await api.product(host, title=title, price_cents=price_cents,
                                  stock=100))["id"])


async def live_room(api: Api, host: Actor, product_ids: list[str]) -> str:
    room = await api.room(host, live=False)
    r = await api.put(f"/api/v1/rooms/{room['id']}/shelf", {"product_ids": product_ids},
                      token=host.token)
    assert r.status == 200, r.body
    r = await api.post(f"/api/v1/rooms/{room['id']}/status", {"status": "live"},
                       token=host.token)
    assert r.status == 200, r.body
    return str(room["id"])


async def visit(api: Api, token: str, *, viewer: Actor | None = None) -> str:
    """Open a share link as a fresh browser; returns its `live_vid` cookie. The
    test client's cookie jar is emptied afterwards, so no later call carries it."""
    status, _, vid = await open_link(api, token,
                                     viewer_token=viewer.token if viewer else None)
    api.client.session.cookie_jar.clear()
    assert status == 302 and vid
    return vid


async def buy(api: Api, viewer: Actor, room_id: str, items: list[tuple[str, int]], *,
              pay: bool = True, **extra: Any) -> dict[str, Any]:
    r = await order(api, viewer, room_id, items, **extra)
    assert r.status == 201, r.body
    if not pay:
        return dict(r.body)
    p = await api.post(f"/api/v1/orders/{r['id']}/pay", token=viewer.token)
    assert p.status == 200 and p["status"] == "paid", p.body
    return dict(p.body)


async def csv_rows(api: Api, path: str, token: str) -> list[dict[str, str]]:
    async with api.client.get(path, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "text/csv"
        raw = await resp.read()
    assert raw.startswith("\ufeff".encode())  # Excel needs the BOM for Chinese
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


async def until_no_viewers(api: Api, host: Actor, room_id: str) -> None:
    """Closed sockets leave the room when the server has processed the disconnect."""
    for _ in range(200):
        r = await api.get(f"/api/v1/rooms/{room_id}/stats", token=host.token)
        if r["viewers_now"] == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("viewers never left")


@dataclass
class Shop:
    host: Actor
    l1: Actor     # a 团长 under the host
    l1a: Actor    # a sub-团长 under l1 (2-level commission: l1a 10 %, l1 3 %)
    l2: Actor     # another 团长 under the host
    p1: str       # 赣南脐橙 ¥10.00
    p2: str       # 阳山水蜜桃 ¥25.00
    room: str


async def open_shop(api: Api) -> Shop:
    host = await api.host()
    l1 = await api.leader(host.invite_code or "", name="团长一号")
    l1a = await api.leader(l1.invite_code or "", name="团长一号的徒弟")
    l2 = await api.leader(host.invite_code or "", name="团长二号")
    p1 = await product(api, host, "赣南脐橙", 1000)
    p2 = await product(api, host, "阳山水蜜桃", 2500)
    return Shop(host, l1, l1a, l2, p1, p2, await live_room(api, host, [p1, p2]))


# --- the evening, and everything it adds up to --------------------------------------

async def test_an_evening_of_real_orders_adds_up_in_every_figure(
        shop: tuple[web.Application, Api], clock: FakeClock) -> None:
    app, api = shop
    s = await open_shop(api)
    host, rid = s.host, s.room
    stats_path = f"/api/v1/rooms/{rid}/stats"
    a, g = await api.viewer("阿花"), await api.viewer("路过的")
    b, c, d = await api.viewer("贝贝"), await api.viewer("茜茜"), await api.viewer("丁丁")
    e, f = await api.viewer("小鹅"), await api.viewer("=1+2")  # a formula for a name
    tok1, tok1a, tok2 = [await share_link(api, who, rid) for who in (s.l1, s.l1a, s.l2)]

    empty = await api.get(stats_path, token=host.token)
    assert empty.status == 200
    assert empty.body == {"visitors": 0, "viewers_now": 0, "peak_viewers": 0,
                          "chat_messages": 0, "likes": 0, "orders": 0, "buyers": 0,
                          "gmv_cents": 0, "aov_cents": 0, "conversion_rate": 0,
                          "refunds": 0}

    # 12:00 — A and G watch together (no link). A opens a product, adds it to
    # the cart, chats twice, likes 3 times and buys O1: P1 ×1 = 1000.
    sa, sg = SioClient(server_url(api.client), a.token), SioClient(server_url(api.client),
                                                                   g.token)
    await sa.connect()
    await sg.connect()
    assert (await sa.join(rid))["ok"] and (await sg.join(rid))["ok"]
    for step in ("product_opened", "added_to_cart"):
        r = await api.post(f"/api/v1/rooms/{rid}/track", {"event": step}, token=a.token)
        assert r.status == 200 and r.body == {"ok": True}
    assert (await sa.chat(rid, "这个橙子甜吗"))["ok"]
    assert (await sa.chat(rid, "来一箱"))["ok"]
    assert (await sa.call("like", {"room_id": rid, "count": 3}))["ok"]
    clock.advance(1)
    o1 = await buy(api, a, rid, [(s.p1, 1)])
    await run_jobs(app)  # the per-minute roll-up sees A and G present, 3 likes
    await sa.close()
    await sg.close()
    await until_no_viewers(api, host, rid)

    # 12:01 — B opens 团长一号's link in a browser, joins from it (cookie and
    # viewer become one person) and buys O2: P2 ×2 = 5000 (→ l1).
    # C opens the sub-团长's link signed in and buys O3: P1 ×3 = 3000 (→ l1a).
    clock.advance(59)
    vid_b = await visit(api, tok1)
    async with sio_client(api.client, b.token, headers={"Cookie": f"live_vid={vid_b}"}) as sb:
        assert (await sb.join(rid, share_token=tok1))["ok"]
    await until_no_viewers(api, host, rid)
    clock.advance(1)
    o2 = await buy(api, b, rid, [(s.p2, 2)], share_token=tok1)
    clock.advance(1)
    await visit(api, tok1a, viewer=c)
    o3 = await buy(api, c, rid, [(s.p1, 3)], share_token=tok1a)
    assert (o2["leader_id"], o3["leader_id"]) == (s.l1.id, s.l1a.id)

    # 12:02 — D comes by 团长二号's link and buys O4: P1 ×1 = 1000 (refunded
    # later). X only looks (a browser, never signs in). E orders O5 and
    # cancels; F orders O6 and never pays (it expires).
    clock.advance(58)
    await visit(api, tok2, viewer=d)
    clock.advance(1)
    o4 = await buy(api, d, rid, [(s.p1, 1)], share_token=tok2)
    clock.advance(1)
    await visit(api, tok2)
    clock.advance(1)
    o5 = await buy(api, e, rid, [(s.p2, 1)], pay=False,
                   fulfilment={"kind": "delivery", "address": "-3层 快递柜"})
    r = await api.post(f"/api/v1/orders/{o5['id']}/cancel", token=e.token)
    assert r.status == 200 and r["status"] == "cancelled"
    clock.advance(1)
    o6 = await buy(api, f, rid, [(s.p1, 1)], pay=False)

    # 12:04 — the host refunds O4; A buys O7 with a ¥5 coupon: P2 ×1 = 2500 − 500.
    # The sweeper expires O6 (unpaid for 60 s).
    clock.advance(116)
    r = await api.post(f"/api/v1/orders/{o4['id']}/refund", token=host.token)
    assert r.status == 200 and r["status"] == "refunded"
    coupon = await api.post(f"/api/v1/rooms/{rid}/coupons", {
        "title": "立减5元", "discount_cents": 500, "quantity": 10, "valid_for_s": 3600},
        token=host.token)
    assert coupon.status == 201, coupon.body
    claim = await api.post(f"/api/v1/coupons/{coupon['id']}/claim", token=a.token)
    assert claim.status == 201, claim.body
    clock.advance(1)
    o7 = await buy(api, a, rid, [(s.p2, 1)], coupon_claim_id=claim["claim"]["id"])
    assert (o7["discount_cents"], o7["total_cents"]) == (500, 2000)
    await run_jobs(app)
    assert (await api.get(f"/api/v1/orders/{o6['id']}", token=f.token))["status"] == "expired"

    # People in the room: A, G (joined); B (cookie + viewer, one person); C, D
    # (link, signed in); X (link, browser only); E, F (ordered without joining).
    stats = (await api.get(stats_path, token=host.token)).body
    assert stats == {
        "visitors": 8,
        "viewers_now": 0,
        "peak_viewers": 2,           # A and G together
        "chat_messages": 2,
        "likes": 3,
        "orders": 4,                 # O1, O2, O3, O7 (O4 refunded, O5/O6 never paid)
        "buyers": 3,                 # A, B, C
        "gmv_cents": 1000 + 5000 + 3000 + 2000,
        "aov_cents": 11000 // 4,
        "conversion_rate": 0.375,    # 3 / 8
        "refunds": 1,
    }

    funnel = (await api.get(f"{stats_path}/funnel", token=host.token)).body
    assert funnel["room_id"] == rid
    assert funnel["stages"] == ["visited", "joined", "product_opened", "added_to_cart",
                                "ordered", "paid"]
    assert funnel["room"] == {
        "visited": 4,        # B, C, D, X
        "joined": 3,         # A, G, B
        "product_opened": 1, "added_to_cart": 1,  # A
        "ordered": 6,        # A, B, C, D, E, F
        "paid": 4,           # A, B, C, D (D's refund does not unsee the step)
    }
    l1_row = {"leader_id": s.l1.id, "visited": 1, "joined": 1, "product_opened": 0,
              "added_to_cart": 0, "ordered": 1, "paid": 1}                  # B
    l1a_row = {"leader_id": s.l1a.id, "visited": 1, "joined": 0, "product_opened": 0,
               "added_to_cart": 0, "ordered": 1, "paid": 1}                 # C
    l2_row = {"leader_id": s.l2.id, "visited": 2, "joined": 0, "product_opened": 0,
              "added_to_cart": 0, "ordered": 1, "paid": 1}                  # D, X
    # by paid, then visited (descending), then id
    assert funnel["leaders"] == [l2_row, *sorted([l1_row, l1a_row],
                                                 key=lambda x: str(x["leader_id"]))]

    series = (await api.get(f"{stats_path}/series", token=host.token)).body
    assert series["room_id"] == rid
    zero = {"visitors": 0, "viewers": 0, "chat_messages": 0, "likes": 0, "orders": 0,
            "gmv_cents": 0, "refunds": 0}
    assert series["minutes"] == [
        {**zero, "minute": at(0), "visitors": 2, "viewers": 2, "chat_messages": 2,
         "likes": 3, "orders": 1, "gmv_cents": 1000},                       # A, G; O1
        {**zero, "minute": at(60), "visitors": 2, "orders": 2,
         "gmv_cents": 5000 + 3000},                                         # B, C; O2, O3
        {**zero, "minute": at(120), "visitors": 4, "orders": 1,
         "gmv_cents": 1000},                                                # D, X, E, F; O4
        {**zero, "minute": at(180)},                                        # nothing
        {**zero, "minute": at(240), "orders": 1, "gmv_cents": 2000,
         "refunds": 1},                                                     # O7; O4 back
    ]
    window = (await api.get(f"{stats_path}/series?start={at(60)}&end={at(120)}",
                            token=host.token)).body
    assert [m["minute"] for m in window["minutes"]] == [at(60), at(120)]

    # --- the orders export: every order of the host, oldest first -------------
    rows = await csv_rows(api, "/api/v1/stats/orders.csv", host.token)
    assert list(rows[0]) == ["order_id", "room_id", "viewer_id", "viewer_nickname",
                             "status", "items", "items_cents", "discount_cents",
                             "total_cents", "total_yuan", "leader_id", "coupon_claim_id",
                             "group_id", "fulfilment_kind", "fulfilment_detail",
                             "created_at", "paid_at", "closed_at"]
    point = PICKUP["point"]
    assert [list(r.values()) for r in rows] == [
        [o1["id"], rid, a.id, "阿花", "paid", "赣南脐橙 ×1", "1000", "0", "1000", "10.00",
         "", "", "", "pickup", point, at(1), at(1), ""],
        [o2["id"], rid, b.id, "贝贝", "paid", "阳山水蜜桃 ×2", "5000", "0", "5000", "50.00",
         s.l1.id, "", "", "pickup", point, at(61), at(61), ""],
        [o3["id"], rid, c.id, "茜茜", "paid", "赣南脐橙 ×3", "3000", "0", "3000", "30.00",
         s.l1a.id, "", "", "pickup", point, at(62), at(62), ""],
        [o4["id"], rid, d.id, "丁丁", "refunded", "赣南脐橙 ×1", "1000", "0", "1000", "10.00",
         s.l2.id, "", "", "pickup", point, at(121), at(121), at(240)],
        # an address starting with "-" is quoted so a spreadsheet never runs it
        [o5["id"], rid, e.id, "小鹅", "cancelled", "阳山水蜜桃 ×1", "2500", "0", "2500",
         "25.00", "", "", "", "delivery", "'-3层 快递柜", at(123), "", at(123)],
        [o6["id"], rid, f.id, "'=1+2", "expired", "赣南脐橙 ×1", "1000", "0", "1000", "10.00",
         "", "", "", "pickup", point, at(124), "", at(241)],
        [o7["id"], rid, a.id, "阿花", "paid", "阳山水蜜桃 ×1", "2500", "500", "2000", "20.00",
         "", claim["claim"]["id"], "", "pickup", point, at(241), at(241), ""],
    ]
    paid = await csv_rows(api, f"/api/v1/stats/orders.csv?status=paid&room_id={rid}",
                          host.token)
    assert [r["order_id"] for r in paid] == [o1["id"], o2["id"], o3["id"], o7["id"]]

    # --- the commission export: 10 % to the link's 团长, 3 % to its parent ------
    cols = ["order_id", "leader_id", "leader_name", "level", "rate_bps", "base_cents",
            "amount_cents", "amount_yuan", "status", "paid_at", "reversed_at"]
    ledger = await csv_rows(api, "/api/v1/distribution/commissions.csv", host.token)
    o2_l1 = [o2["id"], s.l1.id, "团长一号", "1", "1000", "5000", "500", "5.00", "frozen",
             at(61), ""]
    o3_l1a = [o3["id"], s.l1a.id, "团长一号的徒弟", "1", "1000", "3000", "300", "3.00",
              "frozen", at(62), ""]
    o3_l1 = [o3["id"], s.l1.id, "团长一号", "2", "300", "3000", "90", "0.90", "frozen",
             at(62), ""]
    o4_l2 = [o4["id"], s.l2.id, "团长二号", "1", "1000", "1000", "100", "1.00", "reversed",
             at(121), at(240)]
    assert [[r[k] for k in cols] for r in ledger] == [o2_l1, o3_l1a, o3_l1, o4_l2]
    assert all(r["room_id"] == rid for r in ledger)
    # a 团长 gets its own rows only
    mine = await csv_rows(api, "/api/v1/distribution/commissions.csv", s.l1.token)
    assert [[r[k] for k in cols] for r in mine] == [o2_l1, o3_l1]
    mine = await csv_rows(api, f"/api/v1/distribution/commissions.csv?room_id={rid}",
                          s.l1a.token)
    assert [[r[k] for k in cols] for r in mine] == [o3_l1a]
    reversed_only = await csv_rows(api, "/api/v1/distribution/commissions.csv?status=reversed",
                                   host.token)
    assert [[r[k] for k in cols] for r in reversed_only] == [o4_l2]

    # --- 100 days later, in a second room: B comes back (the 团长 binding has
    # lapsed, so no 团长), K is new through 团长二号's link. The settlement job
    # settles the first evening's commission. ---------------------------------
    clock.advance(100 * 86400)
    p3 = await product(api, host, "奇异果", 500)
    room2 = await live_room(api, host, [s.p1, p3])
    k = await api.viewer("小K")
    o8 = await buy(api, b, room2, [(s.p1, 2)])                      # 2000, no 团长
    await visit(api, await share_link(api, s.l2, room2), viewer=k)
    o9 = await buy(api, k, room2, [(p3, 1)], share_token=await share_link(api, s.l2, room2))
    assert (o8["leader_id"], o9["leader_id"]) == (None, s.l2.id)
    await run_jobs(app)
    day100 = 100 * 86400 + 241

    settled = await csv_rows(api, "/api/v1/distribution/commissions.csv", host.token)
    assert [(r["order_id"], r["leader_id"], r["amount_cents"], r["status"])
            for r in settled] == [
        (o2["id"], s.l1.id, "500", "settled"), (o3["id"], s.l1a.id, "300", "settled"),
        (o3["id"], s.l1.id, "90", "settled"), (o4["id"], s.l2.id, "100", "reversed"),
        (o9["id"], s.l2.id, "50", "frozen")]

    customers = await api.get("/api/v1/stats/customers", token=host.token)
    assert customers.status == 200, customers.body
    assert customers.body == {
        "windows": {"new_days": 30, "active_days": 30, "churn_days": 90},
        "customers": 4,              # A, B, C, K (D's only order was refunded)
        "new": 1,                    # K: first payment within 30 days
        "active": 1,                 # B: paid within 30 days, and before them
        "churned": 2,                # A, C: nothing for 100 days
        "repurchase_rate": 0.5,      # A (O1, O7) and B (O2, O8) of 4
        "gmv_cents": 3000 + 7000 + 3000 + 500,  # A, B, C, K
        "top_products": [            # lines before the coupon; O4 taken back
            {"product_id": s.p2, "title": "阳山水蜜桃", "units": 2 + 1,
             "gmv_cents": 5000 + 2500},
            {"product_id": s.p1, "title": "赣南脐橙", "units": 1 + 3 + 2,
             "gmv_cents": 1000 + 3000 + 2000},
            {"product_id": p3, "title": "奇异果", "units": 1, "gmv_cents": 500},
        ],
        "leaders": [                 # direct attribution, net of refunds
            {"leader_id": s.l1.id, "name": "团长一号", "orders": 1, "gmv_cents": 5000},
            {"leader_id": s.l1a.id, "name": "团长一号的徒弟", "orders": 1, "gmv_cents": 3000},
            {"leader_id": s.l2.id, "name": "团长二号", "orders": 1, "gmv_cents": 500},
        ],
    }
    wide = (await api.get("/api/v1/stats/customers?new_days=200&churn_days=200&top=1",
                          token=host.token)).body
    assert (wide["new"], wide["active"], wide["churned"]) == (4, 1, 0)
    assert [p["product_id"] for p in wide["top_products"]] == [s.p2]
    short = (await api.get("/api/v1/stats/customers?active_days=101",
                           token=host.token)).body
    assert short["active"] == 0      # every first payment is within 101 days

    people = await csv_rows(api, "/api/v1/stats/customers.csv", host.token)
    assert [list(r.values()) for r in people] == [
        [b.id, "贝贝", "2", "7000", "70.00", at(61), at(day100)],
        *sorted([[a.id, "阿花", "2", "3000", "30.00", at(1), at(241)],
                 [c.id, "茜茜", "1", "3000", "30.00", at(62), at(62)]]),
        [k.id, "小K", "1", "500", "5.00", at(day100), at(day100)],
        [d.id, "丁丁", "0", "0", "0.00", at(121), at(121)],  # refunded: no GMV left
    ]
    assert list(people[0]) == ["viewer_id", "viewer_nickname", "orders", "gmv_cents",
                               "gmv_yuan", "first_paid_at", "last_paid_at"]


async def test_exports_belong_to_their_host_and_a_leader_sees_only_its_own(
        shop: tuple[web.Application, Api]) -> None:
    _, api = shop
    s = await open_shop(api)
    other = await api.host()
    other_room = await live_room(api, other, [await product(api, other, "别家的货", 100)])
    viewer = await api.viewer()
    for path in ("/api/v1/stats/orders.csv", "/api/v1/stats/customers.csv"):
        assert (await api.get(path)).status == 401
        for who in (viewer, s.l1):
            r = await api.get(path, token=who.token)
            assert r.status == 403 and r.code == "forbidden"
    ledger = "/api/v1/distribution/commissions.csv"
    assert (await api.get(ledger)).status == 401
    assert (await api.get(ledger, token=viewer.token)).status == 403
    for path in (f"/api/v1/stats/orders.csv?room_id={other_room}",
                 f"{ledger}?room_id={other_room}"):
        r = await api.get(path, token=s.host.token)
        assert r.status == 403 and r.code == "forbidden"
    r = await api.get(f"{ledger}?room_id={other_room}", token=s.l1.token)
    assert r.status == 403 and r.code == "forbidden"
    for path in ("/api/v1/stats/orders.csv?room_id=nope", f"{ledger}?room_id=nope"):
        r = await api.get(path, token=s.host.token)
        assert r.status == 404 and r.code == "not_found"
    for path in ("/api/v1/stats/orders.csv?status=lost", f"{ledger}?status=lost"):
        r = await api.get(path, token=s.host.token)
        assert r.status == 422 and r.code == "invalid"
    # another host's export of this shop's sales is empty
    v = await api.viewer()
    await buy(api, v, s.room, [(s.p1, 1)])
    assert await csv_rows(api, "/api/v1/stats/orders.csv", other.token) == []
    assert len(await csv_rows(api, "/api/v1/stats/orders.csv", s.host.token)) == 1


async def test_a_large_export_streams_every_row_once_across_pages(
        shop: tuple[web.Application, Api], clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Exports are read in keyset pages (500 rows; 7 here, so 31 orders make
    5 pages): no row is repeated or skipped, also where several orders share a
    creation time across a page boundary."""
    from live import csvout

    monkeypatch.setattr(csvout, "PAGE_SIZE", 7)
    _, api = shop
    s = await open_shop(api)
    v = await api.viewer()
    ids = []
    for i in range(31):
        if i % 3 == 0:
            clock.advance(1)
        ids.append((await buy(api, v, s.room, [(s.p1, 1)], pay=i % 2 == 0))["id"])
    rows = await csv_rows(api, "/api/v1/stats/orders.csv", s.host.token)
    assert sorted(r["order_id"] for r in rows) == sorted(ids) and len(rows) == 31
    order_keys = [(r["created_at"], r["order_id"]) for r in rows]
    assert order_keys == sorted(order_keys)
    assert len(await csv_rows(api, "/api/v1/stats/orders.csv?status=paid", s.host.token)) == 16
    people = await csv_rows(api, "/api/v1/stats/customers.csv", s.host.token)
    assert [(r["viewer_id"], r["orders"], r["gmv_cents"]) for r in people] == [
        (v.id, "16", "16000")]


async def test_merging_a_visitor_into_an_already_counted_viewer(
        shop: tuple[web.Application, Api]) -> None:
    _, api = shop
    s = await open_shop(api)
    v = await api.viewer()
    async with sio_client(api.client, v.token) as sock:
        assert (await sock.join(s.room))["ok"]                  # counted as a viewer
    token = await share_link(api, s.l1, s.room)
    vid = await visit(api, token)                               # counted as a browser
    path = f"/api/v1/rooms/{s.room}/stats"
    assert (await api.get(path, token=s.host.token))["visitors"] == 2
    async with sio_client(api.client, v.token, headers={"Cookie": f"live_vid={vid}"}) as sock:
        assert (await sock.join(s.room, share_token=token))["ok"]  # they were one person
    assert (await api.get(path, token=s.host.token))["visitors"] == 1
    funnel = (await api.get(f"{path}/funnel", token=s.host.token)).body
    assert funnel["room"]["visited"] == 1 and funnel["room"]["joined"] == 1


async def test_concurrent_joins_and_payments_count_a_person_once(
        shop: tuple[web.Application, Api]) -> None:
    _, api = shop
    s = await open_shop(api)
    v, w = await api.viewer(), await api.viewer()

    async def join(who: Actor) -> None:
        async with sio_client(api.client, who.token) as sock:
            assert (await sock.join(s.room))["ok"]

    await asyncio.gather(*(join(x) for x in [v, w] * 5))
    placed = [await buy(api, v, s.room, [(s.p1, 1)], pay=False) for _ in range(6)]
    paid = await asyncio.gather(*(api.post(f"/api/v1/orders/{o['id']}/pay", token=v.token)
                                  for o in placed))
    assert [p.status for p in paid] == [200] * 6
    stats = (await api.get(f"/api/v1/rooms/{s.room}/stats", token=s.host.token)).body
    assert (stats["visitors"], stats["buyers"], stats["orders"]) == (2, 1, 6)
    assert (stats["gmv_cents"], stats["conversion_rate"]) == (6000, 0.5)


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
    bad_window = await api.get("/api/v1/stats/customers?new_days=0", token=host.token)
    assert bad_window.status == 422 and bad_window.code == "invalid"
    assert (await api.get("/api/v1/stats/customers", token=viewer.token)).status == 403


async def test_a_stats_call_takes_one_pooled_connection(
        shop: tuple[web.Application, Api]) -> None:
    """The token lookup and the room's counters share one session, so one
    checkout (and on PostgreSQL one pre-ping) per call. (No timers run in this
    app: a job would check out connections of its own meanwhile.)"""
    from sqlalchemy import event

    app, api = shop
    host = await api.host()
    room = await api.room(host)
    checkouts: list[int] = []
    pool = app[keys.ENGINE].sync_engine.pool

    def count(*_: Any) -> None:
        checkouts.append(1)

    event.listen(pool, "checkout", count)
    try:
        r = await api.get(f"/api/v1/rooms/{room['id']}/stats", token=host.token)
    finally:
        event.remove(pool, "checkout", count)
    assert r.status == 200
    assert len(checkouts) == 1


def test_conversion_rate_rounds_to_four_decimals_exactly() -> None:
    assert service.conversion_rate(0, 0) == 0
    assert service.conversion_rate(1, 3) == 0.3333
    assert service.conversion_rate(2, 3) == 0.6667
    assert service.conversion_rate(1, 8) == 0.125
    assert service.conversion_rate(1, 20000) == 0.0001  # 0.00005 rounds half up
    assert service.conversion_rate(1, 20001) == 0.0
    assert service.conversion_rate(7, 7) == 1.0


async def test_paid_and_refunded_orders_reach_the_hosts_webhook(
        shop: tuple[web.Application, Api], aiohttp_server: Any) -> None:
    app, api = shop
    receiver = Receiver()
    receiver.url = str((await aiohttp_server(receiver.app())).make_url("/hook"))
    s = await open_shop(api)
    await api.put("/api/v1/webhooks", {"url": receiver.url}, token=s.host.token)
    v = await api.viewer()
    o = await buy(api, v, s.room, [(s.p2, 1)])
    r = await api.post(f"/api/v1/orders/{o['id']}/refund", token=s.host.token)
    assert r.status == 200
    assert await deliver_due(app) == 2
    paid, refunded = receiver.events("order.paid"), receiver.events("order.refunded")
    assert [ev["data"]["order"]["id"] for ev in paid + refunded] == [o["id"], o["id"]]
    assert paid[0]["data"]["order"]["status"] == "paid"
    assert paid[0]["data"]["order"]["total_cents"] == 2500
    assert paid[0]["data"]["room_id"] == s.room
    assert refunded[0]["data"]["order"]["status"] == "refunded"

