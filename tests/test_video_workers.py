"""The built-in relay under `live serve --workers 2`: two real processes.

The publisher's connection lives on one worker; a viewer whose requests land
on the other is forwarded there (live/video/cluster.py) and decodes real frames.
Each worker is addressed on its private port, so which worker gets a request
is chosen by the test, not by the kernel's SO_REUSEPORT hashing.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from live.workers import free_worker_port, private_port_base
from tests.video_clients import AudioStreamTrack, SyntheticVideo, delete, frames, whep, whip

pytestmark = pytest.mark.slow


class Cluster:
    def __init__(self, http: aiohttp.ClientSession, port: int, log: Path) -> None:
        self.http = http
        self.log = log
        self.public = f"http://127.0.0.1:{port}"
        base = private_port_base(port, 2)
        self.worker = [f"http://127.0.0.1:{base + i}" for i in range(2)]

    async def call(self, base: str, method: str, path: str, body: Any = None,
                   token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, base + path, json=body, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def health(self, base: str, room_id: str, token: str) -> dict[str, Any]:
        status, body = await self.call(base, "GET", f"/api/v1/rooms/{room_id}/video",
                                       token=token)
        assert status == 200, body
        return dict(body)


@pytest.fixture
async def cluster(tmp_path: Path, redis_url: str, redis_prefix: str,
                  redis_cleanup: None) -> AsyncIterator[Cluster]:
    port = free_worker_port(2)
    env = dict(os.environ, LIVE_DATA_DIR=str(tmp_path), LIVE_REDIS_URL=redis_url,
               LIVE_REDIS_PREFIX=redis_prefix, LIVE_SECRET="s" * 32)
    env.pop("LIVE_DATABASE_URL", None)
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "live.cli", "serve",  # noqa: ASYNC220
                             "--port", str(port), "--workers", "2"],
                            env=env, stdout=log, stderr=log)
    try:
        async with aiohttp.ClientSession() as http:
            c = Cluster(http, port, tmp_path / "server.log")
            for base in c.worker:
                for _ in range(600):  # a loaded machine starts slowly
                    try:
                        async with http.get(f"{base}/healthz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("worker did not come up: "
                                         + (tmp_path / "server.log").read_text()[-3000:])
            yield c
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert "Traceback" not in (tmp_path / "server.log").read_text()


async def host_and_live_room(c: Cluster, name: str) -> tuple[str, str]:
    status, signed = await c.call(c.public, "POST", "/api/v1/accounts", {
        "name": name, "password": "password-123", "role": "host"})
    assert status == 201, signed
    host = signed["token"]
    status, room = await c.call(c.public, "POST", "/api/v1/rooms", {"title": name},
                                token=host)
    assert status == 201, room
    status, body = await c.call(c.public, "POST", f"/api/v1/rooms/{room['id']}/status",
                                {"status": "live"}, token=host)
    assert status == 200, body
    return host, room["id"]


async def until_async(check: Any, what: str, timeout: float = 20.0) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_viewer_on_another_worker_decodes_the_publishers_frames(
        cluster: Cluster, redis_url: str, redis_prefix: str) -> None:
    c = cluster
    w0, w1 = c.worker
    status, signed = await c.call(c.public, "POST", "/api/v1/accounts", {
        "name": "host-video-workers", "password": "password-123", "role": "host"})
    assert status == 201, signed
    host = signed["token"]
    status, room = await c.call(c.public, "POST", "/api/v1/rooms", {"title": "双进程直播"},
                                token=host)
    assert status == 201, room
    room_id = room["id"]
    assert (await c.call(w1, "POST", f"/api/v1/rooms/{room_id}/status", {"status": "live"},
                         token=host))[0] == 200

    # Two publishers at once, one on each worker: exactly one wins the room.
    first, second = await asyncio.gather(
        whip(c.http, w0, room_id, host, SyntheticVideo(320, 240), AudioStreamTrack()),
        whip(c.http, w1, room_id, host, SyntheticVideo(320, 240), AudioStreamTrack()))
    assert sorted([first.status, second.status]) == [201, 409], (first.body, second.body)
    pub, loser = (first, second) if first.status == 201 else (second, first)
    assert loser.code == "conflict"
    owner = 0 if pub is first else 1
    other = c.worker[1 - owner]
    redis = aioredis.from_url(redis_url)
    try:
        assert await redis.get(f"{redis_prefix}video:owner:{room_id}") == str(owner).encode()
    finally:
        await redis.aclose()

    # A publisher arriving later at the other worker meets the owner's broadcast.
    late = await whip(c.http, other, room_id, host, SyntheticVideo())
    assert (late.status, late.code) == (409, "conflict")

    status, viewer = await c.call(other, "POST", "/api/v1/viewers", {"nickname": "隔壁"})
    assert status == 201
    watch = await whep(c.http, f"{other}/api/v1/rooms/{room_id}/whep", viewer["token"])
    assert watch.status == 201, watch.body
    assert watch.location and watch.location.startswith(f"/api/v1/rooms/{room_id}/whep/")
    await until_async(lambda: asyncio.sleep(0, "video" in watch.tracks
                                            and "audio" in watch.tracks), "tracks")
    got = await frames(watch.tracks["video"], 8)
    assert {(f.width, f.height) for f in got} == {(320, 240)}
    assert got[-1].pts > got[0].pts
    sound = await frames(watch.tracks["audio"], 5)
    assert sound[0].sample_rate > 0

    # Stream health is the same whichever worker answers.
    for base in (w0, w1):
        h = await c.health(base, room_id, host)
        assert h["publishing"] is True and h["viewers"] == 1, (base, h)
        assert (h["width"], h["height"]) == (320, 240)

    # The viewer's session ends through the worker it did not connect to.
    assert await delete(c.http, c.worker[owner], watch.location, viewer["token"]) == 200
    assert (await c.health(other, room_id, host))["viewers"] == 0
    await watch.pc.close()

    # Ending the room through the other worker stops the owner's broadcast.
    assert (await c.call(other, "POST", f"/api/v1/rooms/{room_id}/status",
                         {"status": "ended"}, token=host))[0] == 200

    async def stopped() -> bool:
        return not any([(await c.health(b, room_id, host))["publishing"] for b in (w0, w1)])

    await until_async(stopped, "the owner to notice the room ended")
    assert await delete(c.http, other, pub.location or "", host) == 404
    await pub.pc.close()


async def test_publisher_ended_through_the_other_worker_frees_the_room(
        cluster: Cluster) -> None:
    c = cluster
    w0, w1 = c.worker
    host, room_id = await host_and_live_room(c, "host-video-workers-2")
    pub = await whip(c.http, w0, room_id, host, SyntheticVideo())
    assert pub.status == 201, pub.body
    # DELETE of the WHIP location through worker 1 reaches worker 0.
    assert await delete(c.http, w1, pub.location or "", host) == 200
    await pub.pc.close()
    assert (await c.health(w1, room_id, host))["publishing"] is False
    # The room is free: worker 1 may hold the next broadcast, and worker 0's
    # viewers are sent there.
    again = await whip(c.http, w1, room_id, host, SyntheticVideo())
    assert again.status == 201, again.body
    _, viewer = await c.call(w0, "POST", "/api/v1/viewers", {"nickname": "回来"})
    watch = await whep(c.http, f"{w0}/api/v1/rooms/{room_id}/whep", viewer["token"],
                       kinds=("video",))
    assert watch.status == 201, watch.body
    await until_async(lambda: asyncio.sleep(0, "video" in watch.tracks), "track")
    assert len(await frames(watch.tracks["video"], 3)) == 3
    assert (await c.health(w0, room_id, host))["viewers"] == 1
    await watch.pc.close()
    await again.pc.close()


async def test_a_dead_publishers_worker_does_not_keep_the_room(cluster: Cluster) -> None:
    """The worker holding the broadcast is killed (the supervisor restarts it):
    its Redis record must not lock the room until it expires."""
    c = cluster
    w0, w1 = c.worker
    host, room_id = await host_and_live_room(c, "host-video-workers-3")
    pub = await whip(c.http, w0, room_id, host, SyntheticVideo())
    assert pub.status == 201, pub.body
    pids = re.findall(r"worker 0 started pid=(\d+)", c.log.read_text())
    os.kill(int(pids[-1]), signal.SIGKILL)
    await pub.pc.close()
    # Through the survivor at once: the record names a worker that is gone (or
    # restarted without the broadcast); either way the room publishes again.
    again = await whip(c.http, w1, room_id, host, SyntheticVideo())
    assert again.status == 201, again.body
    _, viewer = await c.call(w1, "POST", "/api/v1/viewers", {"nickname": "重连"})
    for base in (w0, w1):  # the restarted worker 0 is reached once it is back
        watch = None
        for _ in range(300):
            try:
                watch = await whep(c.http, f"{base}/api/v1/rooms/{room_id}/whep",
                                   viewer["token"], kinds=("video",))
                break
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
        assert watch is not None and watch.status == 201, (base, watch and watch.body)
        tracks = watch.tracks
        await until_async(lambda t=tracks: asyncio.sleep(0, "video" in t), "track")
        assert len(await frames(tracks["video"], 3)) == 3
        await watch.pc.close()
    await again.pc.close()
