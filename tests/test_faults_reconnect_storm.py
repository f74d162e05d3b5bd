"""Fault: a reconnect storm: 1,000 viewers of one room come back at once (after
a network blip, a balancer restart or a deploy).

Set-up: `live serve --workers 2` on PostgreSQL and a private Redis
(`LIVE_HISTORY_MAX=5000`, so a minute of storm does not trim what they need).
1,000 light clients (raw Engine.IO/Socket.IO over one websocket each, like
benchmarks/fanout.py) join; all drop at once; while they are away a sender
posts chats; then all 1,000 connect and `join` with their `last_seq` at the
same moment.

What is lost: nothing. A join that meets a saturated database pool is
answered `over_capacity` and the client tries again after a pause (as the
player does); every client is joined again within the bound, and each one's
replay holds exactly the chats it missed, in order. `/healthz` answers 200
throughout.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fault_helpers import (
    Follower,
    PrivateRedis,
    Sender,
    Server,
    api_for,
    production,
    server_env,
)

pytestmark = pytest.mark.slow

CLIENTS = 1000
STORM_BOUND_S = 120  # generous for a loaded 2-core CI machine; usually far less


class Light:
    """One Socket.IO connection by hand (no per-client library machinery)."""

    def __init__(self, token: str, room_id: str) -> None:
        self.token = token
        self.room_id = room_id
        self.seq: int | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task[None] | None = None
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_id = 0
        self.replay: list[dict[str, Any]] | None = None
        self.busy = 0  # joins answered over_capacity

    async def join(self, http: aiohttp.ClientSession, url: str) -> None:
        """Connect and join, retrying (with jitter) until it worked."""
        while True:
            try:
                await asyncio.wait_for(self._connect(http, url), 60)
                body: dict[str, Any] = {"room_id": self.room_id}
                if self.seq is not None:
                    body["last_seq"] = self.seq
                ack = await asyncio.wait_for(self.call("join", body), 60)
                if ack.get("ok"):
                    if self.seq is not None:
                        self.replay = ack["replay"]
                    self.seq = int(ack["snapshot"]["seq"])
                    return
                assert ack["error"]["code"] == "over_capacity", ack
                self.busy += 1
            except (TimeoutError, aiohttp.ClientError, OSError, ConnectionError):
                pass
            await self.drop()
            await asyncio.sleep(0.5 + random.random())

    async def _connect(self, http: aiohttp.ClientSession, url: str) -> None:
        ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket",
                                   max_msg_size=0, autoping=False)
        self.ws = ws
        opened = await ws.receive_str()
        assert opened.startswith("0"), opened
        await ws.send_str("40" + json.dumps({"token": self.token}))
        while True:
            msg = await ws.receive_str()
            if msg.startswith("40"):
                break
            if msg.startswith("44"):
                assert json.loads(msg[2:])["data"]["code"] == "over_capacity", msg
                self.busy += 1
                raise ConnectionError(msg)
        self.reader = asyncio.create_task(self._read(ws))

    async def call(self, event: str, data: Any) -> Any:
        assert self.ws is not None
        self.next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[self.next_id] = fut
        await self.ws.send_str(f"42{self.next_id}" + json.dumps([event, data]))
        return await fut

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            text = msg.data
            if text == "2":
                await ws.send_str("3")
            elif text.startswith("42[") and self.seq is not None:
                for ev in json.loads(text[2:])[1]["events"]:
                    self.seq = max(self.seq, ev["seq"])
            elif text.startswith("43"):
                body = text[2:]
                i = body.index("[")
                fut = self.acks.pop(int(body[:i]), None)
                if fut is not None and not fut.done():
                    fut.set_result(json.loads(body[i:])[0])
        for fut in self.acks.values():
            if not fut.done():
                fut.set_exception(ConnectionError("closed"))
        self.acks.clear()

    async def drop(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
            self.reader = None


@production
async def test_a_thousand_clients_reconnect_at_once_and_replay_what_they_missed(
        database_settings: dict[str, Any], tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    env = server_env(database_settings, tmp_path, redis.url, LIVE_HISTORY_MAX="5000",
                     LIVE_CHAT_BURST="100", LIVE_CHAT_RATE_PER_S="100")
    server = Server(env, tmp_path, workers=2)
    server.start()
    clients: list[Light] = []
    sender_f: Follower | None = None
    try:
        await server.healthy()
        async with api_for(server.url) as api:
            host = await api.host()
            room = await api.room(host)
            sem = asyncio.Semaphore(10)

            async def viewer(i: int) -> str:
                async with sem:
                    return (await api.viewer(f"看客{i}")).token

            tokens = await asyncio.gather(*[viewer(i) for i in range(200)])
        clients = [Light(tokens[i % len(tokens)], room["id"]) for i in range(CLIENTS)]
        health: list[int] = []
        storming = True

        async def probe(http: aiohttp.ClientSession) -> None:
            while storming:
                async with http.get(server.url + "/healthz",
                                    timeout=aiohttp.ClientTimeout(total=60)) as r:
                    health.append(r.status)
                await asyncio.sleep(0.5)

        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            prober = asyncio.create_task(probe(http))
            async with asyncio.timeout(STORM_BOUND_S), asyncio.TaskGroup() as tg:
                for c in clients:  # everyone joins
                    tg.create_task(c.join(http, server.url))
            assert all(c.seq is not None for c in clients)

            for c in clients:  # the blip: every connection drops at once
                await c.drop()
            sender_f = Follower(room["id"], (await api_viewer(server.url)).token)
            await sender_f.connect(server.url)
            sender = Sender(sender_f)
            await sender.run(count=5, every_s=0.05)
            assert not sender.refused and len(sender.acked) == 5

            started = time.monotonic()
            async with asyncio.timeout(STORM_BOUND_S), asyncio.TaskGroup() as tg:
                for c in clients:  # the storm: all at once
                    tg.create_task(c.join(http, server.url))
            # shown with `pytest -s`: what docs/benchmarks.md may quote
            print(f"storm: {CLIENTS} rejoined in {time.monotonic() - started:.1f} s, "
                  f"{sum(c.busy for c in clients)} over_capacity refusals on the way")
            storming = False
            await prober

            missed = sender.texts()
            for c in clients:
                assert c.replay is not None  # history kept it: a real replay
                chats = [e["data"]["text"] for e in c.replay if e["type"] == "chat"]
                assert chats == missed
                seqs = [e["seq"] for e in c.replay]
                assert seqs == sorted(set(seqs))
            assert health and set(health) == {200}, health
            for c in clients:
                await c.drop()
    finally:
        for c in clients:
            await c.drop()
        if sender_f is not None:
            await sender_f.close()
        server.stop()
        redis.kill()


async def api_viewer(url: str) -> Any:
    async with api_for(url) as api:
        return await api.viewer(f"主播助理{secrets.token_hex(2)}")
