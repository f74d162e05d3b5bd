"""A lean HTTP/1.1 keep-alive client for load generators, as an asyncio Protocol.

The load generator shares the two cores with the server it measures. aiohttp's
client spends about as much CPU per request as a small server handler, so a
burst measured through it mostly measures the client. This one sends prepared
bytes on an already open connection and reads `Content-Length` bodies: one
request at a time per connection, as a browser tab's fetch would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class Connection(asyncio.Protocol):
    def __init__(self, host: str) -> None:
        self.host = host
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False

    @classmethod
    async def open(cls, base: str) -> Connection:
        host_port = base.removeprefix("http://")
        host, port = host_port.split(":")
        _, conn = await asyncio.get_running_loop().create_connection(
            lambda: cls(host_port), host, int(port))
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self.buf[:head_end]).decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        end = head_end + 4 + length
        if len(self.buf) < end:
            return
        body = bytes(self.buf[head_end + 4:end])
        del self.buf[:end]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((int(head[0].split(" ", 2)[1]), body))

    def prepare(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> bytes:
        """The request's bytes, built before the clock starts."""
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}",
                 f"Content-Length: {len(payload)}"]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload

    async def send(self, request: bytes) -> tuple[int, bytes]:
        assert self.waiter is None or self.waiter.done(), "one request at a time"
        if self.lost:
            raise ConnectionError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(request)
        return await self.waiter

    async def request(self, method: str, path: str, body: Any = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Any]:
        status, raw = await self.send(self.prepare(method, path, body, headers))
        return status, json.loads(raw) if raw else None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_warm(base: str, path: str) -> Connection:
    """A connection that has already carried one `GET path` (answered 200), as a
    browser's has by the time its user acts: the server's per-connection set-up
    is behind it."""
    conn = await Connection.open(base)
    try:
        status, _ = await conn.send(conn.prepare("GET", path))
    except BaseException:
        conn.close()
        raise
    if status != 200:
        conn.close()
        raise RuntimeError(f"warm-up GET {path} answered {status}")
    return conn


async def open_many(base: str, n: int, warm_path: str, chunk: int = 100) -> list[Connection]:
    """`n` warm connections, opened `chunk` at a time: all at once would overflow
    the server's listen backlog (128), and the kernel would retry the dropped
    SYNs a second or more later."""
    conns: list[Connection] = []
    for first in range(0, n, chunk):
        got = await asyncio.gather(*(open_warm(base, warm_path)
                                     for _ in range(min(chunk, n - first))),
                                   return_exceptions=True)
        conns += [c for c in got if isinstance(c, Connection)]
        failed = [e for e in got if isinstance(e, BaseException)]
        if failed:
            for conn in conns:
                conn.close()
            raise failed[0]
    return conns


@dataclass
class Answer:
    status: int  # 0: no answer (see `error`)
    body: bytes
    latency_s: float  # from writing the request to the whole response
    done_at: float  # time.perf_counter() then
    error: str = ""  # the exception's class name when there was no answer


async def burst(requests: Sequence[tuple[Connection, bytes]],
                timeout_s: float = 120) -> tuple[float, float, list[Answer]]:
    """Send every prepared request at once, each on its own connection.

    Returns the start (perf_counter), the wall time until the last answer, and
    one `Answer` per request. Requests still unanswered after `timeout_s` are
    answered with error "TimeoutError", so a stuck server still gives a report.
    """
    gate = asyncio.Event()
    answers: list[Answer] = []

    async def one(conn: Connection, request: bytes) -> None:
        await gate.wait()
        t0 = time.perf_counter()
        try:
            status, body = await conn.send(request)
            error = ""
        except OSError as exc:
            status, body, error = 0, b"", type(exc).__name__
        t1 = time.perf_counter()
        answers.append(Answer(status, body, t1 - t0, t1, error))

    tasks = [asyncio.create_task(one(conn, request)) for conn, request in requests]
    await asyncio.sleep(0.2)  # every task is parked on the gate: setting it releases all
    start = time.perf_counter()
    gate.set()
    _, pending = await asyncio.wait(tasks, timeout=timeout_s)
    wall = time.perf_counter() - start
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    answers += [Answer(0, b"", wall, start + wall, "TimeoutError") for _ in pending]
    return start, wall, answers
