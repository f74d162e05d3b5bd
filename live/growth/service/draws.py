"""福袋 lucky draws with a published commitment.

At creation the server draws a secret `seed` and publishes only
`commitment = sha256(seed)`. At the end it publishes the seed, the eligible
ids and the winners: anyone can check sha256(seed) == commitment and re-rank
the eligible ids by HMAC-SHA256(seed, id) to get the same winners (see
docs/draws.md and scripts/verify_draw.py). The seed is fixed before anyone
knows who will be eligible, and the host cannot re-roll it without the
commitment changing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.clock import iso
from live.db import get_or_404
from live.errors import conflict
from live.events import Event
from live.growth.events import DrawChanged
from live.growth.models import Draw
from live.ids import new_id
from live.rooms.models import Room
from live.rooms.service import require_live

# (session, draw, end) -> eligible viewer ids (any order)
EligibleFn = Callable[[AsyncSession, Draw, datetime], Awaitable[Sequence[str]]]


def new_seed() -> str:
    return secrets.token_hex(32)


def commitment_of(seed: str) -> str:
    return hashlib.sha256(seed.encode("ascii")).hexdigest()


def rank(seed: str, ids: Sequence[str]) -> list[str]:
    """Ids by lowercase hex HMAC-SHA256(key=seed ASCII, msg=id UTF-8), ties by id."""
    key = seed.encode("ascii")
    return sorted(ids, key=lambda i: (hmac.new(key, i.encode("utf-8"),
                                               hashlib.sha256).hexdigest(), i))


def pick_winners(seed: str, eligible: Sequence[str], winners: int) -> list[str]:
    return rank(seed, eligible)[:winners]


def draw_dict(d: Draw) -> dict[str, Any]:
    ended = d.status == "ended"
    return {
        "id": d.id, "room_id": d.room_id, "prize": d.prize, "winners": d.winners,
        "eligibility": d.eligibility, "keyword": d.keyword, "status": d.status,
        "starts_at": iso(d.starts_at), "ends_at": iso(d.ends_at),
        "commitment": d.commitment,
        "seed": d.seed if ended else None,
        "eligible": json.loads(d.eligible) if ended and d.eligible is not None else None,
        "winner_ids": json.loads(d.winner_ids) if ended and d.winner_ids is not None else None,
    }


def draw_event(d: Draw) -> DrawChanged:
    body = draw_dict(d)
    eligible = body.pop("eligible")
    body["eligible_count"] = len(eligible) if eligible is not None else None
    return DrawChanged(d.room_id, body)


async def get_draw(session: AsyncSession, draw_id: str) -> Draw:
    return await get_or_404(session, Draw, draw_id, "draw")


async def running_draw(session: AsyncSession, room_id: str) -> Draw | None:
    return (await session.scalars(select(Draw).where(Draw.running_room_id == room_id))).first()


async def create_draw(session: AsyncSession, *, room: Room, prize: str, winners: int,
                      eligibility: str, keyword: str | None, duration_s: int, now: datetime,
                      eligible_fn: EligibleFn) -> tuple[Draw, list[Event]]:
    require_live(room)
    events: list[Event] = []
    current = await running_draw(session, room.id)
    if current is not None and now >= current.ends_at:
        # Its time is up but no sweeper got to it yet: end it first.
        events += await end_draw(session, draw_id=current.id, now=now,
                                 eligible_fn=eligible_fn, manual=False)
        current = None
    if current is not None:
        raise conflict("a draw is already running in this room")
    seed = new_seed()
    draw = Draw(id=new_id("draw"), room_id=room.id, running_room_id=room.id, prize=prize,
                winners=winners, eligibility=eligibility, keyword=keyword, status="running",
                starts_at=now, ends_at=now + timedelta(seconds=duration_s), seed=seed,
                commitment=commitment_of(seed), eligible=None, winner_ids=None)
    session.add(draw)
    await session.flush()
    events.append(draw_event(draw))
    return draw, events


async def end_draw(session: AsyncSession, *, draw_id: str, now: datetime,
                   eligible_fn: EligibleFn, manual: bool) -> list[Event]:
    """End a running draw exactly once: the conditional UPDATE decides which
    caller (host, sweeper on any worker) ends it; the others get nothing
    (`manual` callers get 409 conflict)."""
    draw = await get_draw(session, draw_id)
    end = now if manual else draw.ends_at
    claimed = await session.execute(
        update(Draw).where(Draw.id == draw_id, Draw.status == "running")
        .values(status="ended", running_room_id=None, ends_at=end)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        if manual:
            raise conflict("the draw has ended")
        return []
    await session.refresh(draw)
    eligible = sorted(set(await eligible_fn(session, draw, end)))
    draw.eligible = json.dumps(eligible, ensure_ascii=False)
    draw.winner_ids = json.dumps(pick_winners(draw.seed, eligible, draw.winners),
                                 ensure_ascii=False)
    await session.flush()
    return [draw_event(draw)]


async def due_draw_ids(session: AsyncSession, now: datetime) -> list[str]:
    rows = await session.scalars(select(Draw.id).where(Draw.status == "running",
                                                       Draw.ends_at <= now))
    return list(rows)


async def snapshot_draws(session: AsyncSession, room_id: str) -> list[dict[str, Any]]:
    rows = await session.scalars(select(Draw).where(Draw.room_id == room_id,
                                                    Draw.status == "running")
                                 .order_by(Draw.starts_at))
    return [draw_dict(d) for d in rows]
