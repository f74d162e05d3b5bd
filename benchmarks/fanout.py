"""Fan-out benchmark: N viewers in one room, K senders, chat + likes, T seconds.

Runs the real `live serve` (`--mode embedded`: SQLite + in-process broker;
`--mode production [--workers N]`: PostgreSQL + Redis) and a naive reference
server (python-socketio, one `emit` to the room per chat and per like, no
coalescing) one after the other with the same load, and prints
delivered %, deliveries/s, server CPU-seconds, p50/p99 end-to-end latency and
deliveries per server CPU-second for both.

Viewers are light Engine.IO v4 / Socket.IO v5 websocket clients written as
asyncio Protocols, spread over `--procs` load-generator processes. Loopback only, bounded in
count and time.

    python benchmarks/fanout.py --viewers 2000 --senders 10 --chat-rate 50 \
        --like-rate 500 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from launch import ROOT, cpu_seconds, free_port, live_server, stop, wait_for_port

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

CHAT_SENT_AT = re.compile(rb'"text":\s*"(\d+\.\d+) ')


class Light(asyncio.Protocol):
    """Engine.IO v4 + Socket.IO v5 over a websocket, by hand, as an asyncio
    Protocol: no task or await per received frame, so the load generator's
    own CPU does not decide the latency it measures. Frames are not JSON-decoded:
    a chat's send time is read from its text with a regex (the load generator
    shares the two cores with the server)."""

    def __init__(self, host: str, path: str) -> None:
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}"
                        "\r\n\r\n").encode()
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.texts: asyncio.Queue[bytes] | None = asyncio.Queue()  # until connected
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_id = 0
        self.measure: dict[str, Any] = {"on": False, "start": 1e18}
        self.chats: list[float] = []  # latency of each chat received (s)
        self.sent_at: list[float] = []  # when each of those was sent (for --timeline)
        self.chat_count = 0
        self.events = 0
        self.closed = asyncio.get_running_loop().create_future()

    @classmethod
    async def connect(cls, base: str, token: str) -> Light:
        host, port = base.removeprefix("http://").split(":")
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            lambda: cls(f"{host}:{port}", "/socket.io/?EIO=4&transport=websocket"),
            host, int(port))
        assert conn.texts is not None
        opened = await conn.texts.get()
        assert opened.startswith(b"0"), opened
        conn.send_text("40" + json.dumps({"token": token}))
        while True:
            msg = await conn.texts.get()
            if msg.startswith(b"40"):
                break
            if msg.startswith(b"44"):
                raise RuntimeError(f"refused: {msg!r}")
        conn.texts = None
        return conn

    # -- asyncio.Protocol --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            assert buf.startswith(b"HTTP/1.1 101"), bytes(buf[:80])
            del buf[:end + 4]
            self.upgraded = True
        while len(buf) >= 2:
            opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
            head = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, head = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, head = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < head + n:
                return
            payload = bytes(buf[head:head + n])
            del buf[:head + n]
            if opcode == 1:
                self.on_text(payload)
            elif opcode == 8:
                assert self.transport is not None
                self.transport.close()
                return

    def on_text(self, text: bytes) -> None:
        if self.texts is not None:
            self.texts.put_nowait(text)
        elif text == b"2":
            self.send_text("3")
        elif text.startswith(b"42["):
            now = time.time()
            self.events += text.count(b'"seq":')
            measure = self.measure
            for match in CHAT_SENT_AT.finditer(text):
                sent = float(match.group(1))
                if measure["on"] or sent >= measure["start"]:
                    self.chat_count += 1
                    self.chats.append(now - sent)
                    self.sent_at.append(sent)
        elif text.startswith(b"43"):
            i = text.index(b"[")
            fut = self.acks.pop(int(text[2:i]), None)
            if fut is not None and not fut.done():
                fut.set_result(json.loads(text[i:])[0])

    def send_text(self, text: str) -> None:
        """A client frame must be masked; an all-zero mask is valid and free."""
        data = text.encode()
        n = len(data)
        if n < 126:
            head = bytes((0x81, 0x80 | n))
        elif n < 1 << 16:
            head = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            head = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
        assert self.transport is not None
        self.transport.write(head + b"\0\0\0\0" + data)

    async def call(self, event: str, data: Any) -> Any:
        self.next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[self.next_id] = fut
        self.send_text(f"42{self.next_id}" + json.dumps([event, data]))
        return await fut

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def viewers_main(base: str, room_id: str, tokens: list[str], ready: Any, go: Any,
                       result: Any, window: tuple[float, float]) -> None:
    measure = {"on": False, "start": 0.0}
    conns: list[Light] = []
    sem = asyncio.Semaphore(16)

    async def one(token: str) -> None:
        async with sem:
            c = await Light.connect(base, token)
            c.measure = measure
            ack = await c.call("join", {"room_id": room_id})
            assert ack.get("ok"), ack
            conns.append(c)

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
                "sent_at": [x for c in conns for x in c.sent_at],
                "events": sum(c.events for c in conns)})
    for c in conns:
        await c.close()


def viewers_proc(base: str, room_id: str, tokens: list[str], ready: Any, go: Any,
                 result: Any, window: tuple[float, float]) -> None:
    asyncio.run(viewers_main(base, room_id, tokens, ready, go, result, window))


async def send_load(base: str, room_id: str, tokens: list[str], chat_rate: float,
                    like_rate: float, seconds: float) -> dict[str, int]:
    senders = [await Light.connect(base, t) for t in tokens]
    for s in senders:
        assert (await s.call("join", {"room_id": room_id})).get("ok")
    sent: dict[str, Any] = {"chat_ok": 0, "chat_refused": 0, "like_ok": 0, "like_refused": 0,
                            "ack_s": {"chat": [], "like": []}}
    end = time.monotonic() + seconds

    async def paced(s: Light, rate: float, event: str, body: Any, counter: str) -> None:
        n = 0
        t0 = time.monotonic()
        while time.monotonic() < end:
            n += 1
            asked = time.monotonic()
            ack = await s.call(event, body())
            sent["ack_s"][event].append(time.monotonic() - asked)
            sent[counter + ("_ok" if ack.get("ok") else "_refused")] += 1
            delay = t0 + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def chat() -> dict[str, Any]:
        return {"room_id": room_id, "text": f"{time.time():.6f} 你好",
                "client_msg_id": secrets.token_hex(8)}

    def like() -> dict[str, Any]:
        return {"room_id": room_id, "count": 1}

    k = len(senders)
    await asyncio.gather(*[paced(s, chat_rate / k, "chat", chat, "chat") for s in senders],
                         *[paced(s, like_rate / k, "like", like, "like") for s in senders])
    for s in senders:
        await s.close()
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
    if kind == "live":
        env = {"LIVE_CHAT_BURST": "1000", "LIVE_CHAT_RATE_PER_S": "1000",
               "LIVE_LIKE_RATE_PER_S": "1000",
               "LIVE_VIEWER_IP_BURST": "0"}  # every simulated viewer comes from 127.0.0.1
        with live_server(args.mode, args.workers, env) as server:
            return measure(kind, args, server.base, server.cpu)
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--reference-server", str(port)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process, "the reference server exited")
        return measure(kind, args, f"http://127.0.0.1:{port}",
                       lambda: cpu_seconds(process.pid))
    finally:
        stop(process)


def measure(kind: str, args: argparse.Namespace, base: str,
            server_cpu: Callable[[], float]) -> dict[str, Any]:
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
    cpu0 = server_cpu()
    t0 = time.time()
    go.set()
    sent = asyncio.run(send_load(base, room_id, sender_tokens, args.chat_rate,
                                 args.like_rate, args.seconds))
    time.sleep(drain)
    cpu = server_cpu() - cpu0
    wall = time.time() - t0
    parts = [result.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    received = [x for part in parts for x in part["received"]]
    lat = sorted(x for part in parts for x in part["latencies"])
    if args.timeline:
        print_timeline([(s, x) for part in parts
                        for s, x in zip(part["sent_at"], part["latencies"], strict=True)], t0)
    events = sum(part["events"] for part in parts)
    expected = sent["chat_ok"] * args.viewers
    delivered = sum(received)

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return {
        "server": kind, "mode": args.mode if kind == "live" else "-",
        "workers": args.workers if kind == "live" and args.mode == "production" else 1,
        "viewers": args.viewers, "senders": args.senders,
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
        "chat_ack_p50_ms": ms_at(sorted(sent["ack_s"]["chat"]), 0.5),
        "chat_ack_p99_ms": ms_at(sorted(sent["ack_s"]["chat"]), 0.99),
        "like_ack_p50_ms": ms_at(sorted(sent["ack_s"]["like"]), 0.5),
        "like_ack_p99_ms": ms_at(sorted(sent["ack_s"]["like"]), 0.99),
        "min_received_by_a_viewer": min(received) if received else 0,
    }


def ms_at(sorted_s: list[float], q: float) -> float:
    return round(sorted_s[min(len(sorted_s) - 1, int(q * len(sorted_s)))] * 1000, 1) \
        if sorted_s else float("nan")


def print_timeline(samples: list[tuple[float, float]], t0: float) -> None:
    """Latency by the second the chat was sent in: shows whether a tail is a
    warm-up, a stall or a steady backlog."""
    by_second: dict[int, list[float]] = {}
    for sent, latency in samples:
        by_second.setdefault(int(sent - t0), []).append(latency)
    for second in sorted(by_second):
        xs = sorted(by_second[second])
        print(f"  t={second:3d}s n={len(xs):7d} p50={xs[len(xs) // 2] * 1000:7.1f} ms "
              f"p99={xs[int(0.99 * (len(xs) - 1))] * 1000:7.1f} ms max={xs[-1] * 1000:7.1f} ms",
              file=sys.stderr)


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
    parser.add_argument("--mode", choices=["embedded", "production"], default="embedded",
                        help="production: PostgreSQL + Redis (a fresh database and prefix)")
    parser.add_argument("--workers", type=int, default=1,
                        help="production: `live serve --workers N` behind one port")
    parser.add_argument("--timeline", action="store_true",
                        help="print chat latency per second of the run (stderr)")
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
