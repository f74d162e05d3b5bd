"""Fault: a worker is killed with SIGKILL in the middle of a broadcast.

Set-up: `live serve --workers 2` on PostgreSQL and a private Redis. A sender
and two viewers are on worker 0, three viewers on worker 1 (each worker's
private port), and the sender streams numbered chats into the room. Worker 1
is killed with SIGKILL (no goodbye); the supervisor starts it again.

What is lost: nothing. Worker 1's viewers see their connection drop, connect
again on the public port (the kernel hands them to a live worker) and `join`
with their `last_seq`: the replay from Redis holds exactly what they missed.
Every viewer ends with every chat the sender had acknowledged, each exactly
once, in the room's order; no `replay: null`.
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
async def test_viewers_of_a_killed_worker_replay_the_gap_exactly_once(
        database_settings: dict[str, Any], tmp_path: Path) -> None:
    async with two_workers_with_a_room(database_settings, tmp_path, viewers=6) as cluster:
        server, room, tokens, followers = (cluster.server, cluster.room, cluster.tokens,
                                           cluster.followers)
        w0, w1 = server.private_url(0), server.private_url(1)
        sender_f = Follower(room["id"], tokens[0], name="sender")
        survivors = [Follower(room["id"], t, name=f"s{i}") for i, t in enumerate(tokens[1:3])]
        victims = [Follower(room["id"], t, name=f"v{i}") for i, t in enumerate(tokens[3:])]
        followers += [sender_f, *survivors, *victims]
        for f in [sender_f, *survivors]:
            await f.connect(w0)
        for f in victims:
            await f.connect(w1)

        sender = Sender(sender_f)
        streaming = asyncio.create_task(sender.run(count=120, every_s=0.05))
        await until(lambda: min(len(v.chats()) for v in victims) >= 15, 30)
        victim_pid = server.worker_pids()[1]
        os.kill(victim_pid, signal.SIGKILL)
        for v in victims:
            await v.disconnected()
        seen_before = [v.seq for v in victims]
        await asyncio.sleep(0.5)  # the stream goes on meanwhile: a real gap
        for v in victims:
            await reconnect(v, server.url)  # the public port: a live worker
        await streaming

        assert not sender.refused, sender.refused
        sent = sender.texts()
        assert len(sent) == 120
        for f in followers:
            await f.wait_for_chat(sent[-1])
        for f in followers:
            # every chat exactly once, in the room's order (no client-side de-dup)
            assert f.chats() == sent, (f.name, f.chats())
            seqs = [e["seq"] for e in f.raw]
            assert seqs == sorted(set(seqs)), f.name
        for v, before in zip(victims, seen_before, strict=True):
            assert v.resyncs == 0 and len(v.replays) == 1
            replayed = [e for e in v.replays[0] if e["type"] == "chat"]
            assert replayed and replayed[0]["seq"] > (before or 0)  # the gap, from Redis
        assert victim_pid not in server.worker_pids()  # it was really killed...
        await server.healthy(server.private_url(1))  # ...and restarted
