"""The delivery job: claim due outbox entries, POST them signed, record the outcome.

Runs on every worker (`app[keys.JOBS]`); claims keep workers apart.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web

from live import keys
from live.db import transaction
from live.webhooks import service
from live.webhooks.service import Claim

log = logging.getLogger("live.webhooks")
TIMEOUT_S = 10.0
BATCH = 50


async def deliver_due(app: web.Application) -> int:
    """One pass: deliver what is due now; returns how many were delivered."""
    clock = app[keys.CLOCK]
    async with transaction(app) as session:
        claims = await service.claim_due(session, now=clock.now(), limit=BATCH)
    if not claims:
        return 0
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        errors = await asyncio.gather(*(_post(app, http, c) for c in claims))
    delivered = 0
    async with transaction(app) as session:
        now = clock.now()
        for claim, error in zip(claims, errors, strict=True):
            if error is None:
                delivered += 1
                await service.record_delivered(session, claim=claim, now=now)
                log.info("webhook delivered id=%s event=%s host_id=%s attempts=%d",
                         claim.id, claim.event, claim.host_id, claim.attempts)
            else:
                nxt = await service.record_failed(session, claim=claim, error=error, now=now)
                log.warning("webhook failed id=%s event=%s host_id=%s attempts=%d error=%s "
                            "next_attempt_at=%s", claim.id, claim.event, claim.host_id,
                            claim.attempts, error, nxt.isoformat() if nxt else "never")
    app[keys.METRICS].webhooks.labels("delivered").inc(delivered)
    app[keys.METRICS].webhooks.labels("failed").inc(len(claims) - delivered)
    return delivered


async def _post(app: web.Application, http: aiohttp.ClientSession, claim: Claim) -> str | None:
    """None on a 2xx answer, else what went wrong."""
    t = int(app[keys.CLOCK].now().timestamp())
    headers = {"Content-Type": "application/json",
               "User-Agent": "live-webhooks/1",
               "X-Live-Event": claim.event,
               "X-Live-Delivery": claim.id,
               "X-Live-Signature": service.signature(claim.secret, claim.body, t)}
    try:
        async with http.post(claim.url, data=claim.body, headers=headers,
                             allow_redirects=False) as resp:
            await resp.read()
            if 200 <= resp.status < 300:
                return None
            return f"HTTP {resp.status}"
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"[:500]


async def _job(app: web.Application) -> None:
    await deliver_due(app)


def register(app: web.Application) -> None:
    from live.webhooks import hooks

    app[keys.JOBS].add("webhooks", 1.0, _job)
    app[keys.ORDER_HOOKS].paid.append(hooks.order_paid)
    app[keys.ORDER_HOOKS].refunded.append(hooks.order_refunded)
