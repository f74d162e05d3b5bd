"""`live serve --workers N`: N worker processes behind one port.

Every worker binds the public port with SO_REUSEPORT, so the kernel spreads
connections over them, and also a private loopback port of its own. Rooms are
shared through Redis (the broker), so any worker can serve any room.

Socket.IO's long-polling transport is a series of HTTP requests that must all
reach the worker holding the session; load balancers solve this with sticky
sessions. We make the session id carry its worker (`w<index>.<random>`), and a
worker that receives a polling request or a websocket upgrade for another
worker's session forwards it over loopback to that worker's private port. So a
stock Socket.IO client works against `--workers N` with no sticky balancer;
behind a real load balancer on several machines, see docs/deploy.md.

The parent process migrates the database once, starts the workers, restarts a
worker that dies, and passes SIGTERM/SIGINT on for a graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web

log = logging.getLogger("live.workers")

SID_SEP = "."


@dataclass(frozen=True)
class WorkerInfo:
    index: int
    count: int
    private_port_base: int

    def private_port(self, index: int) -> int:
        return self.private_port_base + index

    def owner_of(self, sid: str) -> int | None:
        """The worker index a session id names, or None if it names none."""
        head, sep, _ = sid.partition(SID_SEP)
        if not sep or not head.startswith("w") or not head[1:].isdigit():
            return None
        index = int(head[1:])
        return index if 0 <= index < self.count else None


WORKER: web.AppKey[WorkerInfo] = web.AppKey("worker")
PROXY_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("proxy_session")


def tag_session_ids(eio: object, index: int) -> None:
    """Make the Engine.IO server's session ids name this worker."""
    original: Callable[[], str] = eio.generate_id  # type: ignore[attr-defined]

    def generate_id() -> str:
        return f"w{index}{SID_SEP}{original()}"

    eio.generate_id = generate_id  # type: ignore[attr-defined]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "content-length",
              "proxy-connection", "te", "trailer", "sec-websocket-key",
              "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-accept"}


@web.middleware
async def forward_foreign_sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    info = request.app.get(WORKER)
    if info is None or not request.path.startswith("/socket.io/"):
        return await handler(request)
    sid = parse_qs(request.query_string).get("sid", [None])[0]
    owner = info.owner_of(sid) if sid else None
    if owner is None or owner == info.index:
        return await handler(request)
    target = f"http://127.0.0.1:{info.private_port(owner)}{request.path_qs}"
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _forward_websocket(request, request.app[PROXY_SESSION],
                                        target.replace("http", "ws", 1), headers)
    try:
        return await forward_http(request, target, headers)
    except aiohttp.ClientError:
        # The owner is gone (restarting): the client's session is lost with it;
        # Engine.IO answers 400 for unknown sessions and clients reconnect.
        return web.Response(status=400, text="session unknown")


async def forward_http(request: web.Request, target: str,
                       headers: dict[str, str] | None = None) -> web.Response:
    """Send `request` on to `target` (another worker's private port) and answer
    with what it answers. Raises aiohttp.ClientError when it cannot be reached."""
    if headers is None:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    body = await request.read()
    async with request.app[PROXY_SESSION].request(request.method, target, headers=headers,
                                                  data=body, allow_redirects=False) as upstream:
        payload = await upstream.read()
        out_headers = {k: v for k, v in upstream.headers.items()
                       if k.lower() not in HOP_BY_HOP}
        return web.Response(body=payload, status=upstream.status, headers=out_headers)


async def _forward_websocket(request: web.Request, session: aiohttp.ClientSession, target: str,
                             headers: dict[str, str]) -> web.StreamResponse:
    for name in ("Host", "host"):
        headers.pop(name, None)
    headers["Host"] = request.host
    try:
        upstream = await session.ws_connect(target, headers=headers, autoping=False,
                                            max_msg_size=0)
    except (aiohttp.ClientError, aiohttp.WSServerHandshakeError):
        return web.Response(status=400, text="session unknown")
    downstream = web.WebSocketResponse(autoping=False, max_msg_size=0)
    await downstream.prepare(request)

    async def pump(src: object, dst: object) -> None:
        async for msg in src:  # type: ignore[attr-defined]
            if msg.type == aiohttp.WSMsgType.TEXT:
                await dst.send_str(msg.data)  # type: ignore[attr-defined]
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await dst.send_bytes(msg.data)  # type: ignore[attr-defined]
            elif msg.type == aiohttp.WSMsgType.PING:
                await dst.ping(msg.data)  # type: ignore[attr-defined]
            elif msg.type == aiohttp.WSMsgType.PONG:
                await dst.pong(msg.data)  # type: ignore[attr-defined]
            else:
                break

    tasks = [asyncio.create_task(pump(downstream, upstream)),
             asyncio.create_task(pump(upstream, downstream))]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await upstream.close()
    await downstream.close()
    return downstream


async def proxy_session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
    app[PROXY_SESSION] = aiohttp.ClientSession(auto_decompress=False)
    yield
    await app[PROXY_SESSION].close()


def install(app: web.Application, info: WorkerInfo) -> None:
    app[WORKER] = info
    app.middlewares.insert(0, forward_foreign_sessions)
    app.cleanup_ctx.append(proxy_session_ctx)


# --- the parent process -------------------------------------------------------

def supervise(count: int, argv_for: Callable[[int], list[str]],
              env: dict[str, str]) -> int:
    """Run `count` workers, restart any that dies, stop them all on a signal."""
    procs: dict[int, subprocess.Popen[bytes]] = {}
    stopping = False

    def start(index: int) -> None:
        procs[index] = subprocess.Popen(argv_for(index), env=env)
        log.info("worker %d started pid=%d", index, procs[index].pid)

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(count):
        start(index)
    restarts: dict[int, list[float]] = {i: [] for i in range(count)}
    while not stopping:
        time.sleep(0.2)
        for index, proc in list(procs.items()):
            if proc.poll() is None or stopping:
                continue
            recent = [t for t in restarts[index] if time.monotonic() - t < 60]
            if len(recent) >= 5:
                log.error("worker %d keeps dying (exit %s); stopping", index, proc.returncode)
                stop(signal.SIGTERM, None)
                break
            log.warning("worker %d exited with %s; restarting", index, proc.returncode)
            restarts[index] = [*recent, time.monotonic()]
            start(index)
    code = 0
    for proc in procs.values():
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        code = code or (proc.returncode if proc.returncode and proc.returncode > 0 else 0)
    return code


def private_port_base(port: int, count: int) -> int:
    """Private ports sit 1000 above the public one (below it near the top)."""
    return port + 1000 if port + 1000 + count <= 65535 else port - 1000 - count


def free_worker_port(count: int) -> int:
    """A free public port on 127.0.0.1 whose workers' private ports are free
    too (for tests and benchmarks that start `live serve --workers`). Taken
    below the kernel's ephemeral range (32768 and up), where no outgoing
    connection — a load generator's thousands of them — can grab a private
    port before its worker binds it (a worker that cannot bind dies)."""
    for _ in range(200):
        port = secrets.randbelow(11_000) + 20_000
        base = private_port_base(port, count)
        wanted = [port, *(range(base, base + count) if count > 1 else ())]
        try:
            for p in wanted:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free ports for the workers in 20000-31000")


def worker_argv(index: int, count: int, host: str, port: int, private_port_base: int) -> list[str]:
    return [sys.executable, "-m", "live.cli", "serve", "--host", host, "--port", str(port),
            "--worker-index", str(index), "--worker-count", str(count),
            "--private-port-base", str(private_port_base)]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["LIVE_AUTO_MIGRATE"] = "false"  # the parent migrated once
    return env
