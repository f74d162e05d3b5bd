"""Fault: Redis restarted (everything in it lost) while a room chats.

Set-up: two `live serve` processes on one PostgreSQL database and a private
`redis-server` (never the shared one), one viewer on each, chatting.

What is lost, and only that:
- While Redis is down, chat is refused with `over_capacity` (retry later) and
  `/healthz` answers 503: nothing is half-done and nothing is a 500.
- Redis held the rooms' seq counters and replay history: they are gone. The
  counter starts again above every seq issued before (so seq never goes back
  for anyone), so a connected client sees one forward jump; a client whose
  `last_seq` is from before the restart gets `replay: null` and rebuilds from
  the snapshot (the contract's "where the server no longer has them").
- A blip (the workers' subscriptions cut, Redis keeping its data) costs
  nothing: no gap, nobody counted twice.
- Presence (`viewers`) was in Redis too: each worker counts its connected
  viewers again once it is back, without waiting for them to rejoin.
- Chats sent while a worker re-subscribes (under a second after Redis is back)
  may miss that worker's clients live; they are stored, and those clients see
  the seq jump and resync. Everything sent once both workers are back reaches
  both clients, in one order, exactly once; and a client that leaves after the
  restart gets exactly what it missed on rejoin.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.fault_helpers import (
    Follower,
    PrivateRedis,
    Server,
    api_for,
    production,
    server_env,
    setup_room,
    wait_viewers,
)

pytestmark = pytest.mark.slow


async def chat(f: Follower, text: str) -> dict[str, Any]:
    assert f.conn is not None
    ack: dict[str, Any] = await f.conn.chat(f.room_id, text, client_msg_id=secrets.token_hex(8))
    return ack


@production
async def test_chat_recovers_from_a_redis_restart_and_seq_never_goes_back(
        database_settings: dict[str, Any], tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    env = server_env(database_settings, tmp_path, redis.url,
                     LIVE_CHAT_BURST="1000", LIVE_CHAT_RATE_PER_S="1000")
    a, b = Server(env, tmp_path, name="a"), Server(env, tmp_path, name="b")
    a.start()
    b.start()
    followers: list[Follower] = []
    try:
        await asyncio.gather(a.healthy(), b.healthy())
        async with api_for(a.url) as api:
            _host, room = await setup_room(api)
            tokens = [(await api.viewer(f"看客{i}")).token for i in range(4)]
        fa, fb, stale, late = (Follower(room["id"], t, name=n)
                               for t, n in zip(tokens, "a b s l".split(), strict=True))
        followers += [fa, fb, stale, late]
        await fa.connect(a.url)
        await fb.connect(b.url)
        await stale.connect(b.url)

        before = []
        for i in range(4):
            for f in (fa, fb):
                text = f"before {f.name}{i}"
                assert (await chat(f, text))["ok"]
                before.append(text)
        for f in (fa, fb, stale):
            await f.wait_for_chat(before[-1])

        # first a blip, not a loss: the workers' subscriptions are cut, Redis
        # keeps its data. They reconnect; nothing is counted twice.
        client = aioredis.from_url(redis.url)
        try:
            assert await client.client_kill_filter(_type="pubsub") == 2
        finally:
            await client.aclose()
        for i in range(20):  # until both workers hear the room again
            text = f"blip {i}"
            assert (await chat(fa, text))["ok"]
            try:
                await fb.wait_for_chat(text, wait_s=0.5)
                await fa.wait_for_chat(text, wait_s=0.5)
                break
            except TimeoutError:
                continue
        await stale.close()  # it leaves with a last_seq from before the restart
        await wait_viewers(a.url, room["id"], 2)
        for f in (fa, fb):  # a blip costs nothing: the gap was refilled from history
            assert not f.gaps
        old_seq = stale.seq
        assert old_seq is not None

        redis.kill()
        down = await chat(fa, "while redis is down")
        assert down == {"ok": False, "error": {
            "code": "over_capacity", "message": down["error"]["message"],
            "retry_after_s": 1}}, down
        async with aiohttp.ClientSession() as http, http.get(b.url + "/healthz") as r:
            assert r.status == 503 and (await r.json())["checks"]["redis"] != "ok"
        redis.start()  # empty: no counters, no history
        await asyncio.gather(a.healthy(), b.healthy())

        # wait until both workers listen again: probes until b's client hears one
        probes: list[str] = []
        async with asyncio.timeout(30):
            while True:
                text = f"probe {len(probes)}"
                ack = await chat(fa, text)
                if ack["ok"]:
                    probes.append(text)
                    try:
                        await fb.wait_for_chat(text, wait_s=0.5)
                        await fa.wait_for_chat(text, wait_s=0.5)
                        break
                    except TimeoutError:
                        continue
                await asyncio.sleep(0.2)
        # seq went forward, never back, for both connected clients
        for f in (fa, fb):
            assert len(f.gaps) == 1 and f.gaps[0][0] < f.gaps[0][1], f.raw
            seqs = [e["seq"] for e in f.raw]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        # presence went with Redis: each worker counts its connected viewers again
        await wait_viewers(a.url, room["id"], 2)  # fa and fb (stale has left)
        # a client that saw the jump joins again with its last_seq from before it
        for f in (fa, fb):
            assert f.conn is not None
            jump_from = f.gaps[0][0]
            again = await f.conn.join(room["id"], last_seq=jump_from)
            assert again["ok"] and again["replay"] is None, again  # resync by snapshot
            assert again["snapshot"]["seq"] > jump_from

        await late.connect(b.url)  # joins after the restart
        after: list[str] = []
        for i in range(4):
            for f in (fa, fb, late) if late.conn is not None else (fa, fb):
                text = f"after {f.name}{i}"
                ack = await chat(f, text)
                assert ack["ok"] and ack["seq"] > old_seq, ack
                after.append(text)
            if i == 1:
                await late.close()  # leaves mid-way, comes back below
        await late.connect(a.url)
        for f in (fa, fb, late):
            await f.wait_for_chat(after[-1])
        # once both workers are back, everyone gets everything, in one order, once
        order_a = [t for t in fa.chats() if t.startswith("after")]
        order_b = [t for t in fb.chats() if t.startswith("after")]
        assert order_a == order_b and sorted(order_a) == sorted(after)
        # the late client left and rejoined with its last_seq: its replay filled
        # exactly the gap (every chat once, in the room's order)
        assert late.resyncs == 0 and any(
            e["type"] == "chat" for e in late.replays[-1]), late.replays
        assert late.chats() == order_a

        # the stale client: its last_seq is from before the loss -> a resync, never
        # events of the new counter passed off as the ones it missed
        await stale.connect(a.url)
        assert stale.resyncs == 1 and stale.seq is not None and stale.seq > old_seq
        assert "before b3" in stale.chats() and not any(
            t.startswith(("after", "probe")) for t in stale.chats())
    finally:
        for f in followers:
            await f.close()
        a.stop()
        b.stop()
        redis.kill()
