"""What forwarding a room's video requests to its broadcast's worker costs.

Starts `live serve --workers 2` (a fresh SQLite data dir, the Redis at
LIVE_REDIS_URL or 127.0.0.1:6379 under a fresh key prefix, deleted at the end),
publishes synthetic video to worker 0 over WHIP, then times, one request at a
time, through worker 0 (the owner: answered there) and worker 1 (forwarded):

- `GET /api/v1/rooms/{id}/video` (stream health), `--health` requests each;
- a WHEP exchange (offer → answer) followed by its DELETE, `--whep` each.

    .venv/bin/python benchmarks/video_workers.py --health 300 --whep 20

Both go over real HTTP on 127.0.0.1; the client (aiortc offers) runs in this
process and competes with the workers for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from live.workers import private_port_base
from tests.test_video_workers import ports_for_two_workers
from tests.video_clients import SyntheticVideo, delete, whep, whip


async def wait_up(http: aiohttp.ClientSession, base: str) -> None:
    for _ in range(300):
        try:
            async with http.get(base + "/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{base} did not start")


async def call(http: aiohttp.ClientSession, method: str, url: str, body: object = None,
               token: str | None = None) -> dict:  # type: ignore[type-arg]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, json=body, headers=headers) as r:
        assert r.status in (200, 201), await r.text()
        return await r.json()  # type: ignore[no-any-return]


def summary(label: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return (f"{label:<34} n={len(ms):<4} median {statistics.median(ms):7.2f} ms"
            f"   p95 {p95:7.2f} ms")


async def run(args: argparse.Namespace) -> None:
    redis_url = os.environ.get("LIVE_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"live-bench:{secrets.token_hex(4)}:"
    port = ports_for_two_workers()
    base = private_port_base(port, 2)
    w = [f"http://127.0.0.1:{base + i}" for i in range(2)]
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, LIVE_DATA_DIR=data, LIVE_REDIS_URL=redis_url,
                   LIVE_REDIS_PREFIX=prefix, LIVE_SECRET="b" * 32, LIVE_LOG_LEVEL="WARNING")
        env.pop("LIVE_DATABASE_URL", None)
        proc = subprocess.Popen([sys.executable, "-m", "live.cli", "serve",  # noqa: ASYNC220
                                 "--port",
                                 str(port), "--workers", "2"], env=env)
        try:
            async with aiohttp.ClientSession() as http:
                for b in w:
                    await wait_up(http, b)
                host = (await call(http, "POST", f"{w[0]}/api/v1/accounts", {
                    "name": "bench-host", "password": "password-123", "role": "host"}))["token"]
                room = (await call(http, "POST", f"{w[0]}/api/v1/rooms", {"title": "bench"},
                                   host))["id"]
                await call(http, "POST", f"{w[0]}/api/v1/rooms/{room}/status",
                           {"status": "live"}, host)
                viewer = (await call(http, "POST", f"{w[0]}/api/v1/viewers",
                                     {"nickname": "bench"}))["token"]
                pub = await whip(http, w[0], room, host, SyntheticVideo(320, 240, fps=15))
                assert pub.status == 201, pub.body
                await asyncio.sleep(2)
                for i, label in ((0, "owner (worker 0)"), (1, "forwarded (worker 1 → 0)")):
                    times = []
                    for _ in range(args.health):
                        t0 = time.perf_counter()
                        body = await call(http, "GET", f"{w[i]}/api/v1/rooms/{room}/video",
                                          token=host)
                        times.append(time.perf_counter() - t0)
                        assert body["publishing"]
                    print(summary(f"GET /video, {label}", times))
                for i, label in ((0, "owner (worker 0)"), (1, "forwarded (worker 1 → 0)")):
                    times = []
                    for _ in range(args.whep):
                        t0 = time.perf_counter()
                        ex = await whep(http, f"{w[i]}/api/v1/rooms/{room}/whep", viewer)
                        assert ex.status == 201, ex.body
                        assert await delete(http, w[i], ex.location or "", viewer) == 200
                        times.append(time.perf_counter() - t0)
                        await ex.pc.close()
                    print(summary(f"WHEP offer+DELETE, {label}", times))
                await pub.pc.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            client = aioredis.from_url(redis_url)
            async for key in client.scan_iter(match=f"{prefix}*", count=500):
                await client.delete(key)
            await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--health", type=int, default=300)
    parser.add_argument("--whep", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
