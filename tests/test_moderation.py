"""Moderation through POST /api/v1/rooms/{id}/moderation, seen by real clients."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from live.clock import FakeClock
from tests.helpers import Actor, Api
from tests.realtime_helpers import sio_client


@pytest.fixture
def rt_settings() -> dict[str, Any]:
    return {"chat_burst": 100}  # chat freely: these tests are about moderation


async def moderate(api: Api, host: Actor, room_id: str, **body: Any) -> Any:
    return await api.post(f"/api/v1/rooms/{room_id}/moderation", body, token=host.token)


async def test_mute_for_a_while_then_it_expires(rt: TestClient, rapi: Api,  # type: ignore[type-arg]
                                               clock: FakeClock) -> None:
    host = await rapi.host()
    room = await rapi.room(host)
    viewer = await rapi.viewer()
    async with sio_client(rt, viewer.token) as c, sio_client(rt, host.token) as h:
        await c.join(room["id"])
        await h.join(room["id"])
        r = await moderate(rapi, host, room["id"], action="mute", user_id=viewer.id, seconds=60)
        assert r.status == 200 and r.body == {"ok": True, "action": "mute"}
        ev = await c.wait_for_type("moderation")
        assert ev["data"] == {"action": "mute", "user_id": viewer.id, "seconds": 60}
        muted = await c.chat(room["id"], "hello?")
        assert muted["error"]["code"] == "muted"
        assert (await h.chat(room["id"], "the host is never muted"))["ok"]
        clock.advance(61)
        assert (await c.chat(room["id"], "back"))["ok"]


async def test_mute_forever_until_unmuted(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    room = await rapi.room(host)
    viewer = await rapi.viewer()
    async with sio_client(rt, viewer.token) as c:
        await c.join(room["id"])
        await moderate(rapi, host, room["id"], action="mute", user_id=viewer.id)
        assert (await c.chat(room["id"], "x"))["error"]["code"] == "muted"
        await moderate(rapi, host, room["id"], action="unmute", user_id=viewer.id)
        ev = await c.wait_for_type("moderation", 2)
        assert ev["data"] == {"action": "unmute", "user_id": viewer.id}
        assert (await c.chat(room["id"], "x"))["ok"]


async def test_ban_disconnects_refuses_rejoin_until_unban(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    room = await rapi.room(host)
    bad = await rapi.viewer("bad")
    good = await rapi.viewer("good")
    async with sio_client(rt, bad.token) as b, sio_client(rt, good.token) as g:
        await b.join(room["id"])
        await g.join(room["id"])
        await moderate(rapi, host, room["id"], action="ban", user_id=bad.id)
        await b.wait_disconnected()
        assert b.of_type("moderation")[-1]["data"] == {"action": "ban", "user_id": bad.id}
        ev = await g.wait_for_type("moderation")
        assert ev["data"] == {"action": "ban", "user_id": bad.id}
        assert g.sio.connected
    async with sio_client(rt, bad.token) as again:
        assert (await again.join(room["id"]))["error"]["code"] == "forbidden"
        assert (await again.chat(room["id"], "x"))["error"]["code"] == "not_joined"
    await moderate(rapi, host, room["id"], action="unban", user_id=bad.id)
    async with sio_client(rt, bad.token) as again:
        assert (await again.join(room["id"]))["ok"]
        assert (await again.chat(room["id"], "sorry"))["ok"]


async def test_delete_message_broadcasts_chat_deleted_and_keeps_it_for_review(
        rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    room = await rapi.room(host)
    viewer = await rapi.viewer()
    async with sio_client(rt, viewer.token) as c:
        await c.join(room["id"])
        ack = await c.chat(room["id"], "spam")
        r = await moderate(rapi, host, room["id"], action="delete_message", message_id=ack["id"])
        assert r.status == 200
        ev = await c.wait_for_type("chat_deleted")
        assert ev["data"] == {"id": ack["id"]}
    r = await rapi.get(f"/api/v1/rooms/{room['id']}/chat", token=host.token)
    assert [(m["text"], m["deleted"]) for m in r["messages"]] == [("spam", True)]
    bad = await moderate(rapi, host, room["id"], action="delete_message", message_id="msg_nope")
    assert bad.status == 422 and bad.body["error"]["fields"][0]["field"] == "message_id"


async def test_slow_mode(rt: TestClient, rapi: Api, clock: FakeClock) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    room = await rapi.room(host)
    viewer = await rapi.viewer()
    async with sio_client(rt, viewer.token) as c:
        await c.join(room["id"])
        await moderate(rapi, host, room["id"], action="slow_mode", seconds=10)
        ev = await c.wait_for_type("moderation")
        assert ev["data"] == {"action": "slow_mode", "seconds": 10}
        assert (await c.chat(room["id"], "one"))["ok"]
        slow = await c.chat(room["id"], "two")
        assert slow["error"]["code"] == "slow_mode"
        assert slow["error"]["retry_after_s"] == 10
        clock.advance(10)
        assert (await c.chat(room["id"], "two"))["ok"]
        await moderate(rapi, host, room["id"], action="slow_mode", seconds=0)
        assert (await c.chat(room["id"], "three"))["ok"]


async def test_blocked_words_are_refused_and_never_broadcast(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    room = await rapi.room(host)
    viewer = await rapi.viewer()
    async with sio_client(rt, viewer.token) as c:
        await c.join(room["id"])
        r = await moderate(rapi, host, room["id"], action="blocked_words",
                           words=["加微信", "Spam"])
        assert r.status == 200
        assert (await c.chat(room["id"], "快来加微信领券"))["error"]["code"] == "blocked_word"
        assert (await c.chat(room["id"], "SPAM here"))["error"]["code"] == "blocked_word"
        ok = await c.chat(room["id"], "好吃")
        await c.wait_for_seq(ok["seq"])
        assert all("加微信" not in str(e["data"]) for e in c.events)
        await moderate(rapi, host, room["id"], action="blocked_words", words=[])
        assert (await c.chat(room["id"], "加微信"))["ok"]


async def test_moderation_is_for_the_rooms_host_and_validates(rt: TestClient, rapi: Api) -> None:  # type: ignore[type-arg]
    host = await rapi.host()
    other = await rapi.host()
    room = await rapi.room(host)
    viewer = await rapi.viewer()
    assert (await moderate(rapi, other, room["id"], action="ban",
                           user_id=viewer.id)).status == 403
    assert (await moderate(rapi, host, "room_nope", action="ban", user_id=viewer.id)).status \
        == 404
    r = await moderate(rapi, host, room["id"], action="mute")
    assert r.status == 422 and r.body["error"]["fields"][0]["field"] == "user_id"
    r = await moderate(rapi, host, room["id"], action="explode", user_id=viewer.id)
    assert r.status == 422
    r = await moderate(rapi, host, room["id"], action="slow_mode", seconds=-1)
    assert r.status == 422
    r = await moderate(rapi, host, room["id"], action="mute", user_id=viewer.id, seconds="9")
    assert r.status == 422
