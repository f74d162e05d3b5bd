"""Reminders: subscribe to a scheduled room; going live writes one `room.live`
webhook outbox entry per subscriber, exactly once."""

from __future__ import annotations

from tests.helpers import Api


async def room_live_entries(api: Api, host_token: str) -> list[dict]:  # type: ignore[type-arg]
    r = await api.get("/api/v1/webhooks/deliveries?limit=200", token=host_token)
    assert r.status == 200, r.body
    key = "deliveries" if "deliveries" in r.body else next(iter(r.body))
    return [e for e in r.body[key] if e["event"] == "room.live"]


async def test_subscribers_are_reminded_once_when_the_room_goes_live(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, live=False)
    rid = room["id"]
    a, b, c = await api.viewer("阿花"), await api.viewer("阿强"), await api.viewer("阿明")
    path = f"/api/v1/rooms/{rid}/subscribe"
    r = await api.post(path, token=a.token)
    assert r.status == 200 and r.body == {"room_id": rid, "subscribed": True, "subscribers": 1}
    again = await api.post(path, token=a.token)  # repeating changes nothing
    assert again.body == r.body
    assert (await api.post(path, token=b.token))["subscribers"] == 2
    assert (await api.post(path, token=c.token))["subscribers"] == 3
    gone = await api.delete(path, token=c.token)
    assert gone.status == 200
    assert gone.body == {"room_id": rid, "subscribed": False, "subscribers": 2}
    mine = await api.get("/api/v1/me/subscriptions", token=a.token)
    assert mine.status == 200
    [sub] = mine["subscriptions"]
    assert sub["room_id"] == rid and sub["notified_at"] is None and sub["subscribed_at"]

    assert await room_live_entries(api, host.token) == []
    live = await api.post(f"/api/v1/rooms/{rid}/status", {"status": "live"}, token=host.token)
    assert live.status == 200
    entries = await room_live_entries(api, host.token)
    assert sorted(e["payload"]["viewer_id"] for e in entries) == sorted([a.id, b.id])
    for e in entries:
        assert e["payload"] == {"room_id": rid, "viewer_id": e["payload"]["viewer_id"],
                                "title": room["title"]}
    [sub] = (await api.get("/api/v1/me/subscriptions", token=a.token))["subscriptions"]
    assert sub["notified_at"] is not None
    # a retried "go live" is refused and writes nothing more; so does ending
    assert (await api.post(f"/api/v1/rooms/{rid}/status", {"status": "live"},
                           token=host.token)).status == 409
    await api.post(f"/api/v1/rooms/{rid}/status", {"status": "ended"}, token=host.token)
    assert len(await room_live_entries(api, host.token)) == 2
    # the unsubscribed viewer got nothing
    assert (await api.get("/api/v1/me/subscriptions", token=c.token))["subscriptions"] == []


async def test_only_viewers_subscribe_and_only_to_scheduled_rooms(api: Api) -> None:
    host = await api.host()
    viewer = await api.viewer()
    live = await api.room(host)
    r = await api.post(f"/api/v1/rooms/{live['id']}/subscribe", token=viewer.token)
    assert r.status == 409 and r.code == "conflict"
    scheduled = await api.room(host, live=False)
    r = await api.post(f"/api/v1/rooms/{scheduled['id']}/subscribe", token=host.token)
    assert r.status == 403
    r = await api.post("/api/v1/rooms/nope/subscribe", token=viewer.token)
    assert r.status == 404
    assert (await api.post(f"/api/v1/rooms/{scheduled['id']}/subscribe")).status == 401


async def test_concurrent_subscribes_and_go_live_remind_each_viewer_once(api: Api) -> None:
    import asyncio

    host = await api.host()
    room = await api.room(host, live=False)
    viewers = [await api.viewer(f"v{i}") for i in range(8)]
    path = f"/api/v1/rooms/{room['id']}/subscribe"
    await asyncio.gather(*(api.post(path, token=v.token) for v in viewers for _ in range(2)))
    status = f"/api/v1/rooms/{room['id']}/status"
    replies = await asyncio.gather(*(api.post(status, {"status": "live"}, token=host.token)
                                     for _ in range(4)))
    assert 200 in [r.status for r in replies]
    entries = await room_live_entries(api, host.token)
    assert sorted(e["payload"]["viewer_id"] for e in entries) == sorted(v.id for v in viewers)
