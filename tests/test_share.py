"""Distribution: rules, share links, visits and people, QR and poster, network,
and the ledger driven through the order hooks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from aiohttp import web
from aiohttp.test_utils import TestClient

from live import keys
from live.app import create_app
from live.clock import FakeClock
from live.db import transaction
from live.errors import LiveError
from live.settings import Settings
from live.share import service
from live.share.tokens import make_token, read_token
from live.webhooks.models import WebhookOutbox
from tests.helpers import Api
from tests.share_helpers import StandInOrder, chain, open_link, share_link, share_param


@pytest.fixture
async def clocked(make_settings: Callable[..., Settings], clock: FakeClock,
                  aiohttp_client: Any) -> Api:
    app = create_app(make_settings(), clock=clock, run_timers=False)
    return Api(await aiohttp_client(app))


def app_of(api: Api) -> web.Application:
    client: TestClient = api.client  # type: ignore[type-arg]
    return client.server.app  # type: ignore[no-any-return]


# --- tokens -------------------------------------------------------------------

def test_tokens_are_url_safe_signed_and_refuse_any_change() -> None:
    token = make_token("k" * 32, room_id="room_1", leader_id="acc_2")
    assert all(ch.isalnum() or ch in "-_" for ch in token)
    claims = read_token("k" * 32, token)
    assert claims is not None and (claims.room_id, claims.leader_id) == ("room_1", "acc_2")
    assert read_token("another-secret", token) is None
    for i in range(len(token)):
        for ch in ("A", "b", "-", "_"):
            if token[i] != ch:
                changed = token[:i] + ch + token[i + 1:]
                assert read_token("k" * 32, changed) is None, (i, ch)
    assert read_token("k" * 32, token + "A") is None
    assert read_token("k" * 32, token[:-1]) is None
    assert read_token("k" * 32, "") is None
    assert read_token("k" * 32, "a.b") is None


# --- rules --------------------------------------------------------------------

async def test_rules_default_then_change_then_validation(api: Api) -> None:
    host = await api.host()
    r = await api.get("/api/v1/distribution/rules", token=host.token)
    assert r.status == 200
    assert {k: r[k] for k in ("levels", "rates_bps", "attribution_window_h",
                              "refund_window_h", "model", "warnings")} == {
        "levels": 2, "rates_bps": [1000, 300], "attribution_window_h": 168,
        "refund_window_h": 168, "model": "last_click", "warnings": []}
    r = await api.put("/api/v1/distribution/rules", {
        "levels": 1, "rates_bps": [1500], "attribution_window_h": 24, "refund_window_h": 72,
        "model": "first_click"}, token=host.token)
    assert r.status == 200 and r["levels"] == 1 and r["rates_bps"] == [1500]
    assert r["model"] == "first_click" and r["warnings"] == []
    got = await api.get("/api/v1/distribution/rules", token=host.token)
    assert got["rates_bps"] == [1500] and got["attribution_window_h"] == 24
    for body, field in [
        ({"levels": 4, "rates_bps": [100, 100, 100, 100]}, "levels"),
        ({"levels": 0, "rates_bps": []}, "levels"),
        ({"levels": 2, "rates_bps": [100]}, "rates_bps"),
        ({"levels": 2, "rates_bps": [9000, 2000]}, "rates_bps"),
        ({"levels": 1, "rates_bps": [10001]}, "rates_bps.0"),
        ({"levels": 1, "rates_bps": [-1]}, "rates_bps.0"),
        ({"levels": "2", "rates_bps": [100, 100]}, "levels"),
        ({"levels": 1, "rates_bps": [1.5]}, "rates_bps.0"),
        ({"levels": 1, "rates_bps": [100], "model": "any_click"}, "model"),
        ({"levels": 1, "rates_bps": [100], "attribution_window_h": 0}, "attribution_window_h"),
    ]:
        bad = await api.put("/api/v1/distribution/rules", body, token=host.token)
        assert bad.status == 422 and bad.code == "invalid", (body, bad.body)
        assert field in [f["field"] for f in bad.body["error"]["fields"]], (body, bad.body)
    # nothing of that changed the rules
    assert (await api.get("/api/v1/distribution/rules", token=host.token))["rates_bps"] == [1500]


async def test_three_levels_are_allowed_with_a_legal_warning(api: Api) -> None:
    host = await api.host()
    r = await api.put("/api/v1/distribution/rules",
                      {"levels": 3, "rates_bps": [1000, 300, 100]}, token=host.token)
    assert r.status == 200 and len(r["warnings"]) == 1
    warning = r["warnings"][0]
    for needle in ("禁止传销条例", "第七条", "团队计酬", "三级", "三十人", "Art. 7", "30"):
        assert needle in warning, needle
    assert (await api.get("/api/v1/distribution/rules", token=host.token))["warnings"] == [
        warning]


async def test_rules_are_the_hosts_and_leaders_read_their_hosts(api: Api) -> None:
    host, other = await api.host(), await api.host()
    leader = await api.leader(host.invite_code or "")
    viewer = await api.viewer()
    await api.put("/api/v1/distribution/rules", {"levels": 1, "rates_bps": [800]},
                  token=host.token)
    assert (await api.get("/api/v1/distribution/rules", token=other.token))["levels"] == 2
    assert (await api.get("/api/v1/distribution/rules", token=leader.token))["rates_bps"] == [
        800]
    put = await api.put("/api/v1/distribution/rules", {"levels": 1, "rates_bps": [1]},
                        token=leader.token)
    assert put.status == 403 and put.code == "forbidden"
    assert (await api.get("/api/v1/distribution/rules", token=viewer.token)).status == 403
    assert (await api.get("/api/v1/distribution/rules")).status == 401


# --- share links --------------------------------------------------------------

async def test_only_a_leader_of_the_rooms_host_creates_share_links(api: Api) -> None:
    host, other_host = await api.host(), await api.host()
    leader = await api.leader(host.invite_code or "")
    stranger = await api.leader(other_host.invite_code or "")
    viewer = await api.viewer()
    room = await api.room(host)
    path = f"/api/v1/rooms/{room['id']}/share-links"
    r = await api.post(path, token=leader.token)
    assert r.status == 201
    token = r["token"]
    assert r["url"] == f"/r/{token}" and r["qr_url"] == f"/r/{token}.svg"
    assert all(ch.isalnum() or ch in "-_" for ch in token)
    again = await api.post(path, token=leader.token)
    assert again["token"] == token  # one link per 团长 and room
    for who in (host, other_host, stranger, viewer):
        refused = await api.post(path, token=who.token)
        assert refused.status == 403 and refused.code == "forbidden", who
    assert (await api.post(path)).status == 401
    missing = await api.post("/api/v1/rooms/room_nope/share-links", token=leader.token)
    assert missing.status == 404 and missing.code == "not_found"


async def test_opening_a_link_records_a_visit_sets_the_cookie_and_redirects(
        api: Api) -> None:
    host = await api.host()
    leader = await api.leader(host.invite_code or "")
    room = await api.room(host)
    token = await share_link(api, leader, room["id"])
    async with api.client.get(f"/r/{token}", allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == f"/watch/{room['id']}?s={token}"
        set_cookie = resp.headers.getall("Set-Cookie")
        assert len(set_cookie) == 1
        header = set_cookie[0]
        for part in ("live_vid=", "HttpOnly", "Path=/", "SameSite=Lax", "Max-Age=31536000"):
            assert part.lower() in header.lower(), (part, header)
        vid = resp.cookies["live_vid"].value
    # a browser that has the cookie keeps it
    status, location, set_again = await open_link(api, token, cookie=vid)
    assert status == 302 and location is not None and share_param(location) == token
    assert set_again is None
    stats = await api.get(f"/api/v1/me/stats?room_id={room['id']}", token=leader.token)
    assert stats.status == 200
    assert (stats["visits"], stats["visitors"]) == (2, 1)


async def test_changed_and_unknown_tokens_are_not_found(api: Api) -> None:
    host = await api.host()
    leader = await api.leader(host.invite_code or "")
    room = await api.room(host)
    token = await share_link(api, leader, room["id"])
    flipped = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    forged = make_token("not-the-server-secret", room_id=room["id"], leader_id=leader.id)
    for bad in (flipped, forged, token[:-1], "nope", token + "x"):
        for suffix in ("", ".svg", ".png", "/poster.svg"):
            r = await api.get(f"/r/{bad}{suffix}")
            assert r.status == 404, (bad, suffix, r.status)
    stats = await api.get("/api/v1/me/stats", token=leader.token)
    assert stats["visits"] == 0


async def test_qr_code_and_poster(api: Api) -> None:
    host = await api.host("鲜果<团方>")
    leader = await api.leader(host.invite_code or "", "王姐&团长")
    room = await api.room(host)
    token = await share_link(api, leader, room["id"])
    async with api.client.get(f"/r/{token}.svg") as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
        qr = await resp.text()
    assert qr.lstrip().startswith("<svg") and "path" in qr
    async with api.client.get(f"/r/{token}.png") as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
        assert (await resp.read())[:8] == b"\x89PNG\r\n\x1a\n"
    async with api.client.get(f"/r/{token}/poster.svg") as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
        poster = await resp.text()
    import xml.etree.ElementTree as ET

    root = ET.fromstring(poster)  # well-formed even with <, & in names
    assert root.get("width") == "750"
    text = "".join(root.itertext())
    for needle in ("鲜果<团方>", "王姐&团长", "今晚鲜果专场", "长按识别二维码"):
        assert needle in text, needle
    # nothing of that was a visit
    assert (await api.get("/api/v1/me/stats", token=leader.token))["visits"] == 0


async def test_visitors_are_people_a_cookie_and_its_viewer_are_one(clocked: Api,
                                                                  clock: FakeClock) -> None:
    api = clocked
    host = await api.host()
    leader = await api.leader(host.invite_code or "")
    room = await api.room(host)
    token = await share_link(api, leader, room["id"])
    app = app_of(api)
    _, _, vid = await open_link(api, token)
    assert vid
    await open_link(api, token, cookie=vid)
    viewer = await api.viewer()
    # the player joins with ?s= and the same cookie: linked, no new visit
    await join(app, room["id"], await principal(app, viewer), token, vid, clock.now())
    stats = await api.get(f"/api/v1/me/stats?room_id={room['id']}", token=leader.token)
    assert (stats["visits"], stats["visitors"]) == (2, 1)
    # the same viewer on another phone (new cookie), by ?viewer_token=: one person
    _, _, vid2 = await open_link(api, token, viewer_token=viewer.token)
    assert vid2 and vid2 != vid
    stats = await api.get(f"/api/v1/me/stats?room_id={room['id']}", token=leader.token)
    assert (stats["visits"], stats["visitors"]) == (3, 1)
    # somebody else
    await open_link(api, token)
    stats = await api.get(f"/api/v1/me/stats?room_id={room['id']}", token=leader.token)
    assert (stats["visits"], stats["visitors"]) == (4, 2)
    # a viewer joining with the token without any cookie counts a visit once
    other = await api.viewer()
    for _ in range(2):
        await join(app, room["id"], await principal(app, other), token, None, clock.now())
    stats = await api.get(f"/api/v1/me/stats?room_id={room['id']}", token=leader.token)
    assert (stats["visits"], stats["visitors"]) == (5, 3)


async def join(app: web.Application, room_id: str, who: Any, share_token: str | None,
               visitor_id: str | None, now: Any) -> None:
    """What the Socket.IO join does in its transaction: run the join hooks."""
    async with transaction(app) as session:
        for hook in app[keys.JOIN_HOOKS]:
            await hook(session, room_id=room_id, principal=who, share_token=share_token,
                       visitor_id=visitor_id, now=now)


async def principal(app: web.Application, actor: Any) -> Any:
    from live.accounts.service import principal_for_token

    async with app[keys.SESSIONS]() as session:
        return await principal_for_token(session, actor.token)


async def test_join_with_a_changed_or_foreign_token_is_refused(clocked: Api,
                                                               clock: FakeClock) -> None:
    api = clocked
    app = app_of(api)
    host = await api.host()
    leader = await api.leader(host.invite_code or "")
    room, other_room = await api.room(host), await api.room(host)
    token = await share_link(api, leader, room["id"])
    viewer = await api.viewer()
    who = await principal(app, viewer)
    flipped = token[:3] + ("x" if token[3] != "x" else "y") + token[4:]
    for room_id, tok in ((room["id"], flipped), (other_room["id"], token)):
        with pytest.raises(LiveError) as err:
            await join(app, room_id, who, tok, None, clock.now())
        assert err.value.code == "invalid"
        assert err.value.extra["fields"][0]["field"] == "share_token"


# --- network ------------------------------------------------------------------

async def test_network_shows_parent_children_and_invite_code(api: Api) -> None:
    ch = await chain(api)
    r = await api.get("/api/v1/me/network", token=ch.host.token)
    assert r.status == 200 and r["parent"] is None
    assert r["invite_code"] == ch.host.invite_code
    assert [c["id"] for c in r["children"]] == [ch.a.id]
    assert r["children"][0]["children"] == 1 and r["children"][0]["visitors"] == 0
    token = await share_link(api, ch.b, str(ch.room["id"]))
    await open_link(api, token)
    r = await api.get("/api/v1/me/network", token=ch.a.token)
    assert r["parent"]["id"] == ch.host.id and r["invite_code"] == ch.a.invite_code
    [b] = r["children"]
    assert b["id"] == ch.b.id and b["name"] == ch.b.name
    assert (b["visits"], b["visitors"], b["buyers"], b["conversion_rate"]) == (1, 1, 0, 0)
    r = await api.get("/api/v1/me/network", token=ch.c.token)
    assert r["parent"]["id"] == ch.b.id and r["children"] == []
    viewer = await api.viewer()
    assert (await api.get("/api/v1/me/network", token=viewer.token)).status == 403


# --- the ledger through the order hooks -----------------------------------------

async def pay(app: web.Application, order: StandInOrder, now: Any) -> None:
    """Distribution's own paid hook (the order flow through cart is in test_share_orders)."""
    assert service.on_paid in app[keys.ORDER_HOOKS].paid
    async with transaction(app) as session:
        await service.on_paid(session, order, now)


async def refund(app: web.Application, order: StandInOrder, now: Any) -> None:
    assert service.on_refunded in app[keys.ORDER_HOOKS].refunded
    async with transaction(app) as session:
        await service.on_refunded(session, order, now)


async def attribute(app: web.Application, *, viewer_id: str, room_id: str,
                    share_token: str | None, now: Any,
                    visitor_id: str | None = None) -> str | None:
    hook = app[keys.ORDER_HOOKS].attribute
    assert hook is not None
    async with transaction(app) as session:
        return await hook(session, viewer_id=viewer_id, room_id=room_id,
                          share_token=share_token, visitor_id=visitor_id, now=now)


async def test_two_levels_pay_the_sharer_and_its_parent_only(clocked: Api,
                                                             clock: FakeClock) -> None:
    api, app = clocked, app_of(clocked)
    ch = await chain(api)
    room_id = str(ch.room["id"])
    token = await share_link(api, ch.c, room_id)
    viewer = await api.viewer()
    leader_id = await attribute(app, viewer_id=viewer.id, room_id=room_id,
                                share_token=token, now=clock.now())
    assert leader_id == ch.c.id
    order = StandInOrder("ord_1", room_id, viewer.id, leader_id, 12345)
    await pay(app, order, clock.now())
    await pay(app, order, clock.now())  # a repeated confirmation writes nothing more
    c = await api.get("/api/v1/me/commissions", token=ch.c.token)
    assert [(e["level"], e["amount_cents"], e["status"]) for e in c["entries"]] == [
        (1, 1234, "frozen")]
    assert (c["frozen_cents"], c["settled_cents"], c["reversed_cents"]) == (1234, 0, 0)
    b = await api.get("/api/v1/me/commissions", token=ch.b.token)
    assert [(e["level"], e["amount_cents"]) for e in b["entries"]] == [(2, 370)]
    a = await api.get("/api/v1/me/commissions", token=ch.a.token)
    assert a["entries"] == [] and a["frozen_cents"] == 0


async def test_settlement_after_the_refund_window_and_refunds(clocked: Api,
                                                              clock: FakeClock) -> None:
    api, app = clocked, app_of(clocked)
    ch = await chain(api)
    room_id = str(ch.room["id"])
    await api.put("/api/v1/distribution/rules", {"levels": 2, "rates_bps": [1000, 500],
                                                 "refund_window_h": 24}, token=ch.host.token)
    token = await share_link(api, ch.b, room_id)
    v1, v2 = await api.viewer(), await api.viewer()
    orders = []
    for i, v in enumerate((v1, v2)):
        lid = await attribute(app, viewer_id=v.id, room_id=room_id, share_token=token,
                              now=clock.now())
        orders.append(StandInOrder(f"ord_{i}", room_id, v.id, lid, 10000))
    await pay(app, orders[0], clock.now())
    await pay(app, orders[1], clock.now())
    await refund(app, orders[0], clock.now())  # before settlement: reversed
    clock.advance(24 * 3600 - 1)
    await app[keys.JOBS].run_all(app)
    b = await api.get("/api/v1/me/commissions", token=ch.b.token)
    assert (b["frozen_cents"], b["settled_cents"], b["reversed_cents"]) == (1000, 0, 1000)
    clock.advance(1)
    await app[keys.JOBS].run_all(app)
    b = await api.get("/api/v1/me/commissions", token=ch.b.token)
    assert (b["frozen_cents"], b["settled_cents"], b["reversed_cents"]) == (0, 1000, 1000)
    a = await api.get("/api/v1/me/commissions", token=ch.a.token)
    assert (a["frozen_cents"], a["settled_cents"], a["reversed_cents"]) == (0, 500, 500)
    await refund(app, orders[1], clock.now())  # after settlement: settled stays
    b = await api.get("/api/v1/me/commissions", token=ch.b.token)
    assert (b["frozen_cents"], b["settled_cents"], b["reversed_cents"]) == (0, 1000, 1000)
    stats = await api.get("/api/v1/me/stats", token=ch.b.token)
    assert (stats["orders"], stats["buyers"], stats["gmv_cents"]) == (0, 0, 0)


async def test_settlement_run_concurrently_settles_each_entry_once(
        clocked: Api, clock: FakeClock) -> None:
    api, app = clocked, app_of(clocked)
    ch = await chain(api)
    room_id = str(ch.room["id"])
    token = await share_link(api, ch.c, room_id)
    for i in range(5):
        v = await api.viewer()
        lid = await attribute(app, viewer_id=v.id, room_id=room_id, share_token=token,
                              now=clock.now())
        await pay(app, StandInOrder(f"ord_{i}", room_id, v.id, lid, 1000), clock.now())
    clock.advance(168 * 3600)

    async def settle() -> int:
        async with transaction(app) as session:
            return await service.settle_due(session, now=clock.now())

    counts = await asyncio.gather(*(settle() for _ in range(4)))
    assert sum(counts) == 10  # 5 orders x 2 levels, each settled by one run
    assert await settle() == 0
    # each settlement is announced once, to the host, in the settling transaction
    async with app[keys.SESSIONS]() as session:
        announced = (await session.scalars(
            select(WebhookOutbox).where(WebhookOutbox.event == "commission.settled"))).all()
    assert len(announced) == 10
    assert {e.host_id for e in announced} == {ch.host.id}
    assert len({e.payload["entry"]["id"] for e in announced}) == 10
    c = await api.get("/api/v1/me/commissions", token=ch.c.token)
    assert (c["frozen_cents"], c["settled_cents"]) == (0, 500)


async def test_commission_never_exceeds_the_configured_share(clocked: Api,
                                                             clock: FakeClock) -> None:
    api, app = clocked, app_of(clocked)
    ch = await chain(api)
    room_id = str(ch.room["id"])
    await api.put("/api/v1/distribution/rules", {"levels": 3, "rates_bps": [3333, 3333, 3333]},
                  token=ch.host.token)
    token = await share_link(api, ch.c, room_id)
    for i, total in enumerate((1, 7, 99, 100, 12345, 10**10)):
        v = await api.viewer()
        lid = await attribute(app, viewer_id=v.id, room_id=room_id, share_token=token,
                              now=clock.now())
        await pay(app, StandInOrder(f"o{i}", room_id, v.id, lid, total), clock.now())
        paid = 0
        for who in (ch.a, ch.b, ch.c):
            c = await api.get("/api/v1/me/commissions", token=who.token)
            paid += sum(e["amount_cents"] for e in c["entries"] if e["order_id"] == f"o{i}")
        assert paid == 3 * (total * 3333 // 10000) <= total * 9999 // 10000


async def test_ledger_csv_for_the_host_and_each_leader(clocked: Api, clock: FakeClock) -> None:
    api, app = clocked, app_of(clocked)
    ch = await chain(api)
    room_id = str(ch.room["id"])
    token = await share_link(api, ch.c, room_id)
    v = await api.viewer()
    lid = await attribute(app, viewer_id=v.id, room_id=room_id, share_token=token,
                          now=clock.now())
    await pay(app, StandInOrder("ord_csv", room_id, v.id, lid, 9990), clock.now())
    async with api.client.get("/api/v1/distribution/commissions.csv",
                              headers={"Authorization": f"Bearer {ch.host.token}"}) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        text = (await resp.read()).decode("utf-8-sig")
    import csv as csvmod

    rows = list(csvmod.DictReader(text.splitlines()))
    assert [(r["leader_id"], r["level"], r["amount_cents"], r["amount_yuan"], r["status"])
            for r in rows] == [(ch.c.id, "1", "999", "9.99", "frozen"),
                               (ch.b.id, "2", "299", "2.99", "frozen")]
    async with api.client.get("/api/v1/distribution/commissions.csv",
                              headers={"Authorization": f"Bearer {ch.b.token}"}) as resp:
        assert resp.status == 200  # a 团长 gets its own rows only
        own = list(csvmod.DictReader((await resp.read()).decode("utf-8-sig").splitlines()))
    assert [(r["leader_id"], r["amount_cents"]) for r in own] == [(ch.b.id, "299")]
    viewer = await api.get("/api/v1/distribution/commissions.csv", token=v.token)
    assert viewer.status == 403
