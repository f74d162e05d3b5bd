"""Fault: a viewer's connection stays open but it stops reading (a frozen tab,
a phone in a tunnel).

Set-up: one `live serve` on PostgreSQL and a private Redis; two viewers in a
room. One is a raw websocket
client that joins and then pauses reading its TCP connection. The host keeps
changing a large shelf (each `shelf` event is tens of KiB), so the server's
socket buffers towards that client fill up.

What is lost: for the other viewer, nothing, and nothing waits: each `shelf`
event reaches it before the host's next change. The stuck viewer is dropped
(its connection reset, `viewers` falls back to 1, the drop counted in
/metrics) once 1 MiB waits unsent for it beyond the kernel's buffers
(`live/realtime/wire.py`), not by Engine.IO's ping timeout (25 s + 20 s), so
the server never buffers a room's stream without bound for it. When it
comes back it joins with `last_seq` like after any disconnect.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fault_helpers import (
    Follower,
    PrivateRedis,
    Server,
    api_for,
    production,
    server_env,
    until,
)

pytestmark = pytest.mark.slow


async def stuck_viewer(http: aiohttp.ClientSession, url: str, token: str,
                       room_id: str) -> aiohttp.ClientWebSocketResponse:
    """Engine.IO v4 / Socket.IO v5 by hand: connect, join, then stop reading."""
    ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket")
    assert (await ws.receive_str()).startswith("0")
    await ws.send_str("40" + json.dumps({"token": token}))
    assert (await ws.receive_str()).startswith("40")
    await ws.send_str("421" + json.dumps(["join", {"room_id": room_id}]))
    while True:
        msg = await ws.receive_str()
        if msg.startswith("431"):
            assert json.loads(msg[3:])[0]["ok"], msg
            break
    assert ws._conn is not None
    transport = ws._conn.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    transport.pause_reading()  # the kernel buffer fills, then TCP stops the server
    return ws


@production
async def test_a_client_that_stops_reading_neither_slows_its_room_nor_stays(
        database_settings: dict[str, Any], tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    env = server_env(database_settings, tmp_path, redis.url)
    server = Server(env, tmp_path)
    server.start()
    reader: Follower | None = None
    try:
        await server.healthy()
        async with api_for(server.url) as api, aiohttp.ClientSession() as http:
            host = await api.host()
            room = await api.room(host, products=60, title="新疆阿克苏冰糖心苹果" * 12)
            shelf = [p["id"] for p in room["shelf"]]
            reader = Follower(room["id"], (await api.viewer("看得见")).token)
            await reader.connect(server.url)
            stuck = await stuck_viewer(http, server.url, (await api.viewer("卡住了")).token,
                                       room["id"])

            def viewers() -> int | None:
                counts = [e["data"]["count"] for e in reader.raw if e["type"] == "viewers"]
                return counts[-1] if counts else None

            await until(lambda: viewers() == 2, 10)

            changes = 0
            async with asyncio.timeout(120):  # bounded: ~6 MiB of frames at most
                while viewers() != 1:
                    shelf = shelf[1:] + shelf[:1]
                    r = await api.put(f"/api/v1/rooms/{room['id']}/shelf",
                                      {"product_ids": shelf}, token=host.token)
                    assert r.status == 200, r.body
                    changes += 1
                    # the reading viewer is never held up by the stuck one
                    async with asyncio.timeout(10):
                        while sum(e["type"] == "shelf" for e in reader.raw) < changes:
                            reader.changed.clear()
                            await reader.changed.wait()
            assert changes >= 2
            last = [e for e in reader.raw if e["type"] == "shelf"][-1]
            assert [p["id"] for p in last["data"]["products"]] == shelf
            # the stuck viewer's connection was aborted by the server
            transport = stuck._conn.transport if stuck._conn is not None else None
            if transport is not None:
                transport.resume_reading()
            async with asyncio.timeout(10):
                while not stuck.closed:
                    msg = await stuck.receive()
                    if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR,
                                    aiohttp.WSMsgType.CLOSE):
                        break
            assert (await api.get("/healthz")).status == 200
            # dropped by the queue bound (counted), not by Engine.IO's ping timeout
            metrics = (await api.get("/metrics")).body
            assert "live_slow_clients_dropped_total 1.0" in metrics, metrics
    finally:
        if reader is not None:
            await reader.close()
        server.stop()
        redis.kill()
