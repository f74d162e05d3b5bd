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
    Sender,
    production,
    reconnect,
    two_workers_with_a_room,
    until,
)

pytestmark = pytest.mark.slow


@production
async def test_sigterm_tells_clients_to_reconnect_and_they_lose_nothing(
        database_settings: dict[str, Any], tmp_path: Path) -> None:
    async with two_workers_with_a_room(database_settings, tmp_path, viewers=4) as cluster:
        server, room, tokens, followers = (cluster.server, cluster.room, cluster.tokens,
                                           cluster.followers)
        w0, w1 = server.private_url(0), server.private_url(1)
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
