"""Two workers (two apps on two ports) sharing one real Redis and one database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from live import keys
from live.app import create_app
from live.clock import FakeClock
from live.settings import Settings
from tests.helpers import Api
from tests.realtime_helpers import sio_client


async def two_workers(make_settings: Callable[..., Settings], clock: FakeClock,
                      aiohttp_client: Any, redis_url: str, redis_prefix: str,
                      **overrides: Any) -> tuple[Any, Any]:
    settings = make_settings(redis_url=redis_url, redis_prefix=redis_prefix, **overrides)
    one = await aiohttp_client(create_app(settings, clock=clock, run_timers=False))
    two = await aiohttp_client(create_app(settings, clock=clock, run_timers=False))
    return one, two


async def test_chat_on_one_worker_reaches_the_other_in_the_same_order(
        make_settings: Callable[..., Settings], clock: FakeClock, aiohttp_client: Any,
        redis_url: str, redis_prefix: str, redis_cleanup: None) -> None:
    one, two = await two_workers(make_settings, clock, aiohttp_client, redis_url,
                                 redis_prefix, chat_burst=100)
    api = Api(one)
    host = await api.host()
    room = await api.room(host)
    a, b = await api.viewer("a"), await api.viewer("b")
    async with sio_client(one, a.token) as ca, sio_client(two, b.token) as cb, \
            sio_client(two, host.token) as ch:
        for c in (ca, cb, ch):
            assert (await c.join(room["id"]))["ok"]
        acks = await asyncio.gather(*[c.chat(room["id"], f"{n}-{i}")
                                      for i in range(10) for c, n in ((ca, "a"), (cb, "b"))])
        assert all(x["ok"] for x in acks), acks
        last = max(x["seq"] for x in acks)
        for c in (ca, cb, ch):
            await c.wait_for_seq(last)
        seen = [[(e["seq"], e["type"], e["data"]) for e in c.events if e["type"] == "chat"]
                for c in (ca, cb, ch)]
        assert seen[0] == seen[1] == seen[2]
        assert sorted(s for s, _, _ in seen[0]) == sorted(x["seq"] for x in acks)
        # every frame on every worker is consecutive
        for c in (ca, cb):
            ss = [e["seq"] for e in c.events]
            assert ss == list(range(ss[0], ss[0] + len(ss)))


async def test_viewers_and_likes_are_exact_across_workers(
        make_settings: Callable[..., Settings], clock: FakeClock, aiohttp_client: Any,
        redis_url: str, redis_prefix: str, redis_cleanup: None) -> None:
    one, two = await two_workers(make_settings, clock, aiohttp_client, redis_url,
                                 redis_prefix, like_rate_per_s=1000.0)
    api = Api(one)
    host = await api.host()
    room = await api.room(host)
    v = [await api.viewer(f"v{i}") for i in range(3)]
    async with sio_client(one, v[0].token) as c0, sio_client(two, v[0].token) as c0b, \
            sio_client(two, v[1].token) as c1, sio_client(one, v[2].token) as c2:
        for c in (c0, c0b, c1, c2):
            await c.join(room["id"])
        acks = await asyncio.gather(*[c.call("like", {"room_id": room["id"], "count": 7})
                                      for _ in range(25) for c in (c0, c0b, c1, c2)])
        assert all(x["ok"] for x in acks)
        expected = 25 * 4 * 7
        for c in (c0, c1):
            await c.wait_until(lambda evs: any(e["type"] == "likes" and
                                               e["data"]["total"] == expected for e in evs))
            await c.wait_until(lambda evs: [e for e in evs if e["type"] == "viewers"][-1]
                               ["data"] == {"count": 3})
        r = await Api(two).get(f"/api/v1/rooms/{room['id']}")
        assert r["viewers"] == 3 and r["likes"] == expected
    for app in (one.app, two.app):
        await app[keys.JOBS].run_all(app)
    r = await api.get(f"/api/v1/rooms/{room['id']}")
    assert r["likes"] == expected and r["viewers"] == 0


async def test_replay_comes_from_redis_after_moving_to_another_worker(
        make_settings: Callable[..., Settings], clock: FakeClock, aiohttp_client: Any,
        redis_url: str, redis_prefix: str, redis_cleanup: None) -> None:
    one, two = await two_workers(make_settings, clock, aiohttp_client, redis_url,
                                 redis_prefix, chat_burst=100)
    api = Api(one)
    host = await api.host()
    room = await api.room(host)
    viewer = await api.viewer()
    async with sio_client(one, host.token) as h:
        await h.join(room["id"])
        async with sio_client(one, viewer.token) as v:
            await v.join(room["id"])
            ack = await h.chat(room["id"], "seen")
            last_seq = (await v.wait_for_seq(ack["seq"]))[-1]["seq"]
        for i in range(3):
            await h.chat(room["id"], f"missed-{i}")
        async with sio_client(two, viewer.token) as v2:
            back = await v2.join(room["id"], last_seq=last_seq)
            tail = await h.chat(room["id"], "live")
            live = await v2.wait_for_seq(tail["seq"])
    assert [e["data"]["text"] for e in back["replay"] if e["type"] == "chat"] == \
        ["missed-0", "missed-1", "missed-2"]
    assert live[0]["seq"] == back["snapshot"]["seq"] + 1
    assert [e["data"]["text"] for e in live if e["type"] == "chat"] == ["live"]


async def test_ban_disconnects_the_user_on_every_worker(
        make_settings: Callable[..., Settings], clock: FakeClock, aiohttp_client: Any,
        redis_url: str, redis_prefix: str, redis_cleanup: None) -> None:
    one, two = await two_workers(make_settings, clock, aiohttp_client, redis_url,
                                 redis_prefix)
    api = Api(one)
    host = await api.host()
    room = await api.room(host)
    bad = await api.viewer("bad")
    async with sio_client(one, bad.token) as b1, sio_client(two, bad.token) as b2, \
            sio_client(two, host.token) as h:
        for c in (b1, b2, h):
            await c.join(room["id"])
        r = await api.post(f"/api/v1/rooms/{room['id']}/moderation",
                           {"action": "ban", "user_id": bad.id}, token=host.token)
        assert r.status == 200 and r.body == {"ok": True, "action": "ban"}
        for c in (b1, b2):
            await c.wait_disconnected()
            assert c.of_type("moderation")[-1]["data"] == {"action": "ban", "user_id": bad.id}
        assert h.sio.connected
    async with sio_client(two, bad.token) as again:
        assert (await again.join(room["id"]))["error"]["code"] == "forbidden"


async def test_chat_rate_limit_is_shared_by_the_workers(
        make_settings: Callable[..., Settings], clock: FakeClock, aiohttp_client: Any,
        redis_url: str, redis_prefix: str, redis_cleanup: None) -> None:
    one, two = await two_workers(make_settings, clock, aiohttp_client, redis_url,
                                 redis_prefix)
    api = Api(one)
    host = await api.host()
    room = await api.room(host)
    viewer = await api.viewer()
    async with sio_client(one, viewer.token) as c1, sio_client(two, viewer.token) as c2:
        await c1.join(room["id"])
        await c2.join(room["id"])
        for i in range(5):  # LIVE_CHAT_BURST, spread over both workers
            assert (await (c1 if i % 2 else c2).chat(room["id"], f"m{i}"))["ok"]
        refused = await c1.chat(room["id"], "sixth")
        assert refused["error"]["code"] == "rate_limited"
        assert 0 < refused["error"]["retry_after_s"] <= 1
        clock.advance(1)
        assert (await c2.chat(room["id"], "later"))["ok"]
