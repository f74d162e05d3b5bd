"""The order endpoint's batchers (one set per worker, `register`).

In a flash sale's first second thousands of `POST /api/v1/orders` arrive
together. Each would open its own session for the same reads, and its own
transaction for a few rows. Here the requests in flight share them (see
`live/batch.py`):

- `reads`: the keys' stored answers, the running sales of the products, the
  viewers' per-person holdings (without the Redis gate) — one read session;
- `refusals`: the stored answers of buyers refused from those reads (sold out,
  over the limit) — one multi-row INSERT per batch;
- `lane`: the flash lane (`live/cart/lane.py`) — one transaction per batch,
  its `stock` events published once per batch; up to three batches at once.

A batch that fails as a whole (the database said no) is not retried here: its
callers fall back to the one-by-one path, which decides every case again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from live import keys
from live.batch import Batcher
from live.cart import lane, service
from live.cart.models import FlashBuyer, IdempotencyKey
from live.db import among, among_pairs, insert_ignoring, transaction
from live.errors import Code, LiveError
from live.realtime.publish import publish

log = logging.getLogger("live.cart")
T = TypeVar("T")
R = TypeVar("R")

READS: web.AppKey[Batcher[Read, Seen]] = web.AppKey("order_reads")
REFUSALS: web.AppKey[Batcher[Refusal, bool]] = web.AppKey("order_refusals")
LANE: web.AppKey[Batcher[lane.LaneOrder, lane.LaneAnswer]] = web.AppKey("order_lane")


@dataclass(frozen=True)
class Read:
    claim: service.IdempotencyClaim
    room_id: str
    lines: tuple[service.Line, ...] | None  # None: the viewer's cart in the room
    with_holdings: bool  # no Redis gate: early refusals count the viewer's holdings


@dataclass
class Seen:
    stored: Any = None  # the key's stored answer (status_code, response), or None
    lines: list[service.Line] = field(default_factory=list)
    sales: dict[str, Any] = field(default_factory=dict)  # running sales by product id
    held: dict[str, int] | None = None  # units held per sale id (with_holdings)


@dataclass(frozen=True)
class Refusal:
    claim: service.IdempotencyClaim
    status: int
    text: str


def register(app: web.Application) -> None:
    sizes = app[keys.METRICS].batch_size

    def batcher(name: str, run: Callable[[web.Application, list[T]],
                                         Awaitable[Sequence[R | BaseException]]],
                in_flight: int = 1) -> Batcher[T, R]:
        async def measured(items: list[T]) -> Sequence[R | BaseException]:
            sizes.labels(name).observe(len(items))
            return await run(app, items)
        return Batcher(measured, in_flight=in_flight)

    app[READS] = batcher("reads", _reads)
    app[REFUSALS] = batcher("refusals", _refusals)
    # Lane batches are chains of ~16 round trips, each waiting a loop turn in
    # a burst: three at once let the first buyers' small batch not hold up
    # the next ones (flash.py, 13 interleaved runs: 909 → 1,022 accepted/s).
    app[LANE] = batcher("lane", _lane, in_flight=3)


async def _reads(app: web.Application, items: list[Read]) -> list[Seen | BaseException]:
    async with app[keys.SESSIONS]() as session:
        stored = {(r.caller_id, r.key): r for r in (await session.execute(
            select(IdempotencyKey.caller_id, IdempotencyKey.key, IdempotencyKey.body_hash,
                   IdempotencyKey.status_code, IdempotencyKey.response)
            .where(among_pairs(session, IdempotencyKey.caller_id, IdempotencyKey.key,
                               {(i.claim.caller_id, i.claim.key) for i in items})))).all()}
        seen: list[Seen | BaseException] = []
        for item in items:
            row = stored.get((item.claim.caller_id, item.claim.key))
            if row is not None and row.body_hash != item.claim.body_hash:
                seen.append(LiveError(Code.IDEMPOTENCY_MISMATCH,
                                      "this Idempotency-Key was used with another body"))
                continue
            lines = (list(item.lines) if item.lines is not None else
                     await service.cart_lines(session, viewer_id=item.claim.caller_id,
                                              room_id=item.room_id) if row is None else [])
            seen.append(Seen(stored=row, lines=lines))
        wanting = [(i, s) for i, s in zip(items, seen, strict=True)
                   if isinstance(s, Seen) and not s.stored]
        sales = await service.running_sales(
            session, sorted({line.product_id for _, s in wanting for line in s.lines}))
        holders = sorted({i.claim.caller_id for i, _ in wanting if i.with_holdings})
        held: dict[tuple[str, str], int] = {}
        if sales and holders:
            held = {(v, s): q for v, s, q in (await session.execute(
                select(FlashBuyer.viewer_id, FlashBuyer.flash_sale_id, FlashBuyer.quantity)
                .where(among(session, FlashBuyer.viewer_id, holders),
                       among(session, FlashBuyer.flash_sale_id,
                             [s.id for s in sales.values()])))).all()}
    for item, s in wanting:
        s.sales = {line.product_id: sales[line.product_id] for line in s.lines
                   if line.product_id in sales}
        if item.with_holdings:
            s.held = {sale.id: held.get((item.claim.caller_id, sale.id), 0)
                      for sale in s.sales.values()}
    return seen


async def _refusals(app: web.Application, items: list[Refusal]) -> list[bool]:
    """Store each refusal as its key's first answer; False: the key already
    had one (a concurrent duplicate won), replay that instead."""
    now = app[keys.CLOCK].now()
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in items:
        rows.setdefault((r.claim.caller_id, r.claim.key), {
            "caller_id": r.claim.caller_id, "key": r.claim.key,
            "body_hash": r.claim.body_hash, "status_code": r.status, "response": r.text,
            "order_id": None, "created_at": now})
    async with transaction(app) as session:
        added = {tuple(r) for r in await insert_ignoring(
            session, IdempotencyKey, [rows[k] for k in sorted(rows)],
            returning=("caller_id", "key"))}
    # Only the first of several requests with one key in a batch stored its answer.
    first: dict[tuple[str, str], int] = {}
    for i, r in enumerate(items):
        first.setdefault((r.claim.caller_id, r.claim.key), i)
    stored = [(r.claim.caller_id, r.claim.key) in added
              and first[(r.claim.caller_id, r.claim.key)] == i for i, r in enumerate(items)]
    app[keys.METRICS].orders.labels(outcome="refused").inc(sum(stored))
    return stored


async def _lane(app: web.Application,
                orders: list[lane.LaneOrder]) -> Sequence[lane.LaneAnswer]:
    try:
        answers, events = await lane.place_flash_batch(
            lambda: transaction(app), orders=orders, hooks=app[keys.ORDER_HOOKS],
            payment_timeout_s=app[keys.SETTINGS].payment_timeout_s, now=app[keys.CLOCK].now())
    except (IntegrityError, OperationalError, DBAPIError) as exc:
        # A deadlock with another worker's batch, a lost connection...: each
        # order takes the one-by-one path, which decides it again from scratch.
        log.warning("flash lane batch of %d failed (%s); placing one by one room_id=%s",
                    len(orders), type(exc).__name__,
                    ",".join(sorted({o.room_id for o in orders})))
        return [lane.LaneAnswer(then=lane.FALLBACK) for _ in orders]
    metrics = app[keys.METRICS].orders
    placed = sum(1 for a in answers if a.then is None and a.status == 201)
    metrics.labels(outcome="placed").inc(placed)
    metrics.labels(outcome="refused").inc(
        sum(1 for a in answers if a.then is None and a.status != 201))
    await publish(app, events)
    return answers
