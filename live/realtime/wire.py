"""The fan-out's fast path: one room frame written straight to every member's websocket.

python-engineio queues each outgoing packet and wakes one writer task per
socket (on Python 3.11 through `asyncio.wait_for`, a task per packet). A frame
for 2,000 members that way is some 6,000 task steps per tick; each event-loop
turn stretches to tens of milliseconds, and every database await of every
handler (a chat is several) waits out one turn each. So a frame is encoded
once, as the bytes of one websocket text frame, and written to each member's
transport in a single synchronous loop — when that keeps the stream intact:

- the socket is on the websocket transport, upgrade finished, and we
  negotiated no compression (`LiveWebSocket`): frames are small JSON, and
  deflate per connection would cost more CPU than the bytes it saves;
- engineio's queue for it is empty and its writer is parked waiting for the
  next packet: everything queued earlier (the join's ack, a ping) is already
  on the wire, so order holds;
- its transport is not closing.

Otherwise the frame takes engineio's queue as before.

Slow consumers: a client that stops reading leaves bytes in its transport
buffer (or packets in its queue). Past `SLOW_BUFFER_BYTES` / `SLOW_QUEUE_PACKETS`
the connection is aborted; the client reconnects and replays what it missed
(`join` with `last_seq`). The room never waits for it.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from engineio.async_drivers.aiohttp import WebSocket  # type: ignore[import-untyped]

log = logging.getLogger("live.realtime.wire")

SLOW_BUFFER_BYTES = 1 << 20  # ~ a few hundred frames unread
SLOW_QUEUE_PACKETS = 512


@dataclass(frozen=True)
class Frame:
    """One Engine.IO packet and the same packet as websocket frame bytes."""

    packet: Any  # engineio.packet.Packet
    wire: bytes


def text_frame(text: str) -> bytes:
    """A final, unmasked websocket text frame (RFC 6455 §5.2), as a server sends."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload


class LiveWebSocket(WebSocket):  # type: ignore[misc]
    """engineio's aiohttp websocket, uncompressed, that tells its engineio
    socket where its transport is (the fast path needs it)."""

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(max_msg_size=self.server.max_http_buffer_size,
                                           compress=False)
        await self._sock.prepare(request)
        self.environ = environ
        eio_socket = getattr(self.handler, "__self__", None)
        if eio_socket is not None:
            eio_socket.live_transport = request.transport
        try:
            await self.handler(self)
        finally:
            if eio_socket is not None:
                eio_socket.live_transport = None
        return self._sock


def install(eio_server: Any) -> None:
    """Make an engineio AsyncServer (aiohttp mode) use `LiveWebSocket`."""
    eio_server._async = {**eio_server._async, "websocket": LiveWebSocket}


def write(eio_socket: Any, frame: Frame) -> bool | None:
    """Write `frame` to the socket now if that is safe.

    True: written. False: not safe now; queue it. None: the client is too slow
    and its connection was aborted; send nothing."""
    transport = getattr(eio_socket, "live_transport", None)
    if transport is None or eio_socket.closed or transport.is_closing():
        return False
    queue = eio_socket.queue
    if transport.get_write_buffer_size() > SLOW_BUFFER_BYTES \
            or queue.qsize() > SLOW_QUEUE_PACKETS:
        log.warning("slow consumer sid=%s: %d bytes unread, %d packets queued; disconnecting",
                    eio_socket.sid, transport.get_write_buffer_size(), queue.qsize())
        transport.abort()
        return None
    if not eio_socket.upgraded or eio_socket.upgrading or queue.qsize():
        return False
    # the writer is parked in `queue.get()`: nothing of this socket is in flight
    getters = queue._getters
    if not getters or getters[-1].done():
        return False
    transport.write(frame.wire)
    return True
