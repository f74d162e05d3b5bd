"""Talking to the server like a client does, with less typing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any

    @property
    def code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code"))
        return None

    def __getitem__(self, key: str) -> Any:
        return self.body[key]


@dataclass
class Actor:
    token: str
    id: str
    name: str
    invite_code: str | None = None


class Api:
    """`await api.post("/api/v1/rooms", {...}, token=host.token)` -> Reply."""

    def __init__(self, client: TestClient) -> None:  # type: ignore[type-arg]
        self.client = client

    async def call(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                   headers: dict[str, str] | None = None, raw: Any = None) -> Reply:
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": h, "allow_redirects": False}
        if raw is not None:
            kwargs["data"] = raw
        elif body is not None:
            kwargs["json"] = body
        async with self.client.request(method, path, **kwargs) as resp:
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                raw = await resp.read()  # not JSON: text, or bytes (a PNG)
                try:
                    data = raw.decode()
                except UnicodeDecodeError:
                    data = raw
            return Reply(resp.status, data, resp.headers)

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return await self.call("POST", path, body, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return await self.call("PUT", path, body, **kw)

    async def patch(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return await self.call("PATCH", path, body, **kw)

    async def delete(self, path: str, **kw: Any) -> Reply:
        return await self.call("DELETE", path, **kw)

    # --- people ---------------------------------------------------------------

    async def host(self, name: str | None = None) -> Actor:
        r = await self.post("/api/v1/accounts", {
            "name": name or f"host-{secrets.token_hex(4)}", "password": "password-123",
            "role": "host"})
        assert r.status == 201, r.body
        me = await self.get("/api/v1/me", token=r["token"])
        return Actor(r["token"], r["account"]["id"], r["account"]["name"],
                     me["invite_code"])

    async def leader(self, invite_code: str, name: str | None = None) -> Actor:
        r = await self.post("/api/v1/accounts", {
            "name": name or f"leader-{secrets.token_hex(4)}", "password": "password-123",
            "role": "leader", "invite_code": invite_code})
        assert r.status == 201, r.body
        me = await self.get("/api/v1/me", token=r["token"])
        return Actor(r["token"], r["account"]["id"], r["account"]["name"],
                     me["invite_code"])

    async def viewer(self, nickname: str = "小明") -> Actor:
        r = await self.post("/api/v1/viewers", {"nickname": nickname})
        assert r.status == 201, r.body
        return Actor(r["token"], r["viewer"]["id"], nickname)

    # --- things ---------------------------------------------------------------

    async def product(self, host: Actor, *, price_cents: int = 1990, stock: int = 100,
                      title: str = "赣南脐橙") -> dict[str, Any]:
        r = await self.post("/api/v1/products", {"title": title, "price_cents": price_cents,
                                                 "stock": stock}, token=host.token)
        assert r.status == 201, r.body
        return dict(r.body)

    async def room(self, host: Actor, *, live: bool = True, products: int = 0,
                   **product_kw: Any) -> dict[str, Any]:
        """A room (live by default) with `products` new products on its shelf."""
        r = await self.post("/api/v1/rooms", {"title": "今晚鲜果专场"}, token=host.token)
        assert r.status == 201, r.body
        room = dict(r.body)
        if products:
            ids = [(await self.product(host, **product_kw))["id"] for _ in range(products)]
            s = await self.put(f"/api/v1/rooms/{room['id']}/shelf", {"product_ids": ids},
                               token=host.token)
            assert s.status == 200, s.body
        if live:
            s = await self.post(f"/api/v1/rooms/{room['id']}/status", {"status": "live"},
                                token=host.token)
            assert s.status == 200, s.body
            room = dict(s.body)
        return room
