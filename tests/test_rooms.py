from __future__ import annotations

import asyncio

from tests.helpers import Api


async def test_room_lifecycle_is_forward_only(api: Api) -> None:
    host = await api.host()
    r = await api.post("/api/v1/rooms", {"title": "今晚鲜果专场"}, token=host.token)
    assert r.status == 201
    room = r.body
    assert room["status"] == "scheduled"
    assert room["playback"] == {"kind": "webrtc", "url": None}
    assert room["host"] == {"id": host.id, "name": host.name}
    for key in ("shelf", "pinned_product_id", "flash_sales", "viewers", "likes", "seq",
                "server_time"):
        assert key in room
    path = f"/api/v1/rooms/{room['id']}/status"
    assert (await api.post(path, {"status": "live"}, token=host.token))["status"] == "live"
    again = await api.post(path, {"status": "live"}, token=host.token)
    assert again.status == 409 and again.code == "conflict"
    assert (await api.post(path, {"status": "ended"}, token=host.token))["status"] == "ended"
    back = await api.post(path, {"status": "live"}, token=host.token)
    assert back.status == 409


async def test_scheduled_room_can_end_without_going_live(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, live=False)
    r = await api.post(f"/api/v1/rooms/{room['id']}/status", {"status": "ended"},
                       token=host.token)
    assert r.status == 200 and r["status"] == "ended"


async def test_list_rooms_newest_first_with_filters(api: Api) -> None:
    a, b = await api.host(), await api.host()
    r1 = await api.room(a, live=False)
    r2 = await api.room(a)
    r3 = await api.room(b)
    every = [r["id"] for r in (await api.get("/api/v1/rooms"))["rooms"]]
    assert every.index(r3["id"]) < every.index(r2["id"]) < every.index(r1["id"])
    mine = (await api.get(f"/api/v1/rooms?host_id={a.id}"))["rooms"]
    assert [r["id"] for r in mine] == [r2["id"], r1["id"]]
    live = (await api.get(f"/api/v1/rooms?status=live&host_id={a.id}"))["rooms"]
    assert [r["id"] for r in live] == [r2["id"]]
    bad = await api.get("/api/v1/rooms?status=nope")
    assert bad.status == 422


async def test_products_create_get_patch(api: Api) -> None:
    host = await api.host()
    p = await api.product(host, price_cents=3990, stock=20)
    assert p["price_cents"] == 3990 and p["stock"] == 20 and p["image_url"] is None
    assert (await api.get(f"/api/v1/products/{p['id']}")).body == p
    r = await api.patch(f"/api/v1/products/{p['id']}", {"stock": 5}, token=host.token)
    assert r.status == 200 and r["stock"] == 5 and r["price_cents"] == 3990
    other = await api.host()
    r = await api.patch(f"/api/v1/products/{p['id']}", {"stock": 6}, token=other.token)
    assert r.status == 403 and r.code == "forbidden"
    assert (await api.get("/api/v1/products/nope")).status == 404


async def test_shelf_and_pin(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, live=False)
    p1, p2 = await api.product(host), await api.product(host)
    shelf_path = f"/api/v1/rooms/{room['id']}/shelf"
    r = await api.put(shelf_path, {"product_ids": [p2["id"], p1["id"]]}, token=host.token)
    assert [p["id"] for p in r["shelf"]] == [p2["id"], p1["id"]]
    pin_path = f"/api/v1/rooms/{room['id']}/pin"
    r = await api.post(pin_path, {"product_id": p1["id"]}, token=host.token)
    assert r.status == 200 and r["pinned_product_id"] == p1["id"]
    # taking the pinned product off the shelf unpins it
    await api.put(shelf_path, {"product_ids": [p2["id"]]}, token=host.token)
    assert (await api.get(f"/api/v1/rooms/{room['id']}"))["pinned_product_id"] is None
    r = await api.post(pin_path, {"product_id": p1["id"]}, token=host.token)
    assert r.status == 422 and r.code == "invalid"
    r = await api.post(pin_path, {"product_id": None}, token=host.token)
    assert r.status == 200 and r["pinned_product_id"] is None


async def test_shelf_refuses_foreign_and_duplicate_products(api: Api) -> None:
    host, other = await api.host(), await api.host()
    room = await api.room(host, live=False)
    mine, theirs = await api.product(host), await api.product(other)
    path = f"/api/v1/rooms/{room['id']}/shelf"
    r = await api.put(path, {"product_ids": [mine["id"], theirs["id"]]}, token=host.token)
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "product_ids.1"
    r = await api.put(path, {"product_ids": [mine["id"], mine["id"]]}, token=host.token)
    assert r.status == 422


async def test_room_authorization(api: Api) -> None:
    host, other = await api.host(), await api.host()
    leader = await api.leader(host.invite_code or "")
    viewer = await api.viewer()
    room = await api.room(host, live=False)
    path = f"/api/v1/rooms/{room['id']}/status"
    assert (await api.post(path, {"status": "live"})).status == 401
    assert (await api.post(path, {"status": "live"}, token=viewer.token)).status == 403
    assert (await api.post(path, {"status": "live"}, token=leader.token)).status == 403
    assert (await api.post(path, {"status": "live"}, token=other.token)).status == 403
    # a stranger learns nothing from validation: 403 before the body is read
    assert (await api.post(path, {}, token=other.token)).status == 403
    assert (await api.post("/api/v1/rooms/nope/status", {"status": "live"},
                           token=host.token)).status == 404
    assert (await api.post("/api/v1/rooms", {"title": "x"}, token=viewer.token)).status == 403


async def test_external_playback(api: Api) -> None:
    host = await api.host()
    r = await api.post("/api/v1/rooms", {"title": "大场", "playback": {
        "kind": "hls", "url": "https://cdn.example.com/live/a.m3u8"}}, token=host.token)
    assert r.status == 201 and r["playback"]["kind"] == "hls"
    r = await api.post("/api/v1/rooms", {"title": "大场", "playback": {"kind": "hls"}},
                       token=host.token)
    assert r.status == 422


async def test_patch_refuses_null_for_required_fields(api: Api) -> None:
    host = await api.host()
    p = await api.product(host)
    r = await api.patch(f"/api/v1/products/{p['id']}", {"stock": None}, token=host.token)
    assert r.status == 422 and r["error"]["fields"][0]["field"] == "stock"


async def test_concurrent_go_live_has_exactly_one_winner(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, live=False)
    path = f"/api/v1/rooms/{room['id']}/status"
    replies = await asyncio.gather(*(api.post(path, {"status": "live"}, token=host.token)
                                     for _ in range(4)))
    assert sorted(r.status for r in replies) == [200, 409, 409, 409]
