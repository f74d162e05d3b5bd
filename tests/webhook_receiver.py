"""A real HTTP receiver for webhook tests: records what arrives, can fail on purpose."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    received: list[Received] = field(default_factory=list)
    fail_next: int = 0  # answer 500 to this many requests first
    url: str = ""

    def app(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            body = await request.read()
            if self.fail_next > 0:
                self.fail_next -= 1
                return web.Response(status=500, text="not now")
            self.received.append(Received(dict(request.headers), body))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", hook)
        return app

    def events(self, name: str | None = None) -> list[Any]:
        return [r.json for r in self.received if name is None or r.json["event"] == name]
