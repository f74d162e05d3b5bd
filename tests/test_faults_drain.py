"""Fault (planned): a worker is stopped with SIGTERM (a deploy, a scale-down).

Set-up: `live serve --workers 2` on PostgreSQL and a private Redis; a sender
on worker 0 streams chats, three viewers are on worker 1, which gets SIGTERM.

What is lost: nothing. The worker stops listening, then tells each of its
clients to reconnect with an Engine.IO close (not a Socket.IO disconnect,
which stock clients take as "stay away") instead of letting them hang until
the shutdown timeout; they reconnect on the public port (another worker) and
`join` with their `last_seq`; the replay fills the gap exactly. Every viewer
ends with every acknowledged chat, once each, in order.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.fault_helpers import (
    Follower,
    PrivateRedis,
    Sender,
    Server,
    api_for,
    production,
    reconnect,
    server_env,
    until,
)

pytestmark = pytest.mark.slow


@production
async def test_sigterm_tells_clients_to_reconnect_and_they_lose_nothing(
        database_settings: dict[str, Any], tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    env = server_env(database_settings, tmp_path, redis.url,
                     LIVE_CHAT_BURST="1000", LIVE_CHAT_RATE_PER_S="1000")
    server = Server(env, tmp_path, workers=2)
    server.start()
    followers: list[Follower] = []
    try:
        await server.healthy()
        await asyncio.gather(server.healthy(server.private_url(0)),
                             server.healthy(server.private_url(1)))
        w0, w1 = server.private_url(0), server.private_url(1)
        async with api_for(w0) as api:
            host = await api.host()
            room = await api.room(host)
            tokens = [(await api.viewer(f"看客{i}")).token for i in range(4)]
        sender_f = Follower(room["id"], tokens[0], name="sender")
        leaving = [Follower(room["id"], t, name=f"v{i}") for i, t in enumerate(tokens[1:])]
        followers += [sender_f, *leaving]
        await sender_f.connect(w0)
        for f in leaving:
            await f.connect(w1)

        sender = Sender(sender_f)
        streaming = asyncio.create_task(sender.run(count=100, every_s=0.05))
        await until(lambda: min(len(v.chats()) for v in leaving) >= 10, 30)
        stopped_pid = server.worker_pids()[1]
        os.kill(stopped_pid, signal.SIGTERM)
        for v in leaving:
            # told at once: well inside the 10 s shutdown timeout that would cut it
            await v.disconnected(wait_s=8)
            assert v.goodbyes == ["engineio-close"], v.goodbyes
        for v in leaving:
            await reconnect(v, server.url)
        await streaming

        assert not sender.refused, sender.refused
        sent = sender.texts()
        assert len(sent) == 100
        for f in followers:
            await f.wait_for_chat(sent[-1])
            assert f.chats() == sent, (f.name, f.chats())
            seqs = [e["seq"] for e in f.raw]
            assert seqs == sorted(set(seqs)), f.name
        for v in leaving:
            assert v.resyncs == 0 and len(v.replays) == 1
    finally:
        for f in followers:
            await f.close()
        server.stop()
        redis.kill()
