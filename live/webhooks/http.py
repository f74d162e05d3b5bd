"""The host's webhook endpoint, its delivery log, and a test ping."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from live import keys
from live.accounts.principal import HOST, Principal
from live.api import Body, Routes
from live.clock import iso
from live.db import transaction
from live.errors import not_found
from live.webhooks import service
from live.webhooks.schemas import (
    DeliveriesOut,
    DeliveriesQuery,
    WebhookIn,
    WebhookOut,
    WebhookTestOut,
)

routes = Routes(tag="webhooks")


def _out(ep: Any) -> dict[str, Any]:
    return {**service.endpoint_dict(ep), "events": list(service.EVENTS)}


@routes.put("/api/v1/webhooks", body=WebhookIn, response=WebhookOut, auth=HOST)
async def put_webhook(request: web.Request, *, principal: Principal,
                      body: Body[WebhookIn]) -> dict[str, Any]:
    """Set where this host's events are POSTed (and the signing secret)."""
    data = await body()
    async with transaction(request.app) as session:
        ep = await service.set_endpoint(session, host_id=principal.id, url=data.url,
                                        secret=data.secret, now=request.app[keys.CLOCK].now())
        return _out(ep)


@routes.get("/api/v1/webhooks", response=WebhookOut, auth=HOST)
async def get_webhook(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """This host's endpoint; 404 when none is set."""
    async with request.app[keys.SESSIONS]() as session:
        ep = await service.get_endpoint(session, principal.id)
    if ep is None:
        raise not_found("webhook endpoint")
    return _out(ep)


@routes.delete("/api/v1/webhooks", auth=HOST)
async def delete_webhook(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Stop sending events (entries not yet delivered are given up)."""
    async with transaction(request.app) as session:
        if not await service.delete_endpoint(session, principal.id):
            raise not_found("webhook endpoint")
    return {"ok": True}


@routes.get("/api/v1/webhooks/deliveries", query=DeliveriesQuery, response=DeliveriesOut,
            auth=HOST)
async def list_deliveries(request: web.Request, *, principal: Principal,
                          query: DeliveriesQuery) -> dict[str, Any]:
    """The host's outbox, newest first: status, attempts, last error."""
    async with request.app[keys.SESSIONS]() as session:
        rows = await service.list_entries(session, host_id=principal.id, limit=query.limit)
    return {"deliveries": [service.entry_dict(e) for e in rows]}


@routes.post("/api/v1/webhooks/test", response=WebhookTestOut, status=202, auth=HOST)
async def test_webhook(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Queue a `webhook.test` event to the host's endpoint."""
    now = request.app[keys.CLOCK].now()
    async with transaction(request.app) as session:
        if await service.get_endpoint(session, principal.id) is None:
            raise not_found("webhook endpoint")
        entry_id = await service.enqueue(session, event="webhook.test", host_id=principal.id,
                                         payload={"host_id": principal.id, "sent_at": iso(now)},
                                         now=now)
    return {"ok": True, "id": entry_id}
