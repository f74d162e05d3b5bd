"""`live serve --demo`: a host, a live room with three products on the shelf and
a 团长 chain (host → 团长 → sub-团长), seeded once and printed for a newcomer.

It goes through the same service actions the API uses, so demo data is data
the real server could have made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy import select

from live import keys
from live.accounts import service as accounts
from live.accounts.models import Account
from live.db import transaction
from live.rooms import service as rooms
from live.rooms.models import Room
from live.share.tokens import make_token

PASSWORD = "demo-pass-123"
HOST_NAME = "鲜果团方"
LEADER_NAME = "王姐团长"
SUB_LEADER_NAME = "小李团长"
PRODUCTS = [
    ("赣南脐橙 5斤装", 3990, 200, "/static/demo/orange.svg"),
    ("云南高山蓝莓 4盒", 5990, 120, "/static/demo/blueberry.svg"),
    ("海南贵妃芒 3斤", 2990, 300, "/static/demo/mango.svg"),
]


@dataclass
class DemoInfo:
    room_id: str
    tokens: dict[str, str] = field(default_factory=dict)
    invite_codes: dict[str, str] = field(default_factory=dict)
    share_token: str = ""  # the sub-团长's link to the room


async def seed(app: web.Application) -> DemoInfo:
    now = app[keys.CLOCK].now()
    async with transaction(app) as session:
        host = await session.scalar(select(Account).where(Account.name == HOST_NAME))
        if host is None:
            host, _ = await accounts.sign_up(session, name=HOST_NAME, password=PASSWORD,
                                             role="host", invite_code=None, now=now)
            leader, _ = await accounts.sign_up(session, name=LEADER_NAME, password=PASSWORD,
                                               role="leader", invite_code=host.invite_code,
                                               now=now)
            await accounts.sign_up(session, name=SUB_LEADER_NAME, password=PASSWORD,
                                   role="leader", invite_code=leader.invite_code, now=now)
            room = await rooms.create_room(session, host_id=host.id, title="鲜果秒杀专场 · 今晚8点",
                                           scheduled_at=None, playback_kind="webrtc",
                                           playback_url=None, now=now)
            products = [await rooms.create_product(session, host_id=host.id, title=t,
                                                   price_cents=p, stock=s, image_url=u, now=now)
                        for t, p, s, u in PRODUCTS]
            await rooms.set_shelf(session, room=room, product_ids=[p.id for p in products])
            await rooms.pin_product(session, room=room, product_id=products[0].id)
            await rooms.change_status(session, room=room, status="live", now=now)
        room_id = await session.scalar(
            select(Room.id).where(Room.host_id == host.id).order_by(Room.created_at))
        assert room_id is not None
        info = DemoInfo(room_id=room_id)
        for name in (HOST_NAME, LEADER_NAME, SUB_LEADER_NAME):
            account = await session.scalar(select(Account).where(Account.name == name))
            assert account is not None
            info.tokens[name] = await accounts.issue_token(
                session, kind="account", subject_id=account.id, now=now)
            info.invite_codes[name] = account.invite_code
            if name == SUB_LEADER_NAME:
                info.share_token = make_token(app[keys.SETTINGS].secret, room_id=room_id,
                                              leader_id=account.id)
    return info


def banner(base: str, info: DemoInfo) -> str:
    lines = [
        "",
        "live demo data is ready",
        f"  viewer page   {base}/watch/{info.room_id}",
        f"  host console  {base}/console   (sign in: {HOST_NAME} / {PASSWORD})",
        f"  团长 pages     {base}/leader    (sign in: {LEADER_NAME} or {SUB_LEADER_NAME} /"
        f" {PASSWORD})",
        f"  room list     {base}/",
        f"  API docs      {base}/api/v1/openapi.json",
        f"  share link    {base}/r/{info.share_token}   ({SUB_LEADER_NAME}'s link: opening it"
        f" counts a visit; buying makes commission for {SUB_LEADER_NAME} and {LEADER_NAME})",
        f"    QR {base}/r/{info.share_token}.svg   poster {base}/r/{info.share_token}/poster.svg",
        "  tokens (Authorization: Bearer ...):",
    ]
    for name, token in info.tokens.items():
        lines.append(f"    {name}: {token}   invite code {info.invite_codes[name]}")
    return "\n".join(lines) + "\n"


def demo_ctx(base: str) -> object:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        info = await seed(app)
        print(banner(base, info), flush=True)
        yield

    return ctx
