"""The authorization matrix: every declared endpoint × every kind of caller.

Part one (`test_every_endpoint_refuses_anonymous_and_wrong_roles`): anonymous
callers and forged tokens get 401 wherever a token is required, and each role
an endpoint does not admit gets 403, before anything else is looked at.

Part two (`test_ownership_matrix`): one table, `TABLE`, with a row per
declared endpoint. Each row is called, with a valid request on a real
resource of the owning host, by seven callers in this order:

    anon    no token
    viewer  a viewer who has done nothing in the room
    buyer   the viewer who joined the room and owns the world's orders
    团长    a 团长 of the owning host
    团长²   a 团长 of the other host
    other   another host
    host    the host who owns the room, product, sale, order, …

and each answer must be the row's status (and contract code: 401
`unauthorized`, 403 `forbidden`, 404 `not_found`, 409 `conflict`, unless the
cell names another). The owner goes last, so a call that changes state (end a
sale, refund an order) runs after everyone else was refused. A declared
endpoint without a row fails the test, and so does a row for an endpoint that
no longer exists. Besides the status, no answer to a stranger (viewer, 团长²,
other host) may contain the world's private values: its orders' ids, the
buyer's id, the owning host's webhook URL.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from live.system import ENDPOINTS
from tests.commerce_helpers import PICKUP, flash, order
from tests.helpers import Actor, Api
from tests.realtime_helpers import sio_client
from tests.share_helpers import share_link
from tests.video_clients import SyntheticVideo, new_pc, whep, whip

CALLERS = ("anon", "viewer", "buyer", "团长", "团长²", "other", "host")
STRANGERS = ("viewer", "团长²", "other")
DEFAULT_CODE = {401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
                422: "invalid", 429: "rate_limited", 400: "invalid"}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "nope", path)


async def test_every_endpoint_refuses_anonymous_and_wrong_roles(api: Api,
                                                                app: web.Application) -> None:
    host = await api.host()
    leader = await api.leader(host.invite_code or "")
    viewer = await api.viewer()
    tokens = {"host": host.token, "leader": leader.token, "viewer": viewer.token}
    endpoints = [e for e in app[ENDPOINTS] if e.auth is not None]
    assert len(endpoints) >= 5
    for e in endpoints:
        path = concrete(e.path)
        r = await api.call(e.method, path, {})
        assert r.status == 401 and r.code == "unauthorized", (e.method, e.path, r.body)
        r = await api.call(e.method, path, {}, token="forged-token")
        assert r.status == 401, (e.method, e.path, r.body)
        if "any" in e.auth:
            continue
        for role, token in tokens.items():
            if role in e.auth:
                continue
            r = await api.call(e.method, path, {}, token=token)
            assert r.status == 403 and r.code == "forbidden", (role, e.method, e.path, r.body)


# --- the world every row acts on ----------------------------------------------------

@dataclass
class World:
    api: Api
    callers: dict[str, Actor | None]
    host: Actor
    other: Actor
    buyer: Actor
    leader: Actor
    client: TestClient  # type: ignore[type-arg]
    params: dict[str, str] = field(default_factory=dict)
    private: set[str] = field(default_factory=set)  # never shown to a stranger
    peers: list[Any] = field(default_factory=list)  # our WebRTC ends, closed at the end

    async def room(self, **kw: Any) -> dict[str, Any]:
        return await self.api.room(self.host, **kw)


async def build_world(api: Api, client: TestClient) -> World:  # type: ignore[type-arg]
    host, other = await api.host(), await api.host()
    leader = await api.leader(host.invite_code or "")
    leader2 = await api.leader(other.invite_code or "")
    viewer, buyer = await api.viewer(), await api.viewer("买家")
    w = World(api, {"anon": None, "viewer": viewer, "buyer": buyer, "团长": leader,
                    "团长²": leader2, "other": other, "host": host},
              host, other, buyer, leader, client)
    room = await api.room(host, products=2)
    rid = room["id"]
    product, on_sale = (p["id"] for p in room["shelf"])
    sale = await flash(api, host, room, on_sale, quantity=5)
    token = await share_link(api, leader, rid)
    async with sio_client(client, buyer.token) as s:  # coupons need a viewer who joined
        assert (await s.join(rid, share_token=token))["ok"]
    paid = await order(api, buyer, rid, [(product, 1)], share_token=token)
    assert paid.status == 201, paid.body
    assert (await api.post(f"/api/v1/orders/{paid['id']}/pay", token=buyer.token)).status == 200
    coupon = await api.post(f"/api/v1/rooms/{rid}/coupons", {
        "title": "满10减1", "discount_cents": 100, "quantity": 10, "valid_for_s": 600},
        token=host.token)
    offer = await api.post(f"/api/v1/rooms/{rid}/group-buys", {
        "product_id": product, "price_cents": 990, "group_size": 3, "window_s": 600},
        token=host.token)
    opened = await order(api, buyer, rid, [(product, 1)], group_buy_id=offer["id"])
    assert opened.status == 201, opened.body
    draw = await api.post(f"/api/v1/rooms/{rid}/draws", {
        "prize": "脐橙一箱", "winners": 1, "eligibility": "joined", "duration_s": 600},
        token=host.token)
    for who in (host, other):
        r = await api.put("/api/v1/webhooks", {"url": f"http://127.0.0.1:9/{who.id}"},
                          token=who.token)
        assert r.status == 200, r.body
    theirs = await api.room(other, products=1)
    w.params = {"other_room_id": theirs["id"], "other_product_id": theirs["shelf"][0]["id"],
                "room_id": rid, "product_id": product, "sale_id": sale["id"],
                "order_id": paid["id"], "coupon_id": coupon["id"],
                "group_buy_id": offer["id"], "group_id": opened["group_id"],
                "draw_id": draw["id"], "token": token, "session_id": "no-such-session"}
    w.private = {paid["id"], opened["id"], buyer.id, f"http://127.0.0.1:9/{host.id}"}
    return w


# --- fresh resources for rows whose owner call changes state -------------------------

Setup = Callable[[World], Awaitable[dict[str, str]]]


async def scheduled_room(w: World) -> dict[str, str]:
    return {"room_id": (await w.room(live=False))["id"]}


async def fresh_room(w: World) -> dict[str, str]:
    room = await w.room(products=1)
    return {"room_id": room["id"], "product_id": room["shelf"][0]["id"]}


async def fresh_sale(w: World) -> dict[str, str]:
    room = await w.room(products=1)
    return {"sale_id": (await flash(w.api, w.host, room, room["shelf"][0]["id"]))["id"]}


async def fresh_draw(w: World) -> dict[str, str]:
    room = await w.room()
    r = await w.api.post(f"/api/v1/rooms/{room['id']}/draws", {
        "prize": "福袋", "winners": 1, "eligibility": "joined", "duration_s": 600},
        token=w.host.token)
    return {"draw_id": r["id"]}


async def publishing(w: World) -> dict[str, str]:
    """A room whose host publishes (a real WHIP session from our own peer)."""
    room = await w.room()
    base = str(w.client.make_url("")).rstrip("/")
    pub = await whip(w.client.session, base, room["id"], w.host.token,
                     SyntheticVideo(160, 120, fps=5))
    assert pub.status == 201 and pub.location, pub.body
    w.peers.append(pub.pc)
    return {"room_id": room["id"], "session_id": pub.location.rsplit("/", 1)[1]}


async def offering(w: World) -> dict[str, str]:
    """A room, and a real SDP offer to publish into it."""
    pc = new_pc()
    w.peers.append(pc)
    pc.addTransceiver(SyntheticVideo(160, 120, fps=5), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return {"room_id": (await w.room())["id"], "offer": pc.localDescription.sdp}


async def watching(w: World) -> dict[str, str]:
    """…and the host also watches it (WHEP takes any token): a session of the host's."""
    params = await publishing(w)
    base = str(w.client.make_url("")).rstrip("/")
    watch = await whep(w.client.session, f"{base}/api/v1/rooms/{params['room_id']}/whep",
                       w.host.token)
    assert watch.status == 201 and watch.location, watch.body
    w.peers.append(watch.pc)
    return {"room_id": params["room_id"], "session_id": watch.location.rsplit("/", 1)[1]}


async def pending_order(w: World) -> dict[str, str]:
    r = await order(w.api, w.buyer, w.params["room_id"], [(w.params["product_id"], 1)])
    w.private.add(r["id"])
    return {"order_id": r["id"]}


async def paid_order(w: World) -> dict[str, str]:
    params = await pending_order(w)
    r = await w.api.post(f"/api/v1/orders/{params['order_id']}/pay", token=w.buyer.token)
    assert r.status == 200, r.body
    return params


# --- the table ---------------------------------------------------------------------

Body = Callable[[dict[str, str]], Any] | dict[str, Any] | None


@dataclass
class Row:
    method: str
    path: str
    answers: str  # one cell per caller in CALLERS order: "403" or "409:room_not_live"
    body: Body = None
    setup: Setup | None = None
    query: str = ""  # e.g. "room_id={room_id}"
    headers: Callable[[], dict[str, str]] | None = None
    raw: Callable[[dict[str, str]], bytes] | None = None  # a non-JSON body (SDP)


def signup(_: dict[str, str]) -> dict[str, Any]:
    return {"name": f"new-{secrets.token_hex(4)}", "password": "password-123", "role": "host"}


def key() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(8)}


SDP = {"Content-Type": "application/sdp"}
PUBLIC_200 = "200 200 200 200 200 200 200"
HOST_ONLY = "401 403 403 403 403 403 {ok}"
ANY_HOST = "401 403 403 403 403 {ok} {ok}"
VIEWERS = "401 {ok} {ok} 403 403 403 403"
ACCOUNTS = "401 403 403 200 200 200 200"
LEADERS = "401 403 403 200 200 403 403"

#    method  path                                            anon viewer buyer 团长 团长² other host
TABLE = [
    Row("GET", "/healthz", PUBLIC_200),
    Row("GET", "/metrics", PUBLIC_200),
    Row("GET", "/api/v1/openapi.json", PUBLIC_200),
    # accounts: not resources; everyone may sign up, sign in, be a guest
    Row("POST", "/api/v1/accounts", "201 201 201 201 201 201 201", body=signup),
    Row("POST", "/api/v1/sessions", PUBLIC_200,
        body=lambda p: {"name": p["host_name"], "password": "password-123"}),
    Row("POST", "/api/v1/viewers", "201 201 201 201 201 201 201", body={"nickname": "客"}),
    Row("GET", "/api/v1/me", "401 200 200 200 200 200 200"),
    # rooms and products
    Row("POST", "/api/v1/rooms", ANY_HOST.format(ok=201), body={"title": "新场次"}),
    Row("GET", "/api/v1/rooms", PUBLIC_200, query="host_id={host_id}"),
    Row("GET", "/api/v1/rooms/{room_id}", PUBLIC_200),
    Row("POST", "/api/v1/rooms/{room_id}/status", HOST_ONLY.format(ok=200),
        body={"status": "live"}, setup=scheduled_room),
    Row("PUT", "/api/v1/rooms/{room_id}/playback", HOST_ONLY.format(ok=200),
        body={"playback": {"kind": "hls", "url": "https://cdn.example/live.m3u8"}},
        setup=fresh_room),
    Row("POST", "/api/v1/products", ANY_HOST.format(ok=201),
        body={"title": "橙", "price_cents": 100, "stock": 1}),
    Row("GET", "/api/v1/products/{product_id}", PUBLIC_200),
    Row("PATCH", "/api/v1/products/{product_id}", HOST_ONLY.format(ok=200),
        body={"title": "赣南脐橙 5斤"}),
    Row("PUT", "/api/v1/rooms/{room_id}/shelf", HOST_ONLY.format(ok=200),
        body=lambda p: {"product_ids": [p["product_id"]]}, setup=fresh_room),
    Row("POST", "/api/v1/rooms/{room_id}/pin", HOST_ONLY.format(ok=200),
        body=lambda p: {"product_id": p["product_id"]}),
    # flash sales, cart, orders
    Row("POST", "/api/v1/rooms/{room_id}/flash-sales", HOST_ONLY.format(ok=201),
        body=lambda p: {"product_id": p["product_id"], "price_cents": 990, "quantity": 5,
                        "start_in_s": 0, "duration_s": 600}, setup=fresh_room),
    Row("GET", "/api/v1/flash-sales/{sale_id}", PUBLIC_200),
    Row("POST", "/api/v1/flash-sales/{sale_id}/end", HOST_ONLY.format(ok=200),
        setup=fresh_sale),
    Row("PUT", "/api/v1/rooms/{room_id}/cart", VIEWERS.format(ok=200),
        body=lambda p: {"items": [{"product_id": p["product_id"], "quantity": 1}]}),
    Row("GET", "/api/v1/rooms/{room_id}/cart", VIEWERS.format(ok=200)),
    Row("POST", "/api/v1/orders", VIEWERS.format(ok=201), headers=key,
        body=lambda p: {"room_id": p["room_id"], "fulfilment": PICKUP,
                        "items": [{"product_id": p["product_id"], "quantity": 1}]}),
    Row("GET", "/api/v1/orders/{order_id}", "401 403 200 403 403 403 200"),
    Row("GET", "/api/v1/orders", "401 200 200 403 403 403 200", query="room_id={room_id}"),
    Row("POST", "/api/v1/orders/{order_id}/pay", "401 403 200 403 403 403 403",
        setup=pending_order),
    Row("POST", "/api/v1/orders/{order_id}/cancel", "401 403 200 403 403 403 403",
        setup=pending_order),
    Row("POST", "/api/v1/orders/{order_id}/refund", HOST_ONLY.format(ok=200),
        setup=paid_order),
    # bearer tokens mean nothing here: only the provider's signature does
    Row("POST", "/api/v1/payments/webhook", "401 401 401 401 401 401 401",
        body=lambda p: {"order_id": p["order_id"], "provider": "x", "payment_ref": "y"}),
    # chat and moderation
    Row("POST", "/api/v1/rooms/{room_id}/moderation", HOST_ONLY.format(ok=200),
        body={"action": "slow_mode", "seconds": 0}),
    Row("GET", "/api/v1/rooms/{room_id}/chat", HOST_ONLY.format(ok=200)),
    # growth: coupons, group buys, draws, reminders
    Row("POST", "/api/v1/rooms/{room_id}/coupons", HOST_ONLY.format(ok=201),
        body={"title": "券", "discount_bps": 500, "quantity": 5, "valid_for_s": 60}),
    Row("GET", "/api/v1/coupons/{coupon_id}", PUBLIC_200),
    Row("POST", "/api/v1/coupons/{coupon_id}/claim", "401 403 201 403 403 403 403"),
    Row("GET", "/api/v1/me/coupons", VIEWERS.format(ok=200)),
    Row("POST", "/api/v1/rooms/{room_id}/group-buys", HOST_ONLY.format(ok=201),
        body=lambda p: {"product_id": p["product_id"], "price_cents": 500, "group_size": 2,
                        "window_s": 60}),
    Row("GET", "/api/v1/group-buys/{group_buy_id}", PUBLIC_200),
    Row("GET", "/api/v1/groups/{group_id}", PUBLIC_200),
    Row("POST", "/api/v1/rooms/{room_id}/draws", HOST_ONLY.format(ok=201),
        body={"prize": "福袋", "winners": 1, "eligibility": "joined", "duration_s": 60},
        setup=fresh_room),
    Row("POST", "/api/v1/draws/{draw_id}/end", HOST_ONLY.format(ok=200), setup=fresh_draw),
    Row("GET", "/api/v1/draws/{draw_id}", PUBLIC_200),
    Row("GET", "/api/v1/draws/{draw_id}/winners", HOST_ONLY.format(ok=200)),
    Row("POST", "/api/v1/rooms/{room_id}/subscribe", VIEWERS.format(ok=200),
        setup=scheduled_room),
    Row("DELETE", "/api/v1/rooms/{room_id}/subscribe", VIEWERS.format(ok=200),
        setup=scheduled_room),
    Row("GET", "/api/v1/me/subscriptions", VIEWERS.format(ok=200)),
    # distribution: rules, links, figures, ledger
    Row("GET", "/api/v1/distribution/rules", ACCOUNTS),
    Row("PUT", "/api/v1/distribution/rules", ANY_HOST.format(ok=200), body={"levels": 2}),
    Row("POST", "/api/v1/rooms/{room_id}/share-links", "401 403 403 201 403 403 403"),
    Row("GET", "/r/{token}.svg", PUBLIC_200),
    Row("GET", "/r/{token}.png", PUBLIC_200),
    Row("GET", "/r/{token}/poster.svg", PUBLIC_200),
    Row("GET", "/r/{token}", "302 302 302 302 302 302 302"),
    Row("GET", "/api/v1/me/commissions", LEADERS),
    Row("GET", "/api/v1/me/stats", "401 403 403 200 403 403 403", query="room_id={room_id}"),
    Row("GET", "/api/v1/me/network", ACCOUNTS),
    Row("GET", "/api/v1/rooms/{room_id}/leaderboard", HOST_ONLY.format(ok=200)),
    # each account its own rows: a host its ledger, a 团长 its own entries
    Row("GET", "/api/v1/distribution/commissions.csv", ACCOUNTS),
    # numbers and exports
    Row("GET", "/api/v1/rooms/{room_id}/stats", HOST_ONLY.format(ok=200)),
    Row("GET", "/api/v1/rooms/{room_id}/stats/series", HOST_ONLY.format(ok=200)),
    Row("GET", "/api/v1/rooms/{room_id}/stats/funnel", HOST_ONLY.format(ok=200)),
    Row("POST", "/api/v1/rooms/{room_id}/track", VIEWERS.format(ok=200),
        body={"event": "product_opened"}),
    Row("GET", "/api/v1/stats/customers", ANY_HOST.format(ok=200)),
    Row("GET", "/api/v1/stats/customers.csv", ANY_HOST.format(ok=200)),
    Row("GET", "/api/v1/stats/orders.csv", HOST_ONLY.format(ok=200), query="room_id={room_id}"),
    # video: real offers and sessions (our own WebRTC peers); only a session's owner
    # ends it. Nobody publishes in the world's room, and "v=0" is no offer: 400 first.
    Row("POST", "/api/v1/rooms/{room_id}/whip", HOST_ONLY.format(ok=201), setup=offering,
        raw=lambda p: p["offer"].encode(), headers=lambda: SDP),
    Row("POST", "/api/v1/rooms/{room_id}/whep", "401 400 400 400 400 400 400",
        raw=lambda p: b"v=0", headers=lambda: SDP),
    Row("DELETE", "/api/v1/rooms/{room_id}/whip/{session_id}", HOST_ONLY.format(ok=200),
        setup=publishing),
    Row("DELETE", "/api/v1/rooms/{room_id}/whep/{session_id}", HOST_ONLY.format(ok=200),
        setup=watching),
    Row("GET", "/api/v1/rooms/{room_id}/video", HOST_ONLY.format(ok=200)),
    # webhooks: each host has its own; another's is never shown
    Row("PUT", "/api/v1/webhooks", ANY_HOST.format(ok=200),
        body=lambda p: {"url": p["webhook_url"]}),
    Row("GET", "/api/v1/webhooks", ANY_HOST.format(ok=200)),
    Row("GET", "/api/v1/webhooks/deliveries", ANY_HOST.format(ok=200)),
    Row("POST", "/api/v1/webhooks/test", ANY_HOST.format(ok=202)),
    Row("DELETE", "/api/v1/webhooks", ANY_HOST.format(ok=200)),
    # last: signing out revokes each caller's token
    Row("DELETE", "/api/v1/sessions", "401 204 204 204 204 204 204"),
]


def expected(cell: str) -> tuple[int, str | None]:
    status, _, code = cell.partition(":")
    n = int(status)
    return n, code or DEFAULT_CODE.get(n)


async def test_ownership_matrix(api: Api, app: web.Application,
                                client: TestClient) -> None:  # type: ignore[type-arg]
    declared = {(e.method, e.path) for e in app[ENDPOINTS]}
    rows = {(r.method, r.path) for r in TABLE}
    assert len(rows) == len(TABLE), "one row per endpoint"
    assert declared - rows == set(), "declared endpoints without a row in TABLE"
    assert rows - declared == set(), "rows in TABLE for endpoints that do not exist"

    w = await build_world(api, client)
    try:
        wrong = await call_every_row(api, w)
    finally:
        for pc in w.peers:
            await pc.close()
    assert not wrong, "\n".join(wrong)


async def call_every_row(api: Api, w: World) -> list[str]:
    wrong: list[str] = []
    for row in TABLE:
        params = dict(w.params)
        if row.setup is not None:
            params.update(await row.setup(w))
        cells = row.answers.split()
        assert len(cells) == len(CALLERS), row
        for caller, cell in zip(CALLERS, cells, strict=True):
            who = w.callers[caller]
            params.update(host_name=w.host.name, host_id=w.host.id,
                          webhook_url=f"http://127.0.0.1:9/{who.id if who else 'x'}")
            path = row.path.format(**params)
            if row.query:
                path += "?" + row.query.format(**params)
            body = row.body(params) if callable(row.body) else row.body
            r = await api.call(row.method, path, body, token=who.token if who else None,
                               headers=row.headers() if row.headers else None,
                               raw=row.raw(params) if row.raw else None)
            status, code = expected(cell)
            if r.status != status or (code is not None and r.code != code):
                wrong.append(f"{row.method} {row.path} as {caller}: expected {cell}, "
                             f"got {r.status} {r.code or ''} {str(r.body)[:120]}")
            elif caller in STRANGERS and 200 <= r.status < 400:
                leaked = [p for p in w.private if p in str(r.body)]
                if leaked:
                    wrong.append(f"{row.method} {row.path} shows {caller} {leaked}")
    return wrong


# --- bodies that name someone else's resource ------------------------------------------
# The path is the caller's own, the body points elsewhere: 422 `invalid` (the
# contract's answer for a product that is not the host's own or not on the
# room's shelf), never a success and never a 500.

#          caller   method  path                                  body
BODY_REFS = [
    ("host", "PUT", "/api/v1/rooms/{room_id}/shelf",
     lambda p: {"product_ids": [p["product_id"], p["other_product_id"]]}, "422"),
    ("host", "POST", "/api/v1/rooms/{room_id}/pin",
     lambda p: {"product_id": p["other_product_id"]}, "422"),
    ("host", "POST", "/api/v1/rooms/{room_id}/flash-sales",
     lambda p: {"product_id": p["other_product_id"], "price_cents": 1, "quantity": 1,
                "start_in_s": 0, "duration_s": 60}, "422"),
    ("host", "POST", "/api/v1/rooms/{room_id}/group-buys",
     lambda p: {"product_id": p["other_product_id"], "price_cents": 1, "group_size": 2,
                "window_s": 60}, "422"),
    ("buyer", "PUT", "/api/v1/rooms/{room_id}/cart",
     lambda p: {"items": [{"product_id": p["other_product_id"], "quantity": 1}]}, "422"),
    ("buyer", "POST", "/api/v1/orders",
     lambda p: {"room_id": p["room_id"], "fulfilment": PICKUP,
                "items": [{"product_id": p["other_product_id"], "quantity": 1}]}, "422"),
    ("viewer", "POST", "/api/v1/orders",  # another viewer's group-buy group, other room
     lambda p: {"room_id": p["other_room_id"], "fulfilment": PICKUP,
                "group_buy_id": p["group_buy_id"], "group_id": p["group_id"],
                "items": [{"product_id": p["product_id"], "quantity": 1}]}, "422"),
]


async def test_a_body_naming_another_owners_resource_is_invalid(
        api: Api, client: TestClient) -> None:  # type: ignore[type-arg]
    w = await build_world(api, client)
    wrong = []
    for caller, method, path, body, cell in BODY_REFS:
        who = w.callers[caller]
        assert who is not None
        r = await api.call(method, path.format(**w.params), body(w.params), token=who.token,
                           headers=key() if path == "/api/v1/orders" else None)
        status, code = expected(cell)
        if r.status != status or r.code != code:
            wrong.append(f"{method} {path} as {caller}: expected {cell}, got {r.status} "
                         f"{r.code} {str(r.body)[:120]}")
    assert not wrong, "\n".join(wrong)
