"""Helpers for distribution tests: a clocked app, chains of 团长, links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from tests.helpers import Actor, Api


@dataclass
class Chain:
    host: Actor
    a: Actor
    b: Actor
    c: Actor
    room: dict[str, object]


async def chain(api: Api, **room_kw: object) -> Chain:
    """host → A → B → C, and a live room of the host."""
    host = await api.host()
    a = await api.leader(host.invite_code or "")
    b = await api.leader(a.invite_code or "")
    c = await api.leader(b.invite_code or "")
    room = await api.room(host, **room_kw)  # type: ignore[arg-type]
    return Chain(host, a, b, c, room)


async def share_link(api: Api, leader: Actor, room_id: str) -> str:
    r = await api.post(f"/api/v1/rooms/{room_id}/share-links", token=leader.token)
    assert r.status == 201, r.body
    return str(r["token"])


async def open_link(api: Api, token: str, *, cookie: str | None = None,
                    viewer_token: str | None = None) -> tuple[int, str | None, str | None]:
    """GET /r/<token> like a browser: (status, Location, the live_vid set)."""
    api.client.session.cookie_jar.clear()  # each call is its own browser
    headers = {"Cookie": f"live_vid={cookie}"} if cookie else {}
    path = f"/r/{token}" + (f"?viewer_token={viewer_token}" if viewer_token else "")
    async with api.client.get(path, headers=headers, allow_redirects=False) as resp:
        morsel = resp.cookies.get("live_vid")
        return resp.status, resp.headers.get("Location"), morsel.value if morsel else None


def share_param(location: str) -> str:
    return parse_qs(urlsplit(location).query)["s"][0]


@dataclass
class StandInOrder:
    """What the order hooks read from an order (cart's Order has these)."""

    id: str
    room_id: str
    viewer_id: str
    leader_id: str | None
    total_cents: int
    paid_at: datetime | None = None
