"""Fan-out benchmark: N viewers in one room, K senders, chat + likes, T seconds.

Runs the real `live serve` (embedded: SQLite + in-process broker) and a naive
reference server (python-socketio, one `emit` to the room per chat and per
like, no coalescing) one after the other with the same load, and prints
delivered %, deliveries/s, server CPU-seconds, p50/p99 end-to-end latency and
deliveries per server CPU-second for both.

Viewers are light raw Engine.IO v4 / Socket.IO v5 websocket clients (aiohttp),
spread over `--procs` load-generator processes. Loopback only, bounded in
count and time.

    python benchmarks/fanout.py --viewers 2000 --senders 10 --chat-rate 50 \
        --like-rate 500 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its reaped children), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- the naive reference server ------------------------------------------------------

def reference_server(port: int) -> None:
    import socketio
    from aiohttp import web

    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=None)
    app = web.Application()
    sio.attach(app)
    seq = {"n": 0, "likes": 0}

    def event(type_: str, data: dict[str, Any]) -> dict[str, Any]:
        seq["n"] += 1
        return {"seq": seq["n"], "type": type_, "ts": "", "data": data}

    @sio.on("join")
    async def join(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await sio.enter_room(sid, data["room_id"])
        return {"ok": True, "snapshot": {"seq": seq["n"]}, "replay": None}

    @sio.on("chat")
    async def chat(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        ev = event("chat", {"id": secrets.token_hex(6), "user": {"id": sid, "nickname": "x"},
                            "text": data["text"]})
        await sio.emit("events", {"room_id": data["room_id"], "events": [ev]},
                       room=data["room_id"])
        return {"ok": True, "id": ev["data"]["id"], "seq": ev["seq"]}

    @sio.on("like")
    async def like(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        seq["likes"] += int(data.get("count", 1))
        ev = event("likes", {"total": seq["likes"]})
        await sio.emit("events", {"room_id": data["room_id"], "events": [ev]},
                       room=data["room_id"])
        return {"ok": True}

    web.run_app(app, host="127.0.0.1", port=port, print=lambda *a: None)


# --- a light Socket.IO client over a raw websocket --------------------------------------

class Light:
    """Engine.IO v4 + Socket.IO v5 by hand: open, connect with auth, join, read."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_id = 0
        self.chats: list[float] = []  # latency of each chat received (s)
        self.chat_count = 0
        self.events = 0

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, base: str, token: str) -> Light:
        ws = await http.ws_connect(f"{base}/socket.io/?EIO=4&transport=websocket",
                                   max_msg_size=0, autoping=False)
        opened = await ws.receive_str()
        assert opened.startswith("0"), opened
        await ws.send_str("40" + json.dumps({"token": token}))
        while True:
            msg = await ws.receive_str()
            if msg.startswith("40"):
                break
            if msg.startswith("44"):
                raise RuntimeError(f"refused: {msg}")
        return cls(ws)

    async def call(self, event: str, data: Any) -> Any:
        self.next_id += 1
        ack_id = self.next_id
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[ack_id] = fut
        await self.ws.send_str(f"42{ack_id}" + json.dumps([event, data]))
        return await fut

    async def emit(self, event: str, data: Any) -> None:
        await self.ws.send_str("42" + json.dumps([event, data]))

    async def read(self, measure: dict[str, bool]) -> None:
        ws = self.ws
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            text = msg.data
            if text == "2":
                await ws.send_str("3")
                continue
            if text.startswith("42["):
                now = time.time()
                payload = json.loads(text[2:])[1]
                for ev in payload["events"]:
                    self.events += 1
                    if ev["type"] == "chat":
                        sent = float(ev["data"]["text"].split(" ", 1)[0])
                        if measure["on"] or sent >= measure["start"]:
                            self.chat_count += 1
                            self.chats.append(now - sent)
                continue
            if text.startswith("43"):
                body = text[2:]
                i = body.index("[")
                fut = self.acks.pop(int(body[:i]), None)
                if fut is not None and not fut.done():
                    fut.set_result(json.loads(body[i:])[0])


async def viewers_main(base: str, room_id: str, tokens: list[str], ready: Any, go: Any,
                       result: Any, window: tuple[float, float]) -> None:
    measure = {"on": False, "start": 0.0}
    conns: list[Light] = []
    readers = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        sem = asyncio.Semaphore(16)

        async def one(token: str) -> None:
            async with sem:
                c = await Light.connect(http, base, token)
                reader = asyncio.create_task(c.read(measure))
                ack = await c.call("join", {"room_id": room_id})
                assert ack.get("ok"), ack
                conns.append(c)
                readers.append(reader)

        t0 = time.monotonic()
        await asyncio.gather(*[one(t) for t in tokens])
        print(f"{len(conns)} viewers joined in {time.monotonic() - t0:.1f} s", file=sys.stderr,
              flush=True)
        ready.set()
        await asyncio.to_thread(go.wait)
        start, end = window[0], window[1]
        measure["start"] = time.time()
        await asyncio.sleep(max(0.0, start))
        await asyncio.sleep(end)
        result.put({"received": [c.chat_count for c in conns],
                    "latencies": [x for c in conns for x in c.chats],
                    "events": sum(c.events for c in conns)})
        for c in conns:
            await c.ws.close()
        for r in readers:
            r.cancel()


def viewers_proc(base: str, room_id: str, tokens: list[str], ready: Any, go: Any,
                 result: Any, window: tuple[float, float]) -> None:
    asyncio.run(viewers_main(base, room_id, tokens, ready, go, result, window))


async def send_load(base: str, room_id: str, tokens: list[str], chat_rate: float,
                    like_rate: float, seconds: float) -> dict[str, int]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        senders = [await Light.connect(http, base, t) for t in tokens]
        readers = [asyncio.create_task(s.read({"on": False, "start": 1e18}))
                   for s in senders]
        for s in senders:
            assert (await s.call("join", {"room_id": room_id})).get("ok")
        sent = {"chat_ok": 0, "chat_refused": 0, "like_ok": 0, "like_refused": 0}
        end = time.monotonic() + seconds

        async def chats(s: Light, rate: float) -> None:
            n = 0
            t0 = time.monotonic()
            while time.monotonic() < end:
                n += 1
                ack = await s.call("chat", {"room_id": room_id,
                                            "text": f"{time.time():.6f} 你好",
                                            "client_msg_id": secrets.token_hex(8)})
                sent["chat_ok" if ack.get("ok") else "chat_refused"] += 1
                delay = t0 + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)

        async def likes(s: Light, rate: float) -> None:
            n = 0
            t0 = time.monotonic()
            while time.monotonic() < end:
                n += 1
                ack = await s.call("like", {"room_id": room_id, "count": 1})
                sent["like_ok" if ack.get("ok") else "like_refused"] += 1
                delay = t0 + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)

        k = len(senders)
        await asyncio.gather(*[chats(s, chat_rate / k) for s in senders],
                             *[likes(s, like_rate / k) for s in senders])
        for r in readers:
            r.cancel()
        for s in senders:
            await s.ws.close()
        return sent


# --- one run against one server -----------------------------------------------------------

async def make_people(base: str, n: int) -> tuple[str, list[str]]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async def post(path: str, body: Any, token: str | None = None) -> Any:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with http.post(base + path, json=body, headers=headers) as r:
                assert r.status in (200, 201), (path, r.status, await r.text())
                return await r.json()

        host = await post("/api/v1/accounts", {"name": f"bench-{secrets.token_hex(4)}",
                                               "password": "password-123", "role": "host"})
        room = await post("/api/v1/rooms", {"title": "bench"}, host["token"])
        await post(f"/api/v1/rooms/{room['id']}/status", {"status": "live"}, host["token"])
        sem = asyncio.Semaphore(20)

        async def viewer(i: int) -> str:
            async with sem:
                return str((await post("/api/v1/viewers", {"nickname": f"v{i}"}))["token"])

        tokens = await asyncio.gather(*[viewer(i) for i in range(n)])
        return room["id"], list(tokens)


def run_one(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = Path(tempfile.mkdtemp(prefix="live-bench-"))
    env = dict(os.environ, LIVE_DATA_DIR=str(data_dir), LIVE_CHAT_BURST="1000",
               LIVE_CHAT_RATE_PER_S="1000", LIVE_LIKE_RATE_PER_S="1000",
               LIVE_VIEWER_IP_BURST="0",  # every simulated viewer comes from 127.0.0.1
               LIVE_LOG_LEVEL="WARNING")
    env.pop("LIVE_REDIS_URL", None)
    if kind == "live":
        cmd = [sys.executable, "-m", "live.cli", "serve", "--port", str(port)]
    else:
        cmd = [sys.executable, __file__, "--reference-server", str(port)]
    log = open(data_dir.parent / f"{data_dir.name}.log", "wb")
    server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        if kind == "live":
            room_id, tokens = asyncio.run(make_people(base, args.viewers + args.senders))
        else:
            room_id = "bench"
            tokens = ["x"] * (args.viewers + args.senders)
        viewer_tokens, sender_tokens = tokens[:args.viewers], tokens[args.viewers:]
        ctx = mp.get_context("spawn")
        ready = [ctx.Event() for _ in range(args.procs)]
        go = ctx.Event()
        result = ctx.Queue()
        drain = 2.0
        procs = []
        for i in range(args.procs):
            part = viewer_tokens[i::args.procs]
            p = ctx.Process(target=viewers_proc, args=(base, room_id, part, ready[i], go,
                                                       result, (0.0, args.seconds + drain)))
            p.start()
            procs.append(p)
        for r in ready:
            if not r.wait(timeout=600):
                raise RuntimeError("viewers did not connect in time")
        time.sleep(1.0)
        cpu0 = cpu_seconds(server.pid)
        t0 = time.time()
        go.set()
        sent = asyncio.run(send_load(base, room_id, sender_tokens, args.chat_rate,
                                     args.like_rate, args.seconds))
        time.sleep(drain)
        cpu = cpu_seconds(server.pid) - cpu0
        wall = time.time() - t0
        parts = [result.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        received = [x for part in parts for x in part["received"]]
        lat = sorted(x for part in parts for x in part["latencies"])
        events = sum(part["events"] for part in parts)
        expected = sent["chat_ok"] * args.viewers
        delivered = sum(received)

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

        return {
            "server": kind, "viewers": args.viewers, "senders": args.senders,
            "seconds": args.seconds, "chat_sent": sent["chat_ok"],
            "chat_refused": sent["chat_refused"], "likes_sent": sent["like_ok"],
            "likes_refused": sent["like_refused"],
            "chat_delivered_pct": round(100.0 * delivered / expected, 3) if expected else 0.0,
            "chat_deliveries": delivered,
            "chat_deliveries_per_s": round(delivered / args.seconds, 1),
            "events_delivered": events,
            "server_cpu_s": round(cpu, 2),
            "wall_s": round(wall, 2),
            "chat_deliveries_per_cpu_s": round(delivered / cpu, 1) if cpu else 0.0,
            "latency_p50_ms": round(pct(0.50), 1),
            "latency_p99_ms": round(pct(0.99), 1),
            "latency_samples": len(lat),
            "min_received_by_a_viewer": min(received) if received else 0,
        }
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
        log.close()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--reference-server":
        reference_server(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--chat-rate", type=float, default=50.0, help="chat messages/s, total")
    parser.add_argument("--like-rate", type=float, default=500.0, help="like calls/s, total")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--procs", type=int, default=2, help="viewer load processes")
    parser.add_argument("--only", choices=["live", "reference"], default=None)
    args = parser.parse_args()
    if args.viewers > 5000 or args.seconds > 120:
        parser.error("bounded: at most 5000 viewers and 120 s")
    runs = [k for k in ("live", "reference") if args.only in (None, k)]
    results = []
    for kind in runs:
        res = run_one(kind, args)
        results.append(res)
        print(json.dumps(res), flush=True)
    if len(results) == 2:
        live, ref = results
        ratio = (live["chat_deliveries_per_cpu_s"] / ref["chat_deliveries_per_cpu_s"]
                 if ref["chat_deliveries_per_cpu_s"] else float("inf"))
        print(json.dumps({"deliveries_per_cpu_s_ratio_live_over_reference":
                          round(ratio, 2)}))


if __name__ == "__main__":
    main()
