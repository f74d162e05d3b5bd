"""Socket.IO rooms through real clients against a real server on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from live import keys
from live.app import create_app
from live.clock import FakeClock
from live.settings import Settings
from tests.helpers import Api
from tests.realtime_helpers import connect_error, sio_client


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events]


# --- connect ------------------------------------------------------------------------

async def test_connect_without_token_is_refused(rt: TestClient) -> None:  # type: ignore[type-arg]
    assert "unauthorized" in await connect_error(rt, None)


async def test_connect_with_unknown_token_is_refused(rt: TestClient) -> None:  # type: ignore[type-arg]
    assert "unauthorized" in await connect_error(rt, "not-a-token")


async def test_foreign_origin_is_refused_and_local_ones_are_allowed(
        rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    viewer = await rapi.viewer()
    await connect_error(rt, viewer.token, headers={"Origin": "http://evil.example"})
    async with sio_client(rt, viewer.token, headers={"Origin": "http://localhost:5173"}) as c:
        assert c.sio.connected
    own = f"http://{rt.server.host}:{rt.server.port}"
    async with sio_client(rt, viewer.token, headers={"Origin": own}) as c:
        assert c.sio.connected


async def test_configured_origins_only_on_either_transport(
        make_settings: Callable[..., Settings], aiohttp_client: Any) -> None:
    app = create_app(make_settings(allowed_origins=("https://shop.example",)), run_timers=False)
    client = await aiohttp_client(app)
    viewer = await Api(client).viewer()
    for transports in (["websocket"], ["polling"]):
        for origin in ("https://evil.example", "https://shop.example.evil.example",
                       "http://shop.example", "http://localhost:5173"):
            await connect_error(client, viewer.token, headers={"Origin": origin},
                                transports=transports)
        async with sio_client(client, viewer.token, headers={"Origin": "https://shop.example"},
                              transports=transports) as c:
            assert c.sio.connected
    # what the browser never sent: the server's HTTP answer to a foreign handshake
    url = str(client.make_url("/socket.io/?EIO=4&transport=polling"))
    async with client.session.get(url, headers={"Origin": "https://evil.example"}) as r:
        assert r.status == 400
        assert "Access-Control-Allow-Origin" not in r.headers


async def test_packet_over_16_kib_closes_the_connection(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    viewer = await rapi.viewer()
    room = await rapi.room(host)
    async with sio_client(rt, viewer.token) as c:
        await c.join(room["id"])
        await c.sio.emit("chat", {"room_id": room["id"], "text": "x" * 17000})
        await c.wait_disconnected()
    async with rt.app[keys.SESSIONS]() as session:
        from live.chat.service import count_messages
        assert await count_messages(session, room_id=room["id"]) == 0


# --- join -----------------------------------------------------------------------------

async def test_join_returns_the_snapshot_and_no_replay(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    viewer = await rapi.viewer()
    room = await rapi.room(host, products=2)
    async with sio_client(rt, viewer.token) as c:
        ack = await c.join(room["id"])
    assert ack["ok"] is True
    snap = ack["snapshot"]
    assert snap["id"] == room["id"] and len(snap["shelf"]) == 2
    assert snap["seq"] >= 1  # the shelf and status events
    assert snap["viewers"] == 1
    assert ack["replay"] is None


async def test_join_unknown_room_is_not_found(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    viewer = await rapi.viewer()
    async with sio_client(rt, viewer.token) as c:
        ack = await c.join("room_nope")
    assert ack == {"ok": False, "error": {"code": "not_found", "message": "room not found"}}


async def test_malformed_payloads_are_invalid(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    viewer = await rapi.viewer()
    async with sio_client(rt, viewer.token) as c:
        assert (await c.call("join", "room"))["error"]["code"] == "invalid"
        bad = await c.call("join", {"room_id": 5})
        assert bad["error"]["code"] == "invalid"
        assert bad["error"]["fields"][0]["field"] == "room_id"
        assert (await c.call("like", {"room_id": "r", "count": "3"}))["error"]["code"] == \
            "invalid"
        assert (await c.call("dance", {}))["error"]["code"] == "invalid"


async def test_join_in_an_ended_room_works_but_chat_is_room_not_live(
        rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    viewer = await rapi.viewer()
    room = await rapi.room(host)
    await rapi.post(f"/api/v1/rooms/{room['id']}/status", {"status": "ended"}, token=host.token)
    async with sio_client(rt, viewer.token) as c:
        ack = await c.join(room["id"])
        assert ack["snapshot"]["status"] == "ended"
        assert (await c.chat(room["id"], "hi"))["error"]["code"] == "room_not_live"
        assert (await c.call("like", {"room_id": room["id"], "count": 1}))["error"]["code"] \
            == "room_not_live"


# --- chat and ordering ------------------------------------------------------------------

async def test_chat_reaches_everyone_in_one_order_with_consecutive_seq(
        rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    room = await rapi.room(host)
    people = [await rapi.viewer(f"v{i}") for i in range(3)]
    async with sio_client(rt, people[0].token) as a, sio_client(rt, people[1].token) as b, \
            sio_client(rt, people[2].token) as c, sio_client(rt, host.token) as h:
        joins = [await x.join(room["id"]) for x in (a, b, c, h)]
        start = joins[-1]["snapshot"]["seq"]
        acks = await asyncio.gather(*[
            x.chat(room["id"], f"{name}-{i}")
            for i in range(3) for x, name in ((a, "a"), (b, "b"), (h, "h"))])
        assert all(ack["ok"] for ack in acks), acks
        last = max(ack["seq"] for ack in acks)
        seen = []
        for x in (a, b, c, h):
            await x.wait_for_seq(last)
            seen.append([e for e in x.events if e["seq"] > start])
        # everyone sees the same sequence (viewer counts included), consecutive
        assert seen[0] == seen[1] == seen[2] == seen[3]
        assert seqs(seen[0]) == list(range(start + 1, start + 1 + len(seen[0])))
        chats = [e for e in seen[0] if e["type"] == "chat"]
        assert len(chats) == 9
        assert {e["seq"]: e["data"]["text"] for e in chats} == \
            {ack["seq"]: None for ack in acks} | {e["seq"]: e["data"]["text"] for e in chats}
        first = chats[0]["data"]
        assert set(first) == {"id", "user", "text"} and set(first["user"]) == {"id", "nickname"}


async def test_first_live_event_follows_the_snapshot_seq(rt: TestClient, rapi: Api,  # type: ignore[type-arg]
                                                         clock: FakeClock) -> None:
    host = await rapi.host()
    room = await rapi.room(host)
    viewer = await rapi.viewer()
    async with sio_client(rt, host.token) as h:
        await h.join(room["id"])
        sender = asyncio.gather(*[h.chat(room["id"], f"m{i}") for i in range(5)])
        async with sio_client(rt, viewer.token) as v:
            ack = await v.join(room["id"])
            await sender
            clock.advance(5)  # past the host's chat burst
            await h.chat(room["id"], "after")
            last = (await h.wait_for_type("chat", 6))["seq"]
            events = await v.wait_for_seq(last)
            assert events[0]["seq"] == ack["snapshot"]["seq"] + 1
            assert seqs(events) == list(range(events[0]["seq"], last + 1))


async def test_chat_refusals(rt: TestClient, rapi: Api, clock: FakeClock) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    room = await rapi.room(host)
    other = await rapi.room(host)
    viewer = await rapi.viewer()
    async with sio_client(rt, viewer.token) as c:
        assert (await c.chat(room["id"], "hi"))["error"]["code"] == "not_joined"
        await c.join(room["id"])
        assert (await c.chat(other["id"], "hi"))["error"]["code"] == "not_joined"
        assert (await c.chat(room["id"], "   "))["error"]["code"] == "empty"
        assert (await c.chat(room["id"], "长" * 201))["error"]["code"] == "too_long"
        ok = await c.chat(room["id"], "  " + "长" * 200 + "  ")
        assert ok["ok"] is True
        for i in range(4):  # a burst of 5 (the first message above was one)
            assert (await c.chat(room["id"], f"m{i}"))["ok"] is True
        limited = await c.chat(room["id"], "one too many")
        assert limited["error"]["code"] == "rate_limited"
        assert 0 < limited["error"]["retry_after_s"] <= 1
        clock.advance(1)
        assert (await c.chat(room["id"], "again"))["ok"] is True


async def test_repeated_client_msg_id_is_posted_once(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    room = await rapi.room(host)
    viewer = await rapi.viewer()
    async with sio_client(rt, viewer.token) as c:
        await c.join(room["id"])
        first = await c.chat(room["id"], "hello", client_msg_id="m-1")
        again = await c.chat(room["id"], "hello", client_msg_id="m-1")
        assert again == first
        both = await asyncio.gather(c.chat(room["id"], "x", client_msg_id="m-2"),
                                    c.chat(room["id"], "x", client_msg_id="m-2"))
        assert both[0]["id"] == both[1]["id"]
    r = await rapi.get(f"/api/v1/rooms/{room['id']}/chat", token=host.token)
    assert [m["text"] for m in r["messages"]] == ["hello", "x"]


async def test_chat_is_stored_as_plain_text_for_the_host(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    room = await rapi.room(host)
    viewer = await rapi.viewer("小红")
    async with sio_client(rt, viewer.token) as c:
        await c.join(room["id"])
        ack = await c.chat(room["id"], "<b>hi</b> & bye")
        ev = await c.wait_for_type("chat")
    assert ev["data"]["text"] == "<b>hi</b> & bye"
    r = await rapi.get(f"/api/v1/rooms/{room['id']}/chat", token=host.token)
    assert r.status == 200
    [m] = r["messages"]
    assert m["id"] == ack["id"] and m["seq"] == ack["seq"] and m["deleted"] is False
    assert m["user"] == {"id": viewer.id, "nickname": "小红"}
    other = await rapi.host()
    assert (await rapi.get(f"/api/v1/rooms/{room['id']}/chat", token=other.token)).status == 403
    assert (await rapi.get(f"/api/v1/rooms/{room['id']}/chat", token=viewer.token)).status == 403
    assert (await rapi.get("/api/v1/rooms/room_nope/chat", token=host.token)).status == 404


# --- replay ----------------------------------------------------------------------------------

async def test_replay_after_a_dropped_connection_loses_and_duplicates_nothing(
        rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    room = await rapi.room(host)
    viewer = await rapi.viewer()
    async with sio_client(rt, host.token) as h:
        await h.join(room["id"])
        async with sio_client(rt, viewer.token) as v:
            await v.join(room["id"])
            ack = await h.chat(room["id"], "before")
            await v.wait_for_seq(ack["seq"])
            got = list(v.events)
            last_seq = got[-1]["seq"]
        for i in range(3):
            await h.chat(room["id"], f"missed-{i}")
        async with sio_client(rt, viewer.token) as v2:
            back = await v2.join(room["id"], last_seq=last_seq)
            tail = await h.chat(room["id"], "live again")
            live = await v2.wait_for_seq(tail["seq"])
    replay = back["replay"]
    assert replay is not None
    assert [e["data"]["text"] for e in replay if e["type"] == "chat"] == \
        ["missed-0", "missed-1", "missed-2"]
    assert replay[-1]["seq"] == back["snapshot"]["seq"]
    assert all(e["seq"] > last_seq for e in replay)
    everything = got + replay + live
    chat_seqs = [e["seq"] for e in everything if e["type"] == "chat"]
    assert len(chat_seqs) == len(set(chat_seqs)) == 5
    assert live[0]["seq"] == back["snapshot"]["seq"] + 1


async def test_replay_is_null_when_history_is_trimmed_or_ahead(
        make_settings: Callable[..., Settings], clock: FakeClock,
        aiohttp_client: Any) -> None:
    app = create_app(make_settings(history_max=3), clock=clock, run_timers=False)
    client = await aiohttp_client(app)
    api = Api(client)
    host = await api.host()
    room = await api.room(host)
    async with sio_client(client, host.token) as h:
        first = await h.join(room["id"])
        start = first["snapshot"]["seq"]
        for i in range(5):
            await h.chat(room["id"], f"m{i}")
        again = await h.join(room["id"], last_seq=start)
        assert again["replay"] is None
        now = again["snapshot"]["seq"]
        assert (await h.join(room["id"], last_seq=now - 2))["replay"] is not None
        assert (await h.join(room["id"], last_seq=now + 50))["replay"] is None
        assert (await h.join(room["id"], last_seq=now))["replay"] == []


# --- likes and viewers -------------------------------------------------------------------------

async def test_likes_are_summed_exactly_and_survive_a_restart(
        make_settings: Callable[..., Settings], clock: FakeClock,
        aiohttp_client: Any) -> None:
    settings = make_settings(like_rate_per_s=1000.0)
    app = create_app(settings, clock=clock, run_timers=False)
    client = await aiohttp_client(app)
    api = Api(client)
    host = await api.host()
    room = await api.room(host)
    viewers = [await api.viewer(f"v{i}") for i in range(4)]
    clients = [sio_client(client, v.token) for v in viewers]
    conns = [await cm.__aenter__() for cm in clients]
    try:
        for c in conns:
            await c.join(room["id"])
        acks = await asyncio.gather(*[
            c.call("like", {"room_id": room["id"], "count": n})
            for c in conns for n in (1, 2, 3, 50, 7)])
        assert all(a["ok"] for a in acks)
        expected = 4 * (1 + 2 + 3 + 50 + 7)
        last = await conns[0].wait_until(
            lambda evs: any(e["type"] == "likes" and e["data"]["total"] == expected
                            for e in evs))
        assert max(e["data"]["total"] for e in last if e["type"] == "likes") == expected
        # aggregated: far fewer likes events than like calls
        assert len(conns[0].of_type("likes")) < len(acks)
        await app[keys.JOBS].run_all(app)
        r = await api.get(f"/api/v1/rooms/{room['id']}")
        assert r["likes"] == expected
    finally:
        for cm in clients:
            await cm.__aexit__(None, None, None)
    await client.close()
    app2 = create_app(settings, clock=clock, run_timers=False)
    client2 = await aiohttp_client(app2)
    r = await Api(client2).get(f"/api/v1/rooms/{room['id']}")
    assert r["likes"] == expected
    assert r["viewers"] == 0


async def test_like_rate_limit(rt: TestClient, rapi: Api, clock: FakeClock) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    room = await rapi.room(host)
    viewer = await rapi.viewer()
    async with sio_client(rt, viewer.token) as c:
        await c.join(room["id"])
        for _ in range(20):
            assert (await c.call("like", {"room_id": room["id"], "count": 1}))["ok"]
        limited = await c.call("like", {"room_id": room["id"], "count": 1})
        assert limited["error"]["code"] == "rate_limited"
        assert limited["error"]["retry_after_s"] > 0
        clock.advance(0.06)
        assert (await c.call("like", {"room_id": room["id"], "count": 1}))["ok"]


async def test_viewers_count_distinct_viewers_not_hosts(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    room = await rapi.room(host)
    a = await rapi.viewer("a")
    b = await rapi.viewer("b")
    async with sio_client(rt, host.token) as h:
        await h.join(room["id"])
        async with sio_client(rt, a.token) as a1, sio_client(rt, a.token) as a2:
            await a1.join(room["id"])
            await a2.join(room["id"])  # a second tab
            async with sio_client(rt, b.token) as b1:
                ack = await b1.join(room["id"])
                assert ack["snapshot"]["viewers"] == 2
                await h.wait_until(lambda evs: bool(evs) and
                                   [e for e in evs if e["type"] == "viewers"][-1]["data"]
                                   == {"count": 2})
            await h.wait_until(lambda evs: [e for e in evs if e["type"] == "viewers"][-1]
                               ["data"] == {"count": 1})
        await h.wait_until(lambda evs: [e for e in evs if e["type"] == "viewers"][-1]
                           ["data"] == {"count": 0})
    await rt.app[keys.JOBS].run_all(rt.app)
    async with rt.app[keys.SESSIONS]() as session:
        from live.rooms.models import Room
        stored = await session.get(Room, room["id"])
        assert stored is not None and stored.peak_viewers == 2


async def test_one_room_per_connection(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    r1 = await rapi.room(host)
    r2 = await rapi.room(host)
    viewer = await rapi.viewer()
    async with sio_client(rt, viewer.token) as c, sio_client(rt, host.token) as h:
        await h.join(r1["id"])
        await c.join(r1["id"])
        await c.join(r2["id"])
        assert (await c.chat(r1["id"], "hi"))["error"]["code"] == "not_joined"
        await h.wait_until(lambda evs: [e for e in evs if e["type"] == "viewers"][-1:]
                           == [] or [e for e in evs if e["type"] == "viewers"][-1]["data"]
                           == {"count": 0})
        assert (await c.call("leave", {"room_id": r2["id"]})) == {"ok": True}
        assert (await c.chat(r2["id"], "hi"))["error"]["code"] == "not_joined"


async def test_has_joined_is_recorded(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    from live.chat.service import has_joined, joined_viewers

    host = await rapi.host()
    room = await rapi.room(host)
    viewer = await rapi.viewer()
    async with sio_client(rt, viewer.token) as c:
        await c.join(room["id"])
        await c.join(room["id"])
    async with rt.app[keys.SESSIONS]() as session:
        assert await has_joined(session, room_id=room["id"], user_id=viewer.id)
        assert not await has_joined(session, room_id=room["id"], user_id=host.id)
        assert await joined_viewers(session, room_id=room["id"]) == [viewer.id]
