"""The outbox: write an event in the caller's transaction, claim it, record
the outcome. Transport-free; `delivery.py` does the HTTP.

Delivery is at least once: a receiver de-duplicates on the `X-Live-Delivery`
id. An entry is claimed by pushing its `next_attempt_at` one lease ahead in a
short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers
never claim the same entry; SQLite serialises writers with BEGIN IMMEDIATE).
A worker that dies mid-delivery leaves the entry to be claimed again when the
lease runs out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.clock import iso
from live.ids import new_id
from live.rooms.models import Room
from live.webhooks.models import WebhookEndpoint, WebhookOutbox

EVENTS = ("order.paid", "order.refunded", "commission.settled", "room.live", "webhook.test")
LEASE_S = 60.0  # a claimed entry is retried after this if its worker vanished
MAX_ATTEMPTS = 20  # about a day of retries with the backoff below
BASE_DELAY_S = 5.0
MAX_DELAY_S = 3600.0
SIGNATURE_TOLERANCE_S = 300


# --- writing ------------------------------------------------------------------

async def enqueue(session: AsyncSession, *, event: str, payload: dict[str, Any],
                  now: datetime, host_id: str | None = None) -> str:
    """Add one outbox entry in the caller's transaction; returns its id.

    The receiving host is `host_id`, or the host of `payload["room_id"]`.
    """
    if host_id is None and isinstance(payload.get("room_id"), str):
        room = await session.get(Room, payload["room_id"])
        host_id = room.host_id if room is not None else None
    entry_id = new_id("whd")
    session.add(WebhookOutbox(
        id=entry_id, event=event, host_id=host_id, payload=payload, created_at=now,
        attempts=0, next_attempt_at=now, delivered_at=None, last_error=None))
    await session.flush()
    return entry_id


# --- endpoints ----------------------------------------------------------------

def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24)


async def set_endpoint(session: AsyncSession, *, host_id: str, url: str,
                       secret: str | None, now: datetime) -> WebhookEndpoint:
    """Create or replace the host's endpoint; keeps the old secret unless given one."""
    ep = await session.get(WebhookEndpoint, host_id)
    if ep is None:
        ep = WebhookEndpoint(host_id=host_id, url=url, secret=secret or new_secret(),
                             created_at=now, updated_at=now)
        session.add(ep)
    else:
        ep.url = url
        ep.secret = secret or ep.secret
        ep.updated_at = now
    await session.flush()
    return ep


async def get_endpoint(session: AsyncSession, host_id: str) -> WebhookEndpoint | None:
    return await session.get(WebhookEndpoint, host_id)


async def delete_endpoint(session: AsyncSession, host_id: str) -> bool:
    ep = await session.get(WebhookEndpoint, host_id)
    if ep is None:
        return False
    await session.delete(ep)
    await session.flush()
    return True


def endpoint_dict(ep: WebhookEndpoint) -> dict[str, Any]:
    return {"url": ep.url, "secret": ep.secret, "created_at": iso(ep.created_at),
            "updated_at": iso(ep.updated_at)}


def entry_dict(e: WebhookOutbox) -> dict[str, Any]:
    status = ("delivered" if e.delivered_at is not None
              else "pending" if e.next_attempt_at is not None else "failed")
    return {"id": e.id, "event": e.event, "status": status, "attempts": e.attempts,
            "created_at": iso(e.created_at), "next_attempt_at": iso(e.next_attempt_at),
            "delivered_at": iso(e.delivered_at), "last_error": e.last_error,
            "payload": e.payload}


async def list_entries(session: AsyncSession, *, host_id: str,
                       limit: int) -> Sequence[WebhookOutbox]:
    rows = await session.scalars(
        select(WebhookOutbox).where(WebhookOutbox.host_id == host_id)
        .order_by(WebhookOutbox.created_at.desc(), WebhookOutbox.id.desc()).limit(limit))
    return rows.all()


# --- delivering ---------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    id: str
    event: str
    host_id: str | None
    attempts: int  # including this one
    body: bytes
    url: str
    secret: str


def body_of(e: WebhookOutbox) -> bytes:
    return json.dumps({"id": e.id, "event": e.event, "created_at": iso(e.created_at),
                       "data": e.payload}, ensure_ascii=False,
                      separators=(",", ":")).encode()


async def claim_due(session: AsyncSession, *, now: datetime, limit: int = 50,
                    lease_s: float = LEASE_S) -> list[Claim]:
    """Claim due entries for one delivery attempt each (commit before delivering).

    An entry whose host has no endpoint is closed as failed: it has nowhere to go.
    """
    due = (await session.scalars(
        select(WebhookOutbox).where(WebhookOutbox.next_attempt_at <= now)
        .order_by(WebhookOutbox.next_attempt_at, WebhookOutbox.id).limit(limit)
        .with_for_update(skip_locked=True))).all()
    if not due:
        return []
    host_ids = {e.host_id for e in due if e.host_id is not None}
    endpoints = {ep.host_id: ep for ep in (await session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.host_id.in_(host_ids)))).all()}
    claims: list[Claim] = []
    for e in due:
        ep = endpoints.get(e.host_id) if e.host_id is not None else None
        if ep is None:
            e.next_attempt_at = None
            e.last_error = "no webhook endpoint configured"
            continue
        e.attempts += 1
        e.next_attempt_at = now + timedelta(seconds=lease_s)
        claims.append(Claim(e.id, e.event, e.host_id, e.attempts, body_of(e), ep.url,
                            ep.secret))
    await session.flush()
    return claims


async def record_delivered(session: AsyncSession, *, claim: Claim, now: datetime) -> None:
    # Guarded by `attempts`: a worker whose lease ran out does not overwrite
    # the outcome of the worker that claimed the entry after it.
    await session.execute(
        update(WebhookOutbox)
        .where(WebhookOutbox.id == claim.id, WebhookOutbox.attempts == claim.attempts,
               WebhookOutbox.delivered_at.is_(None))
        .values(delivered_at=now, next_attempt_at=None, last_error=None))


async def record_failed(session: AsyncSession, *, claim: Claim, error: str, now: datetime,
                        rng: random.Random | None = None) -> datetime | None:
    """Schedule the next attempt (None: given up after MAX_ATTEMPTS)."""
    nxt = (None if claim.attempts >= MAX_ATTEMPTS
           else now + timedelta(seconds=backoff_s(claim.attempts, rng)))
    await session.execute(
        update(WebhookOutbox)
        .where(WebhookOutbox.id == claim.id, WebhookOutbox.attempts == claim.attempts,
               WebhookOutbox.delivered_at.is_(None))
        .values(next_attempt_at=nxt, last_error=error[:500]))
    return nxt


def backoff_s(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential with jitter: between half and all of min(cap, base * 2^(n-1))."""
    ceiling = min(MAX_DELAY_S, BASE_DELAY_S * float(1 << min(30, max(0, attempts - 1))))
    jitter = rng.random() if rng is not None else random.random()
    return ceiling / 2 + jitter * ceiling / 2


# --- signatures ---------------------------------------------------------------

def signature(secret: str, body: bytes, t: int) -> str:
    """`X-Live-Signature`: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now_unix: int,
           tolerance_s: int = SIGNATURE_TOLERANCE_S) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now_unix - t) > tolerance_s:
        return False
    expected = signature(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
