"""What the fault tests share: a private Redis they may kill, real `live serve`
processes on PostgreSQL + Redis, an HTTP API client for them, and a room
follower that checks what a client receives across faults.

Everything is on loopback and bounded in time. The shared Redis (6379) and
other sessions' PostgreSQL backends are never touched: a test that restarts
Redis starts its own `redis-server` on a free port, and a test that drops
database connections terminates only the backends whose `application_name`
names a server process it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from engineio import packet as eio_packet

from live.workers import free_worker_port
from tests.conftest import unavailable
from tests.helpers import Api
from tests.realtime_helpers import SioClient

# Every fault test runs against production mode: PostgreSQL + Redis.
production = pytest.mark.parametrize("backend", ["postgresql"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A `redis-server` of this test's own, on a free port, keeping nothing on
    disk: killing and starting it again is a Redis that lost everything."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if shutil.which("redis-server") is None:
            unavailable("the redis-server binary")  # fails under CI=true, skips elsewhere
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
             "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()


class Server:
    """`live serve` as its own process (`--workers N` when asked)."""

    def __init__(self, env: dict[str, str], workdir: Path, *, workers: int = 1,
                 name: str = "server") -> None:
        self.port = free_worker_port(workers)
        self.env = env
        self.workers = workers
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def private_url(self, index: int) -> str:
        from live.workers import private_port_base

        return f"http://127.0.0.1:{private_port_base(self.port, self.workers) + index}"

    def start(self) -> None:
        args = [sys.executable, "-m", "live.cli", "serve", "--port", str(self.port)]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=log)
        log.close()

    def worker_pids(self) -> list[int]:
        """The worker processes' pids, in worker-index order (from their command lines)."""
        assert self.proc is not None
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                             text=True).stdout.split()
        by_index: dict[int, int] = {}
        for pid in map(int, out):
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"--worker-index" in argv:
                    by_index[int(argv[argv.index(b"--worker-index") + 1])] = pid
        return [by_index[i] for i in sorted(by_index)]

    def pids(self) -> list[int]:
        assert self.proc is not None
        return self.worker_pids() if self.workers > 1 else [self.proc.pid]

    async def healthy(self, url: str | None = None, wait_s: float = 90) -> None:
        target = (url or self.url) + "/healthz"
        deadline = time.monotonic() + wait_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    break
                with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                    async with http.get(target, timeout=aiohttp.ClientTimeout(total=5)) as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError(f"{target} not healthy: {self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in self.worker_pids() if self.workers > 1 else []:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def server_env(database_settings: dict[str, Any], workdir: Path, redis_url: str,
               **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in [k for k in env if k.startswith("LIVE_")]:
        del env[name]
    env.update({
        "LIVE_DATA_DIR": str(workdir / "data"),
        "LIVE_SECRET": "fault-secret-0123456789abcdef",
        "LIVE_DATABASE_URL": database_settings["database_url"],
        "LIVE_AUTO_MIGRATE": "false",
        "LIVE_REDIS_URL": redis_url,
        "LIVE_REDIS_PREFIX": f"live-fault:{secrets.token_hex(4)}:",
        "LIVE_LOG_LEVEL": "WARNING",
        **extra,
    })
    if database_settings.get("database_schema"):
        env["LIVE_DATABASE_SCHEMA"] = database_settings["database_schema"]
    return env


@contextlib.asynccontextmanager
async def api_for(url: str) -> AsyncIterator[Api]:
    """The tests' `Api`, over a real URL instead of pytest-aiohttp's test client."""
    async with aiohttp.ClientSession(
            base_url=url, connector=aiohttp.TCPConnector(limit=0)) as http:
        yield Api(http)  # type: ignore[arg-type]


@dataclass
class Follower:
    """A viewer following one room the way the player does (static/js/realtime.js):
    it joins, joins again with `last_seq` after a disconnect, and resyncs from
    the snapshot when the answer's `replay` is null. It records every event
    exactly as received (`raw`, no de-duplication), so a test can check the
    server, not the client, for loss, duplicates and order."""

    room_id: str
    token: str
    name: str = ""
    conn: SioClient | None = None
    raw: list[dict[str, Any]] = field(default_factory=list)
    seq: int | None = None
    resyncs: int = 0  # joins answered `replay: null` after the first
    replays: list[list[dict[str, Any]]] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)  # live frame skipped seqs
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    goodbyes: list[str] = field(default_factory=list)

    async def connect(self, url: str) -> dict[str, Any]:
        """Connect to `url` and join (with `last_seq` when it has one)."""
        conn = SioClient(url, self.token)
        pending: list[dict[str, Any]] = []
        joined = False

        async def on_events(frame: dict[str, Any]) -> None:
            if not joined:
                pending.extend(frame["events"])
            else:
                self._live(frame["events"])

        conn.sio.handlers["/"]["events"] = on_events
        receive = conn.sio.eio._receive_packet

        async def record(pkt: Any) -> None:
            # how the server said goodbye: an Engine.IO CLOSE (stock clients
            # reconnect) or a Socket.IO DISCONNECT ("41": they do not)
            if pkt.packet_type == eio_packet.CLOSE:
                self.goodbyes.append("engineio-close")
            elif pkt.packet_type == eio_packet.MESSAGE and str(pkt.data).startswith("1"):
                self.goodbyes.append("socketio-disconnect")
            await receive(pkt)

        conn.sio.eio._receive_packet = record
        await conn.connect()
        self.conn = conn
        kw = {"last_seq": self.seq} if self.seq is not None else {}
        ack = await conn.join(self.room_id, **kw)
        assert ack.get("ok"), ack
        snap_seq = int(ack["snapshot"]["seq"])
        if self.seq is not None:
            if ack["replay"] is None:
                self.resyncs += 1
            else:
                self.replays.append(ack["replay"])
                self.raw.extend(ack["replay"])
        self.seq = snap_seq
        joined = True
        self._live(pending)
        return dict(ack)

    def _live(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            self.raw.append(ev)
            assert self.seq is not None
            if ev["seq"] > self.seq + 1:
                self.gaps.append((self.seq, ev["seq"]))
            self.seq = max(self.seq, ev["seq"])
        self.changed.set()

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
            self.conn = None

    def chats(self) -> list[str]:
        return [e["data"]["text"] for e in self.raw if e["type"] == "chat"]

    async def wait_for_chat(self, text: str, wait_s: float = 20) -> None:
        async with asyncio.timeout(wait_s):
            while text not in self.chats():
                self.changed.clear()
                await self.changed.wait()

    async def disconnected(self, wait_s: float = 20) -> None:
        assert self.conn is not None
        await self.conn.wait_disconnected(wait_s)


@dataclass
class TwoWorkers:
    server: Server
    room: dict[str, Any]
    tokens: list[str]
    followers: list[Follower] = field(default_factory=list)  # closed at the end


@contextlib.asynccontextmanager
async def two_workers_with_a_room(database_settings: dict[str, Any], workdir: Path,
                                  viewers: int) -> AsyncIterator[TwoWorkers]:
    """A private Redis, `live serve --workers 2` on it (chat limits off), both
    workers healthy, a live room and `viewers` viewer tokens."""
    redis = PrivateRedis(workdir / "redis")
    redis.start()
    env = server_env(database_settings, workdir, redis.url,
                     LIVE_CHAT_BURST="1000", LIVE_CHAT_RATE_PER_S="1000")
    server = Server(env, workdir, workers=2)
    server.start()
    cluster: TwoWorkers | None = None
    try:
        await server.healthy()
        await asyncio.gather(server.healthy(server.private_url(0)),
                             server.healthy(server.private_url(1)))
        async with api_for(server.private_url(0)) as api:
            host = await api.host()
            room = await api.room(host)
            tokens = [(await api.viewer(f"看客{i}")).token for i in range(viewers)]
        cluster = TwoWorkers(server, room, tokens)
        yield cluster
    finally:
        for f in cluster.followers if cluster else []:
            await f.close()
        server.stop()
        redis.kill()


async def setup_room(api: Api, *, products: int = 0, **kw: Any) -> tuple[Any, dict[str, Any]]:
    host = await api.host()
    room = await api.room(host, products=products, **kw)
    return host, room


async def until(predicate: Callable[[], bool], wait_s: float) -> None:
    """Wait until `predicate()` holds: state that other tasks and sockets change."""
    async with asyncio.timeout(wait_s):
        while not predicate():  # noqa: ASYNC110 (many writers; a poll is simplest)
            await asyncio.sleep(0.02)


async def wait_viewers(url: str, room_id: str, count: int, wait_s: float = 20) -> None:
    """Wait until the room's snapshot counts `count` viewers (all workers)."""
    async with api_for(url) as api, asyncio.timeout(wait_s):
        while (await api.get(f"/api/v1/rooms/{room_id}"))["viewers"] != count:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def reconnect(f: Follower, url: str, wait_s: float = 60) -> dict[str, Any]:
    """Connect again (as a stock client's reconnection does, with a short backoff)
    and join with `last_seq`; returns the join's answer."""
    await f.close()
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        try:
            return await f.connect(url)
        except Exception:
            await f.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


class Sender:
    """Streams numbered chats into a room from one connection, recording acks."""

    def __init__(self, f: Follower) -> None:
        self.f = f
        self.acked: list[tuple[int, str]] = []  # (seq, text), in ack order
        self.refused: list[dict[str, Any]] = []
        self.stop = asyncio.Event()

    async def run(self, count: int, every_s: float) -> None:
        assert self.f.conn is not None
        for i in range(count):
            if self.stop.is_set():
                return
            text = f"m{i:04d}"
            ack = await self.f.conn.chat(self.f.room_id, text,
                                         client_msg_id=secrets.token_hex(8))
            if ack.get("ok") and ack.get("seq") is not None:
                self.acked.append((int(ack["seq"]), text))
            else:
                self.refused.append(ack)
            await asyncio.sleep(every_s)

    def texts(self) -> list[str]:
        return [t for _, t in sorted(self.acked)]
