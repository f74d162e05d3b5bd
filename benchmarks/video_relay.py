"""How many WHEP viewers one core carries through the built-in relay.

Starts `live serve` in a subprocess on 127.0.0.1 (a fresh SQLite data dir),
publishes synthetic 640x360 video at 15 fps over WHIP from this process, then
adds aiortc WHEP viewers step by step. For each step it measures, over a
window, the server's CPU (utime+stime from /proc, in cores) and the frame rate
each viewer actually decodes. aiortc re-encodes VP8 once per viewer, so the
server's CPU grows with the viewer count.

    .venv/bin/python benchmarks/video_relay.py --steps 1,2,4,6,8 --window 8

Bounded: at most sum(steps) viewers, len(steps) windows (+ a few seconds of
set-up per step). Viewers decode in this process, which competes with the
server for the same cores: on a shared 2-core machine the numbers are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.video_clients import SyntheticVideo, whep, whip

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_up(http: aiohttp.ClientSession, base: str) -> None:
    for _ in range(100):
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(base + "/healthz") as r:
                if r.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError("server did not start")


async def post(http: aiohttp.ClientSession, url: str, body: dict, token: str | None = None
               ) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers) as r:
        assert r.status in (200, 201), await r.text()
        return dict(await r.json())


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", default="1,2,4,6,8", help="viewer counts to measure")
    ap.add_argument("--window", type=float, default=8.0, help="seconds measured per step")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=int, default=15)
    args = ap.parse_args()
    steps = [int(s) for s in args.steps.split(",")]

    port = free_port()
    data = tempfile.mkdtemp(prefix="live-bench-video-")
    env = {**os.environ, "LIVE_DATA_DIR": data, "LIVE_PORT": str(port),
           "LIVE_HOST": "127.0.0.1", "LIVE_WEBRTC_MAX_VIEWERS": str(max(steps) + 5),
           "LIVE_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "live.cli", "serve"], env=env,  # noqa: ASYNC220
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    viewers: list = []
    pub = None
    try:
        async with aiohttp.ClientSession() as http:
            await wait_up(http, base)
            host = await post(http, base + "/api/v1/accounts",
                              {"name": "bench-host", "password": "password-123",
                               "role": "host"})
            token = host["token"]
            room = await post(http, base + "/api/v1/rooms", {"title": "bench"}, token)
            await post(http, f"{base}/api/v1/rooms/{room['id']}/status", {"status": "live"},
                       token)
            viewer = await post(http, base + "/api/v1/viewers", {"nickname": "bench"})
            camera = SyntheticVideo(args.width, args.height, fps=args.fps)
            pub = await whip(http, base, room["id"], token, camera)
            assert pub.status == 201, pub.body
            await asyncio.sleep(3)
            counts: list[int] = []
            readers: list[asyncio.Task[None]] = []

            async def read(track, i: int) -> None:
                with contextlib.suppress(Exception):
                    while True:
                        await track.recv()
                        counts[i] += 1

            idle0, t0 = cpu_seconds(server.pid), time.monotonic()
            await asyncio.sleep(args.window / 2)
            idle = (cpu_seconds(server.pid) - idle0) / (time.monotonic() - t0)
            print(f"{args.width}x{args.height}@{args.fps}fps  cores={os.cpu_count()}  "
                  f"load={os.getloadavg()[0]:.2f}")
            print(f"viewers=0  server_cpu={idle:.2f} cores (publisher decode only)")
            for n in steps:
                while len(viewers) < n:
                    w = await whep(http, f"{base}/api/v1/rooms/{room['id']}/whep",
                                   viewer["token"], kinds=("video",))
                    assert w.status == 201, w.body
                    for _ in range(100):
                        if "video" in w.tracks:
                            break
                        await asyncio.sleep(0.1)
                    counts.append(0)
                    readers.append(asyncio.create_task(read(w.tracks["video"], len(counts) - 1)))
                    viewers.append(w)
                await asyncio.sleep(3)  # connect, first keyframes
                c0, f0, t0 = cpu_seconds(server.pid), list(counts), time.monotonic()
                await asyncio.sleep(args.window)
                dt = time.monotonic() - t0
                cpu = (cpu_seconds(server.pid) - c0) / dt
                fps = [(counts[i] - f0[i]) / dt for i in range(len(counts))]
                avg = sum(fps) / len(fps)
                per = (cpu - idle) / n
                # Encoding cost scales with frames encoded: normalise to the source rate.
                full = per * args.fps / avg if avg > 0 else float("nan")
                print(f"viewers={n}  server_cpu={cpu:.2f} cores  "
                      f"per_viewer={per:.3f} cores ({full:.3f} at {args.fps} fps "
                      f"-> {1 / full if full > 0 else float('nan'):.1f} viewers/core)  "
                      f"viewer_fps min={min(fps):.1f} avg={avg:.1f}  "
                      f"load={os.getloadavg()[0]:.2f}", flush=True)
            for t in readers:
                t.cancel()
    finally:
        for w in viewers:
            with contextlib.suppress(Exception):
                await w.pc.close()
        if pub is not None:
            with contextlib.suppress(Exception):
                await pub.pc.close()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    asyncio.run(main())
