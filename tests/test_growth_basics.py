"""Growth tools: who may create them, validation, and the room snapshot."""

from __future__ import annotations

import hashlib
import re

from tests.helpers import Api


async def test_only_the_rooms_host_creates_growth_tools_while_live(api: Api) -> None:
    host, other = await api.host(), await api.host()
    viewer = await api.viewer()
    room = await api.room(host, products=1)
    product_id = room["shelf"][0]["id"]
    rid = room["id"]
    bodies = {
        "coupons": {"title": "满99减10", "discount_cents": 1000, "quantity": 10,
                    "valid_for_s": 600},
        "group-buys": {"product_id": product_id, "price_cents": 990, "group_size": 3,
                       "window_s": 600},
        "draws": {"prize": "脐橙一箱", "winners": 1, "eligibility": "joined",
                  "duration_s": 60},
    }
    for kind, body in bodies.items():
        path = f"/api/v1/rooms/{rid}/{kind}"
        assert (await api.post(path, body)).status == 401
        assert (await api.post(path, body, token=viewer.token)).status == 403
        r = await api.post(path, body, token=other.token)
        assert r.status == 403 and r.code == "forbidden"
        assert (await api.post(f"/api/v1/rooms/nope/{kind}", body,
                               token=host.token)).status == 404
    scheduled = await api.room(host, live=False)
    for kind, body in bodies.items():
        r = await api.post(f"/api/v1/rooms/{scheduled['id']}/{kind}", body, token=host.token)
        if kind == "group-buys":
            assert r.status == 409 or r.status == 422  # not on this room's shelf either
        else:
            assert r.status == 409 and r.code == "room_not_live", (kind, r.body)


async def test_coupon_needs_exactly_one_discount(api: Api) -> None:
    host = await api.host()
    room = await api.room(host)
    path = f"/api/v1/rooms/{room['id']}/coupons"
    base = {"title": "券", "quantity": 5, "valid_for_s": 60}
    for extra in ({}, {"discount_cents": 100, "discount_bps": 500}):
        r = await api.post(path, {**base, **extra}, token=host.token)
        assert r.status == 422 and r.code == "invalid"
        assert {f["field"] for f in r["error"]["fields"]} == {"discount_cents", "discount_bps"}
    for bad in ({"discount_bps": 0}, {"discount_bps": 10001}, {"discount_cents": 0},
                {"discount_cents": "100"}, {"discount_cents": 100, "per_viewer": 101},
                {"discount_cents": 100, "valid_for_s": 2592001},
                {"discount_cents": 100, "quantity": 0}):
        r = await api.post(path, {**base, **bad}, token=host.token)
        assert r.status == 422 and r.code == "invalid", bad
    r = await api.post(path, {**base, "discount_bps": 1500}, token=host.token)
    assert r.status == 201
    c = r.body
    assert c["discount_bps"] == 1500 and c["discount_cents"] is None
    assert c["min_spend_cents"] == 0 and c["per_viewer"] == 1
    assert c["remaining"] == c["quantity"] == 5
    assert (await api.get(f"/api/v1/coupons/{c['id']}")).body == c
    assert (await api.get("/api/v1/coupons/nope")).status == 404


async def test_group_buy_needs_a_product_on_the_shelf(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1)
    loose = await api.product(host)
    path = f"/api/v1/rooms/{room['id']}/group-buys"
    r = await api.post(path, {"product_id": loose["id"], "price_cents": 990, "group_size": 2,
                              "window_s": 60}, token=host.token)
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "product_id"
    for bad in ({"group_size": 1}, {"group_size": 101}, {"window_s": 2},
                {"window_s": 604801}, {"price_cents": 0}):
        body = {"product_id": room["shelf"][0]["id"], "price_cents": 990, "group_size": 2,
                "window_s": 60, **bad}
        assert (await api.post(path, body, token=host.token)).status == 422, bad
    r = await api.post(path, {"product_id": room["shelf"][0]["id"], "price_cents": 990,
                              "group_size": 2, "window_s": 60}, token=host.token)
    assert r.status == 201
    offer = r.body
    assert set(offer) >= {"id", "room_id", "product_id", "price_cents", "group_size",
                          "window_s"}
    got = await api.get(f"/api/v1/group-buys/{offer['id']}")
    assert got.status == 200 and got["groups"] == []
    assert (await api.get("/api/v1/group-buys/nope")).status == 404
    assert (await api.get("/api/v1/groups/nope")).status == 404


async def test_draw_publishes_a_commitment_and_one_runs_per_room(api: Api) -> None:
    host = await api.host()
    room = await api.room(host)
    path = f"/api/v1/rooms/{room['id']}/draws"
    r = await api.post(path, {"prize": "福袋", "winners": 1, "eligibility": "chatted",
                              "duration_s": 60}, token=host.token)
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "keyword"
    for bad in ({"winners": 0}, {"winners": 1001}, {"duration_s": 0}, {"duration_s": 3601},
                {"eligibility": "liked"}, {"prize": ""}, {"keyword": "x" * 21}):
        body = {"prize": "福袋", "winners": 1, "eligibility": "chatted", "keyword": "抽奖",
                "duration_s": 60, **bad}
        assert (await api.post(path, body, token=host.token)).status == 422, bad
    r = await api.post(path, {"prize": "福袋", "winners": 2, "eligibility": "chatted",
                              "keyword": "抽奖", "duration_s": 60}, token=host.token)
    assert r.status == 201
    d = r.body
    assert d["status"] == "running" and d["seed"] is None and d["eligible"] is None
    assert d["winner_ids"] is None and d["keyword"] == "抽奖"
    assert re.fullmatch(r"[0-9a-f]{64}", d["commitment"])
    again = await api.post(path, {"prize": "福袋2", "winners": 1, "eligibility": "joined",
                                  "duration_s": 60}, token=host.token)
    assert again.status == 409 and again.code == "conflict"
    snap = await api.get(f"/api/v1/rooms/{room['id']}")
    assert [x["id"] for x in snap["draws"]] == [d["id"]]
    assert (await api.get(f"/api/v1/draws/{d['id']}")).body == d
    # the host of another room may not end it
    other = await api.host()
    assert (await api.post(f"/api/v1/draws/{d['id']}/end", token=other.token)).status == 403
    ended = await api.post(f"/api/v1/draws/{d['id']}/end", token=host.token)
    assert ended.status == 200 and ended["status"] == "ended"
    assert hashlib.sha256(ended["seed"].encode("ascii")).hexdigest() == d["commitment"]
    assert ended["eligible"] == [] and ended["winner_ids"] == []
    assert (await api.post(f"/api/v1/draws/{d['id']}/end", token=host.token)).status == 409
    assert (await api.get(f"/api/v1/rooms/{room['id']}"))["draws"] == []
    # a new draw may start once the first has ended
    r = await api.post(path, {"prize": "福袋2", "winners": 1, "eligibility": "joined",
                              "duration_s": 60}, token=host.token)
    assert r.status == 201


async def test_snapshot_lists_coupons_group_buys_and_draws(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1)
    rid = room["id"]
    assert room["coupons"] == [] and room["group_buys"] == [] and room["draws"] == []
    c = await api.post(f"/api/v1/rooms/{rid}/coupons", {
        "title": "立减5元", "discount_cents": 500, "quantity": 3, "valid_for_s": 60},
        token=host.token)
    g = await api.post(f"/api/v1/rooms/{rid}/group-buys", {
        "product_id": room["shelf"][0]["id"], "price_cents": 990, "group_size": 2,
        "window_s": 60}, token=host.token)
    snap = await api.get(f"/api/v1/rooms/{rid}")
    assert snap["coupons"] == [c.body]
    assert snap["group_buys"] == [{**g.body, "groups": []}]
