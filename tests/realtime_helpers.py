"""A real server and real Socket.IO clients, for any domain's tests.

    from tests.realtime_helpers import server_url, sio_client

    async def test_stock_event_reaches_viewers(api: Api, client: TestClient) -> None:
        host = await api.host(); viewer = await api.viewer()
        room = await api.room(host, products=1)
        async with sio_client(client, viewer.token) as sio:
            ack = await sio.join(room["id"])
            ...  # act over HTTP with `api`
            ev = await sio.wait_for_type("stock")
            assert ev["data"]["remaining"] == 9

`client` is pytest-aiohttp's test client: a real aiohttp server on
127.0.0.1 with a free port (`aiohttp_client(app)` makes more, say two apps
sharing one Redis). Frames are flattened into `sio.events` (every `{seq,
type, ts, data}` in arrival order); `sio.frames` keeps them as received.

Tests that move time use the fixtures below instead: `rt` is a server whose
app runs on the test's FakeClock with timers off, `rapi` talks to it (every
test sees them: conftest.py loads this module as a plugin). A test module may
override `rt_settings` to change the app's settings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestClient

from live.app import create_app
from live.clock import FakeClock
from live.settings import Settings
from tests.helpers import Api


@pytest.fixture
def rt_settings() -> dict[str, Any]:
    """Settings overrides for `rt_app` (a module overrides this fixture)."""
    return {}


@pytest.fixture
def rt_app(make_settings: Callable[..., Settings], clock: FakeClock,
           rt_settings: dict[str, Any]) -> web.Application:
    return create_app(make_settings(**rt_settings), clock=clock, run_timers=False)


@pytest.fixture
async def rt(rt_app: web.Application, aiohttp_client: Any) -> TestClient:  # type: ignore[type-arg]
    return await aiohttp_client(rt_app)


@pytest.fixture
async def rapi(rt: TestClient) -> Api:  # type: ignore[type-arg]
    return Api(rt)


def server_url(client: TestClient | str) -> str:  # type: ignore[type-arg]
    if isinstance(client, str):
        return client.rstrip("/")
    return str(client.make_url("/")).rstrip("/")


class SioClient:
    """One Socket.IO connection (websocket transport, no auto-reconnect)."""

    def __init__(self, url: str, token: str | None, *, headers: dict[str, str] | None = None,
                 transports: list[str] | None = None) -> None:
        self.url = url
        self.token = token
        self.headers = headers or {}
        self.transports = transports or ["websocket"]
        # our own HTTP session: the client leaks its own when a connect fails
        self.http = aiohttp.ClientSession()
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.http)
        self.frames: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.disconnected = asyncio.Event()
        self._changed = asyncio.Event()
        self.sio.on("events", self._on_events)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("connect_error", self._on_connect_error)
        self.connect_error: Any = None

    async def _on_events(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)
        self.events.extend(frame["events"])
        self._changed.set()

    async def _on_connect_error(self, data: Any = None) -> None:
        self.connect_error = data

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()
        self._changed.set()

    async def connect(self) -> None:
        auth = {"token": self.token} if self.token is not None else None
        await self.sio.connect(self.url, auth=auth, headers=self.headers,
                               transports=self.transports, wait_timeout=10)

    async def close(self) -> None:
        if self.sio.connected:
            for namespace in list(self.sio.namespaces):
                await self.sio._send_packet(self.sio.packet_class(
                    socketio.packet.DISCONNECT, namespace=namespace))
            # abort: do not wait a second for the websocket closing handshake
            await self.sio.eio.disconnect(abort=True)
        await self.http.close()

    async def call(self, event: str, data: Any = None, wait_s: float = 10) -> Any:
        return await self.sio.call(event, data, timeout=wait_s)

    async def join(self, room_id: str, **kw: Any) -> dict[str, Any]:
        ack: dict[str, Any] = await self.call("join", {"room_id": room_id, **kw})
        return ack

    async def chat(self, room_id: str, text: str, client_msg_id: str | None = None
                   ) -> dict[str, Any]:
        body: dict[str, Any] = {"room_id": room_id, "text": text}
        if client_msg_id is not None:
            body["client_msg_id"] = client_msg_id
        ack: dict[str, Any] = await self.call("chat", body)
        return ack

    async def wait_until(self, predicate: Callable[[list[dict[str, Any]]], bool],
                         wait_s: float = 10) -> list[dict[str, Any]]:
        """Wait until `predicate(self.events)` holds; returns the events."""
        async with asyncio.timeout(wait_s):
            while not predicate(self.events):
                self._changed.clear()
                if predicate(self.events):
                    break
                await self._changed.wait()
        return self.events

    async def wait_for_type(self, type_: str, count: int = 1,
                            wait_s: float = 10) -> dict[str, Any]:
        """The `count`-th event of this type (1-based); returns it."""
        await self.wait_until(lambda evs: sum(e["type"] == type_ for e in evs) >= count,
                              wait_s)
        return [e for e in self.events if e["type"] == type_][count - 1]

    async def wait_for_seq(self, seq: int, wait_s: float = 10) -> list[dict[str, Any]]:
        return await self.wait_until(lambda evs: any(e["seq"] >= seq for e in evs), wait_s)

    async def wait_disconnected(self, wait_s: float = 10) -> None:
        async with asyncio.timeout(wait_s):
            await self.disconnected.wait()

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_]


@contextlib.asynccontextmanager
async def sio_client(client: TestClient | str, token: str | None,  # type: ignore[type-arg]
                     **kw: Any) -> AsyncIterator[SioClient]:
    """A connected client, closed on exit."""
    c = SioClient(server_url(client), token, **kw)
    await c.connect()
    try:
        yield c
    finally:
        await c.close()


async def connect_error(client: TestClient | str, token: str | None,  # type: ignore[type-arg]
                        **kw: Any) -> str:
    """Connect expecting a refusal; returns the error (the server's connect_error
    data when it sent one, else the client's message)."""
    c = SioClient(server_url(client), token, **kw)
    try:
        await c.connect()
    except socketio.exceptions.ConnectionError as exc:
        return str(c.connect_error if c.connect_error is not None else exc)
    finally:
        await c.close()
    raise AssertionError("the connection was accepted")
