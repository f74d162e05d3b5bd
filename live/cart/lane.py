"""The flash lane: many 立即抢购 orders placed in one transaction.

When a flash sale opens, thousands of viewers buy the same product in the same
second, each with the same shape of order: one line of the sale's product,
buy-now, no coupon, no 拼团, no share token or visitor cookie to attribute.
Placed one by one (`service.place_order`) each of them costs a transaction and
some twenty statements, and they queue on the sale's row. The lane places a
whole batch (see `live/batch.py`) with a few statements per batch instead —
the same rules in the same order, so every buyer gets the answer
`place_order` would have given:

1. each Idempotency-Key's answer row is inserted first, with the order it will
   create (keys are locked first, in key order, in every lane transaction); a
   key a concurrent request already holds is answered by replaying that one;
2. the room exists (422 `invalid`), the product is on its shelf (422), the room
   is live (409 `room_not_live`);
3. attribution: the 团长 each viewer is bound to (`hooks.bound_leaders`);
4. the per-person limit, one conditional upsert per sale (422
   `limit_exceeded`); a buyer's second order in the batch is handed back;
5. the orders and their lines (executemany INSERTs), the `placed` hooks, the
   answers written into their key rows;
6. last, so the sale's row is locked only until the commit: its units, one
   conditional UPDATE for the batch's total. If too few are left, the whole
   batch is rolled back (`Short`) and placed again carefully: cut first to
   what the sale has left, the first buyers of the batch get the units and
   the rest `sold_out` (their per-person hold given back). That happens at
   the end of a sale's stock; a savepoint instead would cost every batch two
   round trips.

An order whose sale (the one read, and gated) is no longer running when the
batch runs, or a buyer's second order in one batch, is handed back
(`FALLBACK`): its key row is removed and the caller places it the full way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from live.cart import hooks as order_hooks
from live.cart.events import StockChanged
from live.cart.hooks import OrderHooks
from live.cart.models import FlashBuyer, FlashSale, IdempotencyKey, Order, OrderItem
from live.cart.service import (
    Fulfilment,
    IdempotencyClaim,
    dumps,
    order_dict,
    take_from_sale,
)
from live.db import among, among_pairs, insert_ignoring, unnest_insert, unnest_params
from live.errors import Code, LiveError, invalid
from live.events import Event
from live.ids import new_id
from live.rooms.models import Product, Room, ShelfItem

FALLBACK = "fallback"  # not a lane order any more: place it the full way
REPLAY = "replay"  # another request holds this key: replay its stored answer


@dataclass(frozen=True)
class LaneOrder:
    """One buy-now order of one product that had a running flash sale when read."""

    viewer_id: str
    claim: IdempotencyClaim
    room_id: str
    product_id: str
    quantity: int
    fulfilment: Fulfilment
    sale_id: str  # the sale read (and, in production, passed at the gate)


@dataclass
class LaneAnswer:
    status: int = 0
    text: str = ""
    kept: tuple[str, int] | None = None  # (sale id, units) the order holds
    then: str | None = None  # FALLBACK or REPLAY: answered after the commit


@dataclass(frozen=True)
class _Sale:
    id: str
    product_id: str
    price_cents: int
    per_user_limit: int


@dataclass
class _Work:
    """One order on its way through the batch."""

    index: int
    order: LaneOrder
    answer: LaneAnswer = field(default_factory=LaneAnswer)
    row: Order | None = None
    sale: Any = None  # its running _Sale
    host_id: str = ""
    refused: LiveError | None = None

    @property
    def pending(self) -> bool:
        return self.answer.then is None and self.refused is None and self.row is not None


_HOLDS: dict[str, Any] = {}


_HOLD_COLUMNS = ("flash_sale_id", "viewer_id", "quantity")


def _hold_statement(dialect: str) -> Any:
    """`service.hold_for_buyer`'s conditional upsert for many buyers of one sale
    (its limit is `lim`), built once per dialect: on PostgreSQL one `unnest`
    INSERT, on SQLite an executemany."""
    if dialect not in _HOLDS:
        table = cast(Table, FlashBuyer.__table__)
        ins = (unnest_insert(table, _HOLD_COLUMNS) if dialect == "postgresql"
               else sqlite_insert(table))
        _HOLDS[dialect] = ins.on_conflict_do_update(
            index_elements=[table.c.flash_sale_id, table.c.viewer_id],
            set_={"quantity": table.c.quantity + ins.excluded.quantity},
            where=table.c.quantity + ins.excluded.quantity <= bindparam("lim"),
        ).returning(table.c.viewer_id)
    return _HOLDS[dialect]


class Short(Exception):
    """A sale had too few units left for all of its buyers in the batch: roll
    the batch back and place it again with `careful=True`."""


async def place_flash_batch(begin: Callable[[], AbstractAsyncContextManager[AsyncSession]], *,
                            orders: Sequence[LaneOrder], hooks: OrderHooks,
                            payment_timeout_s: int, now: datetime
                            ) -> tuple[list[LaneAnswer], list[Event]]:
    """`place_flash_orders` in a transaction of its own (`begin()`); when a sale
    runs out within the batch, again in another one, carefully (a few times:
    other batches may take units meanwhile), then `FALLBACK` for every order."""
    for careful in (False, True, True, True):
        try:
            async with begin() as session:
                return await place_flash_orders(
                    session, orders=orders, hooks=hooks, payment_timeout_s=payment_timeout_s,
                    now=now, careful=careful)
        except Short:
            continue
    return [LaneAnswer(then=FALLBACK) for _ in orders], []


async def place_flash_orders(session: AsyncSession, *, orders: Sequence[LaneOrder],
                             hooks: OrderHooks, payment_timeout_s: int, now: datetime,
                             careful: bool = False) -> tuple[list[LaneAnswer], list[Event]]:
    """Place `orders` in the caller's transaction; one answer each, in order.

    The rows first and the units last, so each sale's row stays locked only
    until the commit (the other batches wait on it); raises `Short` if a sale
    cannot give every buyer their units. `careful`: first the batch is cut to
    what the sales have left (`_trim_to_stock`)."""
    work = [_Work(i, o) for i, o in enumerate(orders)]
    await _claim_keys(session, work, now)
    live = [w for w in work if w.answer.then is None]
    events: list[Event] = []
    if live:
        await _check_and_price(session, live, now, payment_timeout_s)
        await _attribute(session, [w for w in live if w.pending], hooks, now)
        await _hold(session, [w for w in live if w.pending])
        if careful:
            await _trim_to_stock(session, [w for w in live if w.pending])
        events = await _write(session, live, hooks, now)
        taken = await _take_all(session, [w for w in live if w.pending])
        if taken is None:
            raise Short
        events += taken
    return [w.answer for w in work], events


async def _take_all(session: AsyncSession, work: list[_Work]) -> list[Event] | None:
    """Every buyer's units, sale by sale in product order; None if one is short."""
    by_sale: dict[str, list[_Work]] = {}
    for w in work:
        by_sale.setdefault(w.sale.id, []).append(w)
    events: list[Event] = []
    for sale_id in sorted(by_sale, key=lambda s: by_sale[s][0].order.product_id):
        group = by_sale[sale_id]
        left = await take_from_sale(session, sale_id, sum(w.order.quantity for w in group))
        if left is None:
            return None
        for room_id in sorted({w.order.room_id for w in group}):
            events.append(StockChanged(room_id, group[0].order.product_id, sale_id, left))
    return events


async def _claim_keys(session: AsyncSession, work: list[_Work], now: datetime) -> None:
    """Insert every key's row (its answer filled in by `_write`), keys in order."""
    seen: set[tuple[str, str]] = set()
    rows = []
    for w in sorted(work, key=lambda w: (w.order.claim.caller_id, w.order.claim.key)):
        pk = (w.order.claim.caller_id, w.order.claim.key)
        if pk in seen:  # the same key twice in one batch: the first one answers both
            w.answer.then = REPLAY
            continue
        seen.add(pk)
        rows.append({"caller_id": pk[0], "key": pk[1], "body_hash": w.order.claim.body_hash,
                     "status_code": 0, "response": "", "order_id": None, "created_at": now})
    if not rows:
        return
    claimed = {tuple(r) for r in await insert_ignoring(
        session, IdempotencyKey, rows, returning=("caller_id", "key"))}
    for w in work:
        if w.answer.then is None and (w.order.claim.caller_id, w.order.claim.key) not in claimed:
            w.answer.then = REPLAY


async def _check_and_price(session: AsyncSession, work: list[_Work], now: datetime,
                           payment_timeout_s: int) -> None:
    """Room, shelf and live checks (as `place_order` makes them), then the order rows.
    One statement: each (room, product) pair's shelf row with its room, its
    product and the product's running sale; a pair without one is looked at
    again (no such room, or not on its shelf)."""
    pairs = {(w.order.room_id, w.order.product_id) for w in work}
    found = {(r.room_id, r.product_id): r for r in (await session.execute(
        select(ShelfItem.room_id, ShelfItem.product_id, Room.status, Room.host_id,
               Product.title, FlashSale.id.label("sale_id"), FlashSale.price_cents,
               FlashSale.per_user_limit)
        .join(Room, Room.id == ShelfItem.room_id)
        .join(Product, Product.id == ShelfItem.product_id)
        .outerjoin(FlashSale, and_(FlashSale.product_id == ShelfItem.product_id,
                                   FlashSale.status == "running"))
        .where(among_pairs(session, ShelfItem.room_id, ShelfItem.product_id, pairs)))).all()
        if (r.room_id, r.product_id) in pairs}
    rooms: set[str] = set()
    if len(found) < len(pairs):
        rooms = set((await session.scalars(select(Room.id).where(among(
            session, Room.id, {room_id for room_id, _ in pairs - set(found)})))).all())
    for w in work:
        o = w.order
        row = found.get((o.room_id, o.product_id))
        if row is None:
            w.refused = (invalid("every product must be on the room's shelf, once",
                                 ("items.0.product_id", "not on this room's shelf"))
                         if o.room_id in rooms else
                         invalid("no such room", ("room_id", "no such room")))
        elif row.sale_id != o.sale_id:
            w.answer.then = FALLBACK  # the sale read (and gated) has ended since
        elif row.status != "live":
            w.refused = LiveError(Code.ROOM_NOT_LIVE, f"the room is {row.status}")
        else:
            w.sale = _Sale(row.sale_id, o.product_id, row.price_cents, row.per_user_limit)
            items_cents = row.price_cents * o.quantity
            order = Order(id=new_id("ord"), room_id=o.room_id, viewer_id=o.viewer_id,
                          status="pending_payment", items_cents=items_cents, discount_cents=0,
                          total_cents=items_cents, leader_id=None,
                          fulfilment_kind=o.fulfilment.kind,
                          fulfilment_detail=o.fulfilment.detail, coupon_claim_id=None,
                          group_buy_id=None, group_id=None, created_at=now,
                          expires_at=now + timedelta(seconds=payment_timeout_s), paid_at=None)
            order.items = [OrderItem(position=0, product_id=o.product_id,
                                     flash_sale_id=row.sale_id, title=row.title,
                                     quantity=o.quantity, unit_price_cents=row.price_cents)]
            w.row = order
            w.host_id = row.host_id


async def _attribute(session: AsyncSession, work: list[_Work], hooks: OrderHooks,
                     now: datetime) -> None:
    if hooks.bound_leaders is None:
        return
    by_host: dict[str, list[_Work]] = {}
    for w in work:
        by_host.setdefault(w.host_id, []).append(w)
    for host_id, group in by_host.items():
        leaders = await hooks.bound_leaders(
            session, host_id=host_id, viewer_ids=[w.order.viewer_id for w in group], now=now)
        for w in group:
            assert w.row is not None
            w.row.leader_id = leaders.get(w.order.viewer_id)


def _limit_error(w: _Work) -> LiveError:
    return LiveError(Code.LIMIT_EXCEEDED,
                     f"at most {w.sale.per_user_limit} per person in this flash sale",
                     product_id=w.order.product_id, flash_sale_id=w.sale.id)


async def _hold(session: AsyncSession, work: list[_Work]) -> None:
    """Per-person limits before stock, as `service.hold_for_buyer`, many at once
    (one conditional upsert per sale, sales in product order as `place_order`
    takes them). A buyer's second order in one batch is handed back
    (`FALLBACK`): decided after the first one's commit, it gets the answer it
    would get one by one (the first may yet be refused `sold_out` and give its
    hold back)."""
    for w in work:
        if w.order.quantity > w.sale.per_user_limit:
            w.refused = _limit_error(w)
    seen: set[tuple[str, str]] = set()
    by_sale: dict[str, list[_Work]] = {}
    for w in work:
        if w.refused is not None:
            continue
        if (w.sale.id, w.order.viewer_id) in seen:
            w.answer.then = FALLBACK
            continue
        seen.add((w.sale.id, w.order.viewer_id))
        by_sale.setdefault(w.sale.id, []).append(w)
    for sale_id in sorted(by_sale, key=lambda s: by_sale[s][0].order.product_id):
        group = sorted(by_sale[sale_id], key=lambda w: w.order.viewer_id)
        rows = [{"flash_sale_id": sale_id, "viewer_id": w.order.viewer_id,
                 "quantity": w.order.quantity} for w in group]
        limit = group[0].sale.per_user_limit
        dialect = session.get_bind().dialect.name
        params: Any = ({**unnest_params(rows, _HOLD_COLUMNS), "lim": limit}
                       if dialect == "postgresql" else [{**r, "lim": limit} for r in rows])
        held = {r.viewer_id for r in (await session.execute(
            _hold_statement(dialect), params)).all()}
        for w in group:
            if w.order.viewer_id not in held:
                w.refused = _limit_error(w)


async def _trim_to_stock(session: AsyncSession, work: list[_Work]) -> None:
    """Careful mode: what each sale has left now, first come first served (sales
    in product order, as `place_order` takes them); the buyers too late get
    `sold_out` and their per-person hold back. Read, not locked: every batch
    writes its rows before it takes units, so batches lock rows in one order
    (the stats rows, then the sale's), and a batch another one outran is short
    again and tried again (three careful tries in all)."""
    by_sale: dict[str, list[_Work]] = {}
    for w in work:
        by_sale.setdefault(w.sale.id, []).append(w)
    for sale_id in sorted(by_sale, key=lambda s: by_sale[s][0].order.product_id):
        group = by_sale[sale_id]
        have = await session.scalar(select(FlashSale.remaining).where(
            FlashSale.id == sale_id, FlashSale.status == "running")) or 0
        total = 0
        for w in group:
            if total + w.order.quantity <= have:
                total += w.order.quantity
            else:
                assert w.row is not None
                w.refused = LiveError(Code.SOLD_OUT, f"{w.row.items[0].title} is sold out",
                                      product_id=w.order.product_id, flash_sale_id=sale_id)
        late = [w for w in group if w.refused is not None]
        if late:
            await session.execute(_UNHOLD, [
                {"s": sale_id, "v": w.order.viewer_id, "q": w.order.quantity} for w in late])


_T = cast(Table, FlashBuyer.__table__)
_UNHOLD = (update(_T).where(_T.c.flash_sale_id == bindparam("s"),
                            _T.c.viewer_id == bindparam("v"))
           .values(quantity=_T.c.quantity - bindparam("q")))


async def _write(session: AsyncSession, work: list[_Work], hooks: OrderHooks,
                 now: datetime) -> list[Event]:
    """The orders and their lines (and the `placed` hooks); every key row gets
    its answer."""
    placed = [w.row for w in work if w.pending and w.row is not None]
    events: list[Event] = []
    if placed:
        await session.execute(insert(_ORDERS), [_columns(_ORDERS, o) for o in placed])
        await session.execute(insert(_ITEMS), [{**_columns(_ITEMS, item), "order_id": o.id}
                                               for o in placed for item in o.items])
        events = await order_hooks.run(hooks.placed, session, placed, now)
    answers = []
    for w in work:
        if w.answer.then == FALLBACK:
            continue
        if w.refused is not None:
            w.answer.status = w.refused.status
            w.answer.text = dumps({"error": w.refused.to_dict()})
            order_id = None
        else:
            assert w.row is not None
            w.answer.status, w.answer.text = 201, dumps(order_dict(w.row))
            w.answer.kept = (w.sale.id, w.order.quantity)
            order_id = w.row.id
        answers.append({"c": w.order.claim.caller_id, "k": w.order.claim.key,
                        "status": w.answer.status, "response": w.answer.text,
                        "order_id": order_id})
    if answers:
        await session.execute(_ANSWER, answers)
    fallback = [w for w in work if w.answer.then == FALLBACK]
    if fallback:  # exactly these keys (db.among_pairs may match more on PostgreSQL)
        await session.execute(delete(IdempotencyKey).where(
            tuple_(IdempotencyKey.caller_id, IdempotencyKey.key).in_(
                [(w.order.claim.caller_id, w.order.claim.key) for w in fallback])))
    return events


_K = cast(Table, IdempotencyKey.__table__)
_ANSWER = (update(_K).where(_K.c.caller_id == bindparam("c"), _K.c.key == bindparam("k"))
           .values(status_code=bindparam("status"), response=bindparam("response"),
                   order_id=bindparam("order_id")))


_ORDERS = cast(Table, Order.__table__)
_ITEMS = cast(Table, OrderItem.__table__)


def _columns(table: Table, obj: Any) -> dict[str, Any]:
    """The columns set on a new (never added) ORM object, for a Core INSERT."""
    return {c.key: getattr(obj, c.key) for c in table.columns if c.key in obj.__dict__}
