"""Flash sales, cart, orders, payment and the payment webhook over HTTP."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from live import keys
from live.accounts.principal import HOST, VIEWER, Principal, Role
from live.api import Body, Routes, parse, read_json, throttle
from live.cart import batches, lane, service
from live.cart.events import FlashChanged
from live.cart.gate import StockGate, Verdict
from live.cart.models import Order
from live.cart.payments import SIGNATURE_HEADER, SandboxProvider, verify_webhook
from live.cart.schemas import (
    CartIn,
    CartOut,
    CreateFlashSaleIn,
    FlashSaleOut,
    OrderOut,
    OrdersOut,
    OrdersQuery,
    PlaceOrderIn,
    WebhookIn,
    WebhookOut,
)
from live.db import transaction
from live.errors import Code, LiveError, invalid, not_found
from live.events import Event
from live.realtime.publish import publish
from live.rooms.service import get_room, room_of_host

log = logging.getLogger("live.cart")
routes = Routes(tag="commerce")
HOST_OR_VIEWER: tuple[Role, ...] = ("host", "viewer")
SANDBOX = SandboxProvider()


def _gate(app: web.Application) -> StockGate | None:
    return app.get(keys.STOCK_GATE)


async def sync_gate(app: web.Application, events: Sequence[Event]) -> None:
    """After a commit: started sales get gate keys, ended ones lose them."""
    gate = _gate(app)
    if gate is None:
        return
    for ev in events:
        if isinstance(ev, FlashChanged):
            if ev.flash_sale["status"] == "running":
                await gate.load(ev.flash_sale["id"], force=True)
            elif ev.flash_sale["status"] == "ended":
                await gate.drop(ev.flash_sale["id"])


async def release_gate(app: web.Application, order: Order) -> None:
    """After a commit that gave an order's units back: the gate gets them too."""
    gate = _gate(app)
    if gate is None:
        return
    for item in order.items:
        if item.flash_sale_id is not None:
            await gate.release(item.flash_sale_id, order.viewer_id, item.quantity)


# --- flash sales ----------------------------------------------------------------

@routes.post("/api/v1/rooms/{room_id}/flash-sales", body=CreateFlashSaleIn,
             response=FlashSaleOut, status=201, auth=HOST, errors=(409,))
async def create_flash_sale(request: web.Request, *, principal: Principal,
                            body: Body[CreateFlashSaleIn]) -> dict[str, Any]:
    """Schedule (or start) a flash sale (秒杀), reserving its units from free stock."""
    app = request.app
    async with transaction(app) as session:
        room = await room_of_host(session, request.match_info["room_id"], principal)
        data = await body()
        sale, events = await service.create_flash_sale(
            session, room=room, product_id=data.product_id, price_cents=data.price_cents,
            quantity=data.quantity, per_user_limit=data.per_user_limit,
            start_in_s=data.start_in_s, starts_at=data.starts_at, duration_s=data.duration_s,
            now=app[keys.CLOCK].now())
    await publish(app, events)
    await sync_gate(app, events)
    return service.flash_dict(sale)


@routes.get("/api/v1/flash-sales/{sale_id}", response=FlashSaleOut)
async def get_flash_sale(request: web.Request) -> dict[str, Any]:
    """A flash sale."""
    async with request.app[keys.SESSIONS]() as session:
        sale = await service.get_flash_sale(session, request.match_info["sale_id"])
    return service.flash_dict(sale)


@routes.post("/api/v1/flash-sales/{sale_id}/end", response=FlashSaleOut, auth=HOST,
             errors=(409,))
async def end_flash_sale(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """End a flash sale now; its unsold units go back to the product."""
    app = request.app
    async with transaction(app) as session:
        sale = await service.flash_sale_of_host(session, request.match_info["sale_id"],
                                                principal)
        events = await service.end_flash_sale(session, sale=sale, now=app[keys.CLOCK].now())
    await publish(app, events)
    await sync_gate(app, events)
    return service.flash_dict(sale)


# --- cart -------------------------------------------------------------------------

@routes.put("/api/v1/rooms/{room_id}/cart", body=CartIn, response=CartOut, auth=VIEWER)
async def put_cart(request: web.Request, *, principal: Principal,
                   body: Body[CartIn]) -> dict[str, Any]:
    """Replace the viewer's cart in this room; priced now."""
    async with transaction(request.app) as session:
        room = await get_room(session, request.match_info["room_id"])
        data = await body()
        return await service.set_cart(
            session, viewer_id=principal.id, room_id=room.id,
            lines=[service.Line(i.product_id, i.quantity) for i in data.items])


@routes.get("/api/v1/rooms/{room_id}/cart", response=CartOut, auth=VIEWER)
async def get_cart(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """The viewer's cart in this room, priced now (a running flash sale's price wins)."""
    async with request.app[keys.SESSIONS]() as session:
        room = await get_room(session, request.match_info["room_id"])
        return await service.get_cart(session, viewer_id=principal.id, room_id=room.id)


# --- orders -------------------------------------------------------------------------

def _answer(status: int, text: str) -> web.Response:
    return web.Response(text=text, status=status, content_type="application/json")


def _replay(row: Any) -> web.Response:
    return _answer(row.status_code, row.response)


async def _replay_stored(app: web.Application, claim: service.IdempotencyClaim) -> web.Response:
    async with app[keys.SESSIONS]() as session:
        row = await service.stored_answer(session, claim)
    if row is None:
        raise LiveError(Code.CONFLICT, "a request with this Idempotency-Key is in progress")
    return _replay(row)


@dataclass
class Prepared:
    """What is settled from reads before an order's write transaction."""

    refused: dict[str, str] = field(default_factory=dict)  # the gate's, by sale id
    acquired: list[tuple[str, int]] = field(default_factory=list)  # units the gate let by
    refusal: LiveError | None = None  # a doomed flash-sale buyer's answer
    stored: Any = None  # the key's stored answer: replay it, touch nothing
    lane: lane.LaneOrder | None = None  # a 立即抢购 order for the flash lane


async def _prepare_order(request: web.Request, viewer_id: str, raw: Any,
                         claim: service.IdempotencyClaim) -> Prepared:
    """The reads shared with the other orders in flight (`batches.READS`: the
    key's stored answer — a retry replays without touching stock —, the lines
    and their running flash sales); then, in production, each flash line passes
    the Redis gate; then `service.early_refusal`, and whether the order can
    take the flash lane."""
    app = request.app
    gate = _gate(app)
    try:
        data = parse(PlaceOrderIn, raw)
    except LiveError:
        data = None  # the transaction answers the validation error (after the key check)
    want_lines = None
    if data is not None and data.items is not None:
        want_lines = tuple(service.Line(i.product_id, i.quantity) for i in data.items)
    seen = await app[batches.READS](batches.Read(
        claim, data.room_id if data is not None else "", want_lines,
        with_holdings=gate is None and data is not None and data.group_buy_id is None))
    if seen.stored is not None:
        return Prepared(stored=seen.stored)
    if data is None or data.group_buy_id is not None:
        return Prepared()  # a 拼团 order sells from free stock, never from a flash sale
    lines, sales = seen.lines, seen.sales
    prepared = Prepared()
    for line in sorted(lines, key=lambda line: line.product_id) if gate is not None else ():
        sale = sales.get(line.product_id)
        if sale is None or line.quantity <= 0:
            continue
        assert gate is not None
        verdict = await gate.acquire(sale.id, viewer_id, line.quantity, sale.per_user_limit)
        if verdict == Verdict.OK:
            prepared.acquired.append((sale.id, line.quantity))
        elif verdict in (Verdict.LIMIT_EXCEEDED, Verdict.SOLD_OUT):
            prepared.refused[sale.id] = verdict.value
            break
    prepared.refusal = service.early_refusal(
        room_id=data.room_id, lines=lines, sales=sales,
        gate=service.GateVerdicts(prepared.refused) if gate is not None else None,
        held=seen.held)
    if (prepared.refusal is None and not prepared.refused and want_lines is not None
            and len(lines) == 1 and lines[0].product_id in sales
            and data.coupon_claim_id is None and data.group_id is None
            and data.share_token is None and request.cookies.get("live_vid") is None):
        prepared.lane = lane.LaneOrder(
            viewer_id=viewer_id, claim=claim, room_id=data.room_id,
            product_id=lines[0].product_id, quantity=lines[0].quantity,
            fulfilment=service.Fulfilment(data.fulfilment.kind, data.fulfilment.detail),
            sale_id=sales[lines[0].product_id].id)
    return prepared


@routes.post("/api/v1/orders", body=PlaceOrderIn, response=OrderOut, status=201, auth=VIEWER,
             errors=(409, 429),
             summary="Place an order (header Idempotency-Key, 1..64 characters, required)")
async def place_order(request: web.Request, *, principal: Principal,
                      body: Body[PlaceOrderIn]) -> web.Response:
    """Place an order: buy now (`items`) or the cart (`from_cart`)."""
    app = request.app
    # Before anything else, retries included: a 429 is never stored as the key's answer.
    settings = app[keys.SETTINGS]
    await throttle(request, f"orders:{principal.id}", settings.order_burst,
                   settings.order_rate_per_s, "orders")
    key = request.headers.get("Idempotency-Key")
    if key is None or not 1 <= len(key) <= 64:
        raise invalid("the Idempotency-Key header is required (1..64 characters)",
                      ("Idempotency-Key", "required, 1..64 characters"))
    raw = await read_json(request)
    claim = service.IdempotencyClaim(principal.id, key, service.body_hash(raw))

    prepared = await _prepare_order(request, principal.id, raw, claim)
    if prepared.stored is not None:
        return _replay(prepared.stored)
    kept: set[tuple[str, int]] = set()
    try:
        if prepared.refusal is not None:
            return await _store_refusal(app, claim, prepared.refusal)
        if prepared.lane is not None:
            answer = await app[batches.LANE](prepared.lane)
            if answer.then == lane.REPLAY:
                return await _replay_stored(app, claim)
            if answer.then is None:
                kept = {answer.kept} if answer.kept else set()
                return _answer(answer.status, answer.text)
            # lane.FALLBACK (the sale changed since it was read, the buyer's second
            # order in one batch, or the batch's transaction failed): the full way decides
        placed = await _place_one(request, principal, raw, claim, prepared)
        if placed is None:  # a concurrent duplicate answered first (its units are its own)
            return await _replay_stored(app, claim)
        order, status, text, events = placed
        kept = {(i.flash_sale_id, i.quantity) for i in order.items
                if i.flash_sale_id} if order is not None else set()
    except IntegrityError:
        # A concurrent request with the same key committed first: replay its answer.
        return await _replay_stored(app, claim)
    finally:
        await _settle_gate(app, principal.id, prepared.acquired, kept)
    app[keys.METRICS].orders.labels(outcome="placed" if order else "refused").inc()
    await publish(app, events)
    return _answer(status, text)


async def _place_one(request: web.Request, principal: Principal, raw: Any,
                     claim: service.IdempotencyClaim, prepared: Prepared
                     ) -> tuple[Order | None, int, str, list[Event]] | None:
    """The full way, one order in its own transaction: every kind of order.
    None: the key has an answer already (replay it)."""
    app = request.app
    async with transaction(app) as session:
        now = app[keys.CLOCK].now()
        if await service.stored_answer(session, claim) is not None:
            return None
        try:
            async with session.begin_nested():
                data = parse(PlaceOrderIn, raw)
                order, events = await service.place_order(
                    session, viewer_id=principal.id, request=_order_request(request, data),
                    hooks=app[keys.ORDER_HOOKS],
                    payment_timeout_s=app[keys.SETTINGS].payment_timeout_s, now=now,
                    claim=claim, gate=service.GateVerdicts(prepared.refused))
                return order, 201, service.dumps(service.order_dict(order)), events
        except LiveError as err:
            text = service.dumps({"error": err.to_dict()})
            service.remember_answer(session, claim, status=err.status, response=text,
                                    order_id=None, now=now)
            await session.flush()
            return None, err.status, text, []


async def _store_refusal(app: web.Application, claim: service.IdempotencyClaim,
                         refusal: LiveError) -> web.Response:
    """Answer `refusal` and keep it as the key's first answer (`batches.REFUSALS`)."""
    text = service.dumps({"error": refusal.to_dict()})
    if not await app[batches.REFUSALS](batches.Refusal(claim, refusal.status, text)):
        return await _replay_stored(app, claim)  # a concurrent duplicate answered first
    return _answer(refusal.status, text)


async def _settle_gate(app: web.Application, viewer_id: str, acquired: list[tuple[str, int]],
                       kept: set[tuple[str, int]]) -> None:
    """Give back to the gate whatever it let through that the order did not keep."""
    gate = _gate(app)
    if gate is None or not acquired:
        return
    for sale_id, quantity in acquired:
        if (sale_id, quantity) not in kept:
            await gate.release(sale_id, viewer_id, quantity)


def _order_request(request: web.Request, data: PlaceOrderIn) -> service.OrderRequest:
    lines = ([service.Line(i.product_id, i.quantity) for i in data.items]
             if data.items is not None else None)
    return service.OrderRequest(
        room_id=data.room_id, lines=lines,
        fulfilment=service.Fulfilment(data.fulfilment.kind, data.fulfilment.detail),
        share_token=data.share_token, visitor_id=request.cookies.get("live_vid"),
        coupon_claim_id=data.coupon_claim_id, group_buy_id=data.group_buy_id,
        group_id=data.group_id)


@routes.get("/api/v1/orders/{order_id}", response=OrderOut, auth=HOST_OR_VIEWER)
async def get_order(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """An order: its viewer's, or the host of its room's."""
    async with request.app[keys.SESSIONS]() as session:
        order = await service.order_for(session, request.match_info["order_id"], principal)
        return service.order_dict(order)


@routes.get("/api/v1/orders", query=OrdersQuery, response=OrdersOut, auth=HOST_OR_VIEWER)
async def list_orders(request: web.Request, *, principal: Principal,
                      query: OrdersQuery) -> dict[str, Any]:
    """Orders, newest first: a host's rooms' or a viewer's own; `room_id` narrows."""
    async with request.app[keys.SESSIONS]() as session:
        orders = await service.list_orders(session, who=principal, room_id=query.room_id,
                                           limit=query.limit)
        return {"orders": [service.order_dict(o) for o in orders]}


@routes.post("/api/v1/orders/{order_id}/pay", response=OrderOut, auth=VIEWER, errors=(409,))
async def pay_order(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Pay with the built-in sandbox provider (paid at once)."""
    app = request.app
    async with counting_payment_failures(app):
        async with transaction(app) as session:
            order = await service.order_for(session, request.match_info["order_id"],
                                            principal)
            events = await service.pay_order(
                session, order=order, provider=SANDBOX.name,
                payment_ref=SANDBOX.payment_ref(order.id), hooks=app[keys.ORDER_HOOKS],
                now=app[keys.CLOCK].now())
            out = service.order_dict(order)
    await publish(app, events)
    return out


@contextlib.asynccontextmanager
async def counting_payment_failures(app: web.Application) -> AsyncIterator[None]:
    """A refused payment (expired, not pending, bad signature...) counts in
    `live_payment_failures{reason=<error code>}`."""
    try:
        yield
    except LiveError as err:
        app[keys.METRICS].payment_failures.labels(err.code).inc()
        log.info("payment refused reason=%s", err.code)
        raise


@routes.post("/api/v1/orders/{order_id}/cancel", response=OrderOut, auth=VIEWER,
             errors=(409,))
async def cancel_order(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Cancel an order while it awaits payment; its units go back."""
    return await _give_back(request, principal, service.cancel_order)


@routes.post("/api/v1/orders/{order_id}/refund", response=OrderOut, auth=HOST, errors=(409,))
async def refund_order(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Refund a paid order (its room's host); units go back, commissions are reversed."""
    return await _give_back(request, principal, service.refund_order)


async def _give_back(request: web.Request, principal: Principal,
                     action: Callable[..., Awaitable[list[Event]]]) -> dict[str, Any]:
    """Cancel or refund: the order's units go back to the database, then to the gate."""
    app = request.app
    async with transaction(app) as session:
        order = await service.order_for(session, request.match_info["order_id"], principal)
        events = await action(session, order=order, hooks=app[keys.ORDER_HOOKS],
                              now=app[keys.CLOCK].now())
        out = service.order_dict(order)
    await publish(app, events)
    await release_gate(app, order)
    return out


@routes.post("/api/v1/payments/webhook", body=WebhookIn, response=WebhookOut, errors=(401, 409),
             summary="A payment provider confirms a payment (HMAC-SHA256 signed)")
async def payment_webhook(request: web.Request, *, body: Body[WebhookIn]) -> dict[str, Any]:
    """Signed confirmation from a payment adapter: `X-Live-Signature: sha256=<hex>`."""
    app = request.app
    async with counting_payment_failures(app):
        raw = await request.read()
        if len(raw) > app[keys.SETTINGS].max_body_bytes:
            raise LiveError(Code.PAYLOAD_TOO_LARGE, "body too large")
        if not verify_webhook(app[keys.SETTINGS].secret, raw,
                              request.headers.get(SIGNATURE_HEADER)):
            raise LiveError(Code.UNAUTHORIZED, "bad or missing webhook signature")
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise LiveError(Code.INVALID, "body is not JSON", fields=[]) from None
        data = parse(WebhookIn, payload)
        async with transaction(app) as session:
            order = await session.get(Order, data.order_id)
            if order is None:
                raise not_found("order")
            events: list[Event] = []
            if order.status != "paid":  # providers retry: a repeated confirmation is a no-op
                events = await service.pay_order(
                    session, order=order, provider=data.provider,
                    payment_ref=data.payment_ref, hooks=app[keys.ORDER_HOOKS],
                    now=app[keys.CLOCK].now())
            out = service.order_dict(order)
    await publish(app, events)
    return {"ok": True, "order": out}
