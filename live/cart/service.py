"""Flash sales, carts and orders. Transport-free: callers commit, then publish.

Stock never oversells because every unit moves in one conditional UPDATE
(`... SET n = n - :q WHERE ... AND n >= :q RETURNING n`; no row → sold_out)
inside the order's transaction, never by reading and then writing. Units only
ever move between three places, each a counter in the database:
a product's free `stock`, a not-ended sale's `remaining`, and the order lines
of pending or paid orders. See docs/architecture.md, "Commerce".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from live.accounts.models import Viewer
from live.accounts.principal import Principal
from live.cart import hooks as order_hooks
from live.cart.events import FlashChanged, PurchaseMade, StockChanged, mask_nickname
from live.cart.hooks import OrderHooks
from live.cart.models import CartItem, FlashBuyer, FlashSale, IdempotencyKey, Order, OrderItem
from live.clock import iso
from live.db import among, get_or_404
from live.errors import Code, LiveError, conflict, forbidden, invalid
from live.events import Event
from live.growth.service import coupons as growth_coupons
from live.growth.service import groups as growth_groups
from live.ids import new_id
from live.rooms.models import Product, Room, ShelfItem
from live.rooms.service import get_room, room_of_host, rooms_showing

HELD = ("pending_payment", "paid")  # statuses whose units are sold or pending
KEY_RETENTION = timedelta(hours=48)  # Idempotency-Key answers are kept ≥ 24 h


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int


@dataclass(frozen=True)
class Fulfilment:
    kind: str  # delivery | pickup
    detail: str  # the address or the pickup point


@dataclass
class Priced:
    product: Product
    quantity: int
    sale: FlashSale | None
    group_price_cents: int | None = None  # a 拼团 order: the offer's price

    @property
    def unit_price_cents(self) -> int:
        if self.group_price_cents is not None:
            return self.group_price_cents
        return self.sale.price_cents if self.sale else self.product.price_cents

    def as_dict(self) -> dict[str, Any]:
        return {"product_id": self.product.id, "quantity": self.quantity,
                "unit_price_cents": self.unit_price_cents,
                "flash_sale_id": self.sale.id if self.sale else None,
                "title": self.product.title}


# --- shapes on the wire ---------------------------------------------------------

def flash_dict(s: FlashSale) -> dict[str, Any]:
    return {"id": s.id, "room_id": s.room_id, "product_id": s.product_id,
            "price_cents": s.price_cents, "quantity": s.quantity, "remaining": s.remaining,
            "per_user_limit": s.per_user_limit, "starts_at": iso(s.starts_at),
            "ends_at": iso(s.ends_at), "status": s.status}


def order_dict(o: Order) -> dict[str, Any]:
    fulfilment: dict[str, Any] = {"kind": o.fulfilment_kind}
    fulfilment["address" if o.fulfilment_kind == "delivery" else "point"] = o.fulfilment_detail
    return {
        "id": o.id, "room_id": o.room_id, "viewer_id": o.viewer_id, "status": o.status,
        "items": [{"product_id": i.product_id, "quantity": i.quantity,
                   "unit_price_cents": i.unit_price_cents, "flash_sale_id": i.flash_sale_id,
                   "title": i.title} for i in o.items],
        "items_cents": o.items_cents, "discount_cents": o.discount_cents,
        "total_cents": o.total_cents, "leader_id": o.leader_id,
        "coupon_claim_id": o.coupon_claim_id, "group_buy_id": o.group_buy_id,
        "group_id": o.group_id, "fulfilment": fulfilment,
        "created_at": iso(o.created_at), "expires_at": iso(o.expires_at),
        "paid_at": iso(o.paid_at),
    }


def dumps(data: Any) -> str:
    """The exact text an answer is sent (and replayed) as."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def body_hash(body: Any) -> str:
    """JSON-equal bodies hash alike: key order and whitespace do not matter."""
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


# --- conditional counters (the only way units move) ------------------------------

async def take_free_stock(session: AsyncSession, product_id: str, quantity: int) -> int | None:
    """Units off a product's free stock; None (nothing changed) when too few."""
    row = await session.execute(
        update(Product).where(Product.id == product_id, Product.stock >= quantity)
        .values(stock=Product.stock - quantity).returning(Product.stock)
        .execution_options(synchronize_session=False))
    return row.scalar_one_or_none()


async def give_free_stock(session: AsyncSession, product_id: str, quantity: int) -> int:
    row = await session.execute(
        update(Product).where(Product.id == product_id)
        .values(stock=Product.stock + quantity).returning(Product.stock)
        .execution_options(synchronize_session=False))
    return int(row.scalar_one())


async def take_from_sale(session: AsyncSession, sale_id: str, quantity: int) -> int | None:
    """Units off a running sale's remaining; None when too few or the sale stopped."""
    row = await session.execute(
        update(FlashSale).where(FlashSale.id == sale_id, FlashSale.status == "running",
                                FlashSale.remaining >= quantity)
        .values(remaining=FlashSale.remaining - quantity).returning(FlashSale.remaining)
        .execution_options(synchronize_session=False))
    return row.scalar_one_or_none()


async def give_to_sale(session: AsyncSession, sale_id: str, quantity: int) -> int | None:
    """Units back to a sale that still runs; None when it does not."""
    row = await session.execute(
        update(FlashSale).where(FlashSale.id == sale_id, FlashSale.status == "running")
        .values(remaining=FlashSale.remaining + quantity).returning(FlashSale.remaining)
        .execution_options(synchronize_session=False))
    return row.scalar_one_or_none()


async def hold_for_buyer(session: AsyncSession, sale: FlashSale, viewer_id: str,
                         quantity: int) -> bool:
    """Count units toward the viewer's per-user limit in one conditional upsert."""
    if quantity > sale.per_user_limit:
        return False
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    ins = insert(FlashBuyer).values(flash_sale_id=sale.id, viewer_id=viewer_id,
                                    quantity=quantity)
    stmt = ins.on_conflict_do_update(
        index_elements=[FlashBuyer.flash_sale_id, FlashBuyer.viewer_id],
        set_={"quantity": FlashBuyer.quantity + ins.excluded.quantity},
        where=FlashBuyer.quantity + ins.excluded.quantity <= sale.per_user_limit,
    ).returning(FlashBuyer.quantity)
    row = await session.execute(stmt)
    return row.scalar_one_or_none() is not None


async def unhold_for_buyer(session: AsyncSession, sale_id: str, viewer_id: str,
                           quantity: int) -> None:
    await session.execute(
        update(FlashBuyer).where(FlashBuyer.flash_sale_id == sale_id,
                                 FlashBuyer.viewer_id == viewer_id)
        .values(quantity=FlashBuyer.quantity - quantity)
        .execution_options(synchronize_session=False))


# --- flash sales -------------------------------------------------------------------

async def get_flash_sale(session: AsyncSession, sale_id: str) -> FlashSale:
    return await get_or_404(session, FlashSale, sale_id, "flash sale")


async def flash_sale_of_host(session: AsyncSession, sale_id: str, host: Principal) -> FlashSale:
    sale = await get_flash_sale(session, sale_id)
    await room_of_host(session, sale.room_id, host)
    return sale


async def create_flash_sale(session: AsyncSession, *, room: Room, product_id: str,
                            price_cents: int, quantity: int, per_user_limit: int,
                            start_in_s: int | None, starts_at: datetime | None,
                            duration_s: int, now: datetime) -> tuple[FlashSale, list[Event]]:
    if room.status == "ended":
        raise LiveError(Code.ROOM_NOT_LIVE, "the room has ended")
    if await session.get(ShelfItem, (room.id, product_id)) is None:
        raise invalid("a flash sale needs a product on this room's shelf",
                      ("product_id", "not on this room's shelf"))
    start = starts_at if starts_at is not None else now + timedelta(seconds=start_in_s or 0)
    if start < now:
        start = now
    end = start + timedelta(seconds=duration_s)
    taken = await session.scalar(
        select(FlashSale.id).where(FlashSale.active_product_id == product_id))
    if taken is not None:
        raise conflict("this product already has a flash sale that has not ended")
    left = await take_free_stock(session, product_id, quantity)
    if left is None:
        raise LiveError(Code.SOLD_OUT, "not enough free stock for this quantity")
    sale = FlashSale(id=new_id("flash"), room_id=room.id, product_id=product_id,
                     active_product_id=product_id, price_cents=price_cents, quantity=quantity,
                     remaining=quantity, per_user_limit=per_user_limit, starts_at=start,
                     ends_at=end, status="running" if start <= now else "scheduled",
                     created_at=now)
    session.add(sale)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent sale of the same product won the unique column
        raise conflict("this product already has a flash sale that has not ended") from None
    events: list[Event] = [FlashChanged(room.id, flash_dict(sale))]
    events += await _free_stock_events(session, product_id, left)
    if sale.status == "running":
        events.append(StockChanged(room.id, product_id, sale.id, sale.remaining))
    return sale, events


async def start_due_sales(session: AsyncSession, *, now: datetime) -> list[Event]:
    """Scheduled sales whose time has come start; conditional, so one worker wins each."""
    due = (await session.scalars(
        select(FlashSale.id).where(FlashSale.status == "scheduled",
                                   FlashSale.starts_at <= now))).all()
    events: list[Event] = []
    for sale_id in due:
        started = await session.scalar(
            update(FlashSale).where(FlashSale.id == sale_id, FlashSale.status == "scheduled")
            .values(status="running").returning(FlashSale.id)
            .execution_options(synchronize_session=False))
        if started is None:
            continue
        sale = await session.get(FlashSale, sale_id, populate_existing=True)
        assert sale is not None
        events.append(FlashChanged(sale.room_id, flash_dict(sale)))
        events.append(StockChanged(sale.room_id, sale.product_id, sale.id, sale.remaining))
    return events


async def end_sale(session: AsyncSession, *, sale_id: str, now: datetime,
                   early: bool) -> list[Event]:
    """End a sale that has not ended (conditional) and give its unsold units back."""
    values: dict[str, Any] = {"status": "ended", "active_product_id": None, "ended_at": now}
    if early:
        values["ends_at"] = now
    row = (await session.execute(
        update(FlashSale).where(FlashSale.id == sale_id, FlashSale.status != "ended")
        .values(**values).returning(FlashSale.remaining)
        .execution_options(synchronize_session=False))).first()
    if row is None:
        return []
    sale = await session.get(FlashSale, sale_id, populate_existing=True)
    assert sale is not None
    events: list[Event] = [FlashChanged(sale.room_id, flash_dict(sale))]
    if row.remaining:
        left = await give_free_stock(session, sale.product_id, int(row.remaining))
        events += await _free_stock_events(session, sale.product_id, left)
    return events


async def end_flash_sale(session: AsyncSession, *, sale: FlashSale,
                         now: datetime) -> list[Event]:
    if sale.status == "ended":
        raise conflict("this flash sale has ended")
    events = await end_sale(session, sale_id=sale.id, now=now, early=True)
    if not events:
        raise conflict("this flash sale has ended")
    await session.refresh(sale)
    return events


async def end_due_sales(session: AsyncSession, *, now: datetime) -> list[Event]:
    due = (await session.scalars(
        select(FlashSale.id).where(FlashSale.status != "ended", FlashSale.ends_at <= now))).all()
    events: list[Event] = []
    for sale_id in due:
        events += await end_sale(session, sale_id=sale_id, now=now, early=False)
    return events


async def next_due(session: AsyncSession) -> bool:
    """Whether any sale is waiting to start or end (a cheap read before writing)."""
    return await session.scalar(
        select(func.count()).select_from(FlashSale).where(FlashSale.status != "ended")) != 0


async def end_room_sales(session: AsyncSession, room: Room, now: datetime) -> list[Event]:
    """Status hook: a room that ends ends its sales (their units go back)."""
    if room.status != "ended":
        return []
    ids = (await session.scalars(
        select(FlashSale.id).where(FlashSale.room_id == room.id,
                                   FlashSale.status != "ended"))).all()
    events: list[Event] = []
    for sale_id in ids:
        events += await end_sale(session, sale_id=sale_id, now=now, early=True)
    return events


async def running_sales(session: AsyncSession, product_ids: Sequence[str]) -> dict[str, FlashSale]:
    if not product_ids:
        return {}
    rows = await session.scalars(
        select(FlashSale).where(among(session, FlashSale.product_id, product_ids),
                                FlashSale.status == "running"))
    return {s.product_id: s for s in rows}


async def snapshot_part(session: AsyncSession, room_id: str) -> dict[str, Any]:
    rows = await session.scalars(
        select(FlashSale).where(FlashSale.room_id == room_id, FlashSale.status != "ended")
        .order_by(FlashSale.starts_at, FlashSale.id))
    return {"flash_sales": [flash_dict(s) for s in rows]}


async def _free_stock_events(session: AsyncSession, product_id: str,
                             stock: int) -> list[Event]:
    return [StockChanged(room_id, product_id, None, stock)
            for room_id in await rooms_showing(session, product_id)]


# --- cart ----------------------------------------------------------------------------

async def price_lines(session: AsyncSession, *, room_id: str, lines: Sequence[Line],
                      field_name: str = "items") -> list[Priced]:
    """Price lines now (a running flash sale's price wins); 422 naming bad lines."""
    bad: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if line.product_id in seen:
            bad.append((f"{field_name}.{i}.product_id", "listed twice"))
        seen.add(line.product_id)
    shelf: set[str] = set()
    if seen:
        shelf = set((await session.scalars(
            select(ShelfItem.product_id).where(ShelfItem.room_id == room_id,
                                               ShelfItem.product_id.in_(seen)))).all())
    for i, line in enumerate(lines):
        if line.product_id not in shelf:
            bad.append((f"{field_name}.{i}.product_id", "not on this room's shelf"))
    if bad:
        raise invalid("every product must be on the room's shelf, once", *bad)
    products = {p.id: p for p in (await session.scalars(
        select(Product).where(Product.id.in_(seen)))).all()}
    sales = await running_sales(session, list(seen))
    return [Priced(products[line.product_id], line.quantity, sales.get(line.product_id))
            for line in lines]


def cart_dict(priced: Sequence[Priced]) -> dict[str, Any]:
    return {"items": [p.as_dict() for p in priced],
            "total_cents": sum(p.unit_price_cents * p.quantity for p in priced)}


async def cart_lines(session: AsyncSession, *, viewer_id: str, room_id: str) -> list[Line]:
    rows = await session.scalars(
        select(CartItem).where(CartItem.viewer_id == viewer_id, CartItem.room_id == room_id)
        .order_by(CartItem.position))
    return [Line(r.product_id, r.quantity) for r in rows]


async def set_cart(session: AsyncSession, *, viewer_id: str, room_id: str,
                   lines: Sequence[Line]) -> dict[str, Any]:
    priced = await price_lines(session, room_id=room_id, lines=lines)
    await session.execute(delete(CartItem).where(CartItem.viewer_id == viewer_id,
                                                 CartItem.room_id == room_id))
    session.add_all(CartItem(viewer_id=viewer_id, room_id=room_id, product_id=line.product_id,
                             quantity=line.quantity, position=i)
                    for i, line in enumerate(lines))
    await session.flush()
    return cart_dict(priced)


async def get_cart(session: AsyncSession, *, viewer_id: str, room_id: str) -> dict[str, Any]:
    lines = await cart_lines(session, viewer_id=viewer_id, room_id=room_id)
    if not lines:
        return cart_dict([])
    # Products may have left the shelf since: show what is still there.
    shelf = set((await session.scalars(
        select(ShelfItem.product_id).where(ShelfItem.room_id == room_id))).all())
    lines = [line for line in lines if line.product_id in shelf]
    return cart_dict(await price_lines(session, room_id=room_id, lines=lines))


# --- idempotency -----------------------------------------------------------------

@dataclass(frozen=True)
class IdempotencyClaim:
    caller_id: str
    key: str
    body_hash: str


async def stored_answer(session: AsyncSession, claim: IdempotencyClaim) -> IdempotencyKey | None:
    """The stored answer for this key, or None; another body → idempotency_mismatch."""
    row = await session.get(IdempotencyKey, (claim.caller_id, claim.key), populate_existing=True)
    if row is not None and row.body_hash != claim.body_hash:
        raise LiveError(Code.IDEMPOTENCY_MISMATCH,
                        "this Idempotency-Key was used with another body")
    return row


def remember_answer(session: AsyncSession, claim: IdempotencyClaim, *, status: int,
                    response: str, order_id: str | None, now: datetime) -> None:
    """Store the first answer in the current transaction (flushed with it: a concurrent
    duplicate collides on the primary key and replays this one)."""
    session.add(IdempotencyKey(caller_id=claim.caller_id, key=claim.key,
                               body_hash=claim.body_hash, status_code=status,
                               response=response, order_id=order_id, created_at=now))


async def forget_old_keys(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < now - KEY_RETENTION))
    return int(getattr(result, "rowcount", 0) or 0)


# --- orders ------------------------------------------------------------------------

@dataclass
class OrderRequest:
    room_id: str
    lines: Sequence[Line] | None  # None: from the cart
    fulfilment: Fulfilment
    share_token: str | None = None
    visitor_id: str | None = None
    coupon_claim_id: str | None = None
    group_buy_id: str | None = None
    group_id: str | None = None


@dataclass
class GateVerdicts:
    """What the production stock gate (Redis) already refused, per flash sale id:
    `limit_exceeded` or `sold_out`. The database checks run the same way; the
    refusal is raised where the database check would have run."""

    refused: Mapping[str, str] = field(default_factory=dict)


def early_refusal(*, room_id: str, lines: Sequence[Line], sales: Mapping[str, FlashSale],
                  gate: GateVerdicts | None, held: Mapping[str, int] | None
                  ) -> LiveError | None:
    """A flash-sale buyer who cannot get the units, told before anything is written.

    In a sell-out most requests are doomed; the full path (idempotency row,
    pricing, attribution, the per-person hold, the order rows, all under the
    write lock or the sale's row lock) cost them several milliseconds each and
    made the winners wait behind them. Decided from reads: the Redis gate's
    verdicts in production (`gate`), else the viewer's holdings (`held`) and
    the sales' `remaining` as read. Same answers as `place_order` at the same
    steps — per-person limits first, then stock, by product id — for lines whose
    running sale (`sales`, by product id) is in this room. None: nothing refused
    here; the full path decides (and may still refuse)."""
    flash = [(line, sales[line.product_id])
             for line in sorted(lines, key=lambda x: x.product_id)
             if line.product_id in sales and sales[line.product_id].room_id == room_id
             and line.quantity > 0]
    held = held or {}
    for line, sale in flash:
        if (gate.refused.get(sale.id) == Code.LIMIT_EXCEEDED if gate is not None
                else held.get(sale.id, 0) + line.quantity > sale.per_user_limit):
            return LiveError(Code.LIMIT_EXCEEDED,
                             f"at most {sale.per_user_limit} per person in this flash sale",
                             product_id=line.product_id, flash_sale_id=sale.id)
    for line, sale in flash:
        if (gate.refused.get(sale.id) == Code.SOLD_OUT if gate is not None
                else sale.remaining < line.quantity):
            return LiveError(Code.SOLD_OUT, "this flash sale is sold out",
                             product_id=line.product_id, flash_sale_id=sale.id)
    return None


async def place_order(session: AsyncSession, *, viewer_id: str, request: OrderRequest,
                      hooks: OrderHooks, payment_timeout_s: int, now: datetime,
                      claim: IdempotencyClaim | None = None,
                      gate: GateVerdicts | None = None) -> tuple[Order, list[Event]]:
    """Validate, price, hold the per-user limit, take stock, write the order.

    Steps, in the order the contract checks them:
    1. the room and the lines (422 invalid), the room is live (409 room_not_live);
    2. attribution of the share token (422 invalid);
    3. pricing: a running flash sale's price, else the product's; a 拼团 order
       takes its seat in the group and the offer's price (growth); a coupon
       claim is used and gives `discount_cents` (growth); 422 invalid / 409;
    4. per-user flash limits (422 limit_exceeded), before stock;
    5. the order rows (and the idempotent answer) are written, then stock is taken
       last, one conditional UPDATE per line in product-id order, so the hot rows
       are locked only until the commit (409 sold_out, nothing partial).
    """
    room = await session.get(Room, request.room_id)
    if room is None:
        raise invalid("no such room", ("room_id", "no such room"))
    from_cart = request.lines is None
    lines = (await cart_lines(session, viewer_id=viewer_id, room_id=room.id)
             if from_cart else list(request.lines or ()))
    if not lines:
        raise invalid("the cart is empty", ("from_cart", "the cart is empty"))
    priced = await price_lines(session, room_id=room.id, lines=lines,
                               field_name="from_cart" if from_cart else "items")
    if room.status != "live":
        raise LiveError(Code.ROOM_NOT_LIVE, f"the room is {room.status}")

    leader_id = None
    if hooks.attribute is not None:
        leader_id = await hooks.attribute(session, viewer_id=viewer_id, room_id=room.id,
                                          share_token=request.share_token,
                                          visitor_id=request.visitor_id, now=now)

    order_id = new_id("ord")
    group_id = request.group_id
    events: list[Event] = []
    if request.group_buy_id is not None:
        # 拼团: the offer's product only, at the offer's price, from free stock.
        seat = await growth_groups.seat_order(
            session, viewer_id=viewer_id, room_id=room.id,
            group_buy_id=request.group_buy_id, group_id=request.group_id,
            lines=[growth_groups.GroupLine(p.product.id, p.quantity) for p in priced],
            coupon_claim_id=request.coupon_claim_id, order_id=order_id, created_at=now,
            now=now)
        priced = [Priced(p.product, p.quantity, None, seat.unit_price_cents) for p in priced]
        group_id = seat.group_id
        events += seat.events
    elif request.group_id is not None:
        raise invalid("a group_id needs its group_buy_id",
                      ("group_buy_id", "required with group_id"))

    items_cents = sum(p.unit_price_cents * p.quantity for p in priced)
    discount_cents = 0
    if request.coupon_claim_id is not None:
        # 优惠券: the claim turns used for this order only (one conditional UPDATE).
        discount_cents = await growth_coupons.apply_coupon(
            session, claim_id=request.coupon_claim_id, viewer_id=viewer_id, room_id=room.id,
            items_total_cents=items_cents, order_id=order_id, now=now)

    refused = gate.refused if gate else {}
    for p in sorted(priced, key=lambda p: p.product.id):
        if p.sale is None:
            continue
        if refused.get(p.sale.id) == Code.LIMIT_EXCEEDED or not await hold_for_buyer(
                session, p.sale, viewer_id, p.quantity):
            raise LiveError(Code.LIMIT_EXCEEDED,
                            f"at most {p.sale.per_user_limit} per person in this flash sale",
                            product_id=p.product.id, flash_sale_id=p.sale.id)

    # A cheap early refusal (no lock is taken by this read): the conditional UPDATE
    # below still decides; this only spares doomed buyers the writes and the wait
    # on a hot row once a sale has sold out (or the Redis gate said so).
    for p in sorted(priced, key=lambda p: p.product.id):
        have = p.sale.remaining if p.sale is not None else p.product.stock
        if have < p.quantity or (p.sale is not None
                                 and refused.get(p.sale.id) == Code.SOLD_OUT):
            raise LiveError(Code.SOLD_OUT, f"{p.product.title} is sold out",
                            product_id=p.product.id,
                            flash_sale_id=p.sale.id if p.sale else None)

    order = Order(id=order_id, room_id=room.id, viewer_id=viewer_id,
                  status="pending_payment", items_cents=items_cents,
                  discount_cents=discount_cents, total_cents=items_cents - discount_cents,
                  leader_id=leader_id, fulfilment_kind=request.fulfilment.kind,
                  fulfilment_detail=request.fulfilment.detail,
                  coupon_claim_id=request.coupon_claim_id, group_buy_id=request.group_buy_id,
                  group_id=group_id, created_at=now,
                  expires_at=now + timedelta(seconds=payment_timeout_s))
    order.items = [OrderItem(position=i, product_id=p.product.id,
                             flash_sale_id=p.sale.id if p.sale else None,
                             title=p.product.title, quantity=p.quantity,
                             unit_price_cents=p.unit_price_cents)
                   for i, p in enumerate(priced)]
    session.add(order)
    if from_cart:
        await session.execute(delete(CartItem).where(CartItem.viewer_id == viewer_id,
                                                     CartItem.room_id == room.id))
    events += await order_hooks.run(hooks.placed, session, [order], now)
    if claim is not None:
        remember_answer(session, claim, status=201, response=dumps(order_dict(order)),
                        order_id=order.id, now=now)
    await session.flush()

    for p in sorted(priced, key=lambda p: p.product.id):
        if p.sale is not None:
            left = await take_from_sale(session, p.sale.id, p.quantity)
            if left is None:
                raise LiveError(Code.SOLD_OUT, f"{p.product.title} is sold out",
                                product_id=p.product.id, flash_sale_id=p.sale.id)
            events.append(StockChanged(room.id, p.product.id, p.sale.id, left))
        else:
            left = await take_free_stock(session, p.product.id, p.quantity)
            if left is None:
                raise LiveError(Code.SOLD_OUT, f"{p.product.title} is sold out",
                                product_id=p.product.id, flash_sale_id=None)
            events += await _free_stock_events(session, p.product.id, left)
    return order, events


async def get_order(session: AsyncSession, order_id: str) -> Order:
    return await get_or_404(session, Order, order_id, "order")


async def order_for(session: AsyncSession, order_id: str, who: Principal) -> Order:
    """The order, for its viewer or the host of its room (404, then 403)."""
    order = await get_order(session, order_id)
    if who.role == "viewer" and order.viewer_id == who.id:
        return order
    if who.role == "host":
        room = await session.get(Room, order.room_id)
        if room is not None and room.host_id == who.id:
            return order
    raise forbidden("this order is someone else's")


async def list_orders(session: AsyncSession, *, who: Principal, room_id: str | None,
                      limit: int) -> list[Order]:
    query = select(Order).order_by(Order.created_at.desc(), Order.id.desc()).limit(limit)
    if room_id is not None:
        if who.role == "host":
            await room_of_host(session, room_id, who)
        else:
            await get_room(session, room_id)
        query = query.where(Order.room_id == room_id)
    if who.role == "viewer":
        query = query.where(Order.viewer_id == who.id)
    elif who.role == "host":
        query = query.where(Order.room_id.in_(select(Room.id).where(Room.host_id == who.id)))
    else:
        raise forbidden("orders are listed for hosts and viewers")
    return list((await session.scalars(query)).all())


async def _transition(session: AsyncSession, order: Order, old: str, new: str,
                      **values: Any) -> bool:
    """Move an order from `old` to `new` only if it is still `old` (one worker wins)."""
    done = await session.scalar(
        update(Order).where(Order.id == order.id, Order.status == old)
        .values(status=new, **values).returning(Order.id)
        .execution_options(synchronize_session=False))
    if done is None:
        return False
    set_committed_value(order, "status", new)
    for name, value in values.items():
        set_committed_value(order, name, value)
    return True


async def release_units(session: AsyncSession, order: Order) -> list[Event]:
    """Units of a cancelled, expired or refunded order go back to the sale they came
    from while it still runs, else to the product's free stock."""
    events: list[Event] = []
    items = sorted(order.items, key=lambda i: i.product_id)
    for item in items:
        if item.flash_sale_id is not None:
            await unhold_for_buyer(session, item.flash_sale_id, order.viewer_id, item.quantity)
    for item in items:
        if item.flash_sale_id is not None:
            left = await give_to_sale(session, item.flash_sale_id, item.quantity)
            if left is not None:
                events.append(StockChanged(order.room_id, item.product_id,
                                           item.flash_sale_id, left))
                continue
        stock = await give_free_stock(session, item.product_id, item.quantity)
        events += await _free_stock_events(session, item.product_id, stock)
    return events


async def pay_order(session: AsyncSession, *, order: Order, provider: str,
                    payment_ref: str | None, hooks: OrderHooks, now: datetime) -> list[Event]:
    if order.status == "pending_payment" and now >= order.expires_at:
        raise conflict("the order has expired")
    if not await _transition(session, order, "pending_payment", "paid", paid_at=now,
                             payment_provider=provider, payment_ref=payment_ref):
        raise conflict(f"a {order.status} order cannot be paid")
    viewer = await session.get(Viewer, order.viewer_id)
    nickname = mask_nickname(viewer.nickname if viewer else "")
    events: list[Event] = [PurchaseMade(order.room_id, nickname, i.title, i.quantity)
                           for i in order.items]
    events += await order_hooks.run(hooks.paid, session, order, now)
    return events


async def cancel_order(session: AsyncSession, *, order: Order, hooks: OrderHooks,
                       now: datetime) -> list[Event]:
    if not await _transition(session, order, "pending_payment", "cancelled", closed_at=now):
        raise conflict(f"a {order.status} order cannot be cancelled")
    events = await release_units(session, order)
    events += await order_hooks.run(hooks.released, session, order, now)
    return events


async def refund_order(session: AsyncSession, *, order: Order, hooks: OrderHooks,
                       now: datetime) -> list[Event]:
    if not await _transition(session, order, "paid", "refunded", closed_at=now):
        raise conflict(f"a {order.status} order cannot be refunded")
    events = await release_units(session, order)
    events += await order_hooks.run(hooks.refunded, session, order, now)
    return events


async def due_orders(session: AsyncSession, *, now: datetime, limit: int = 200) -> list[str]:
    return list((await session.scalars(
        select(Order.id).where(Order.status == "pending_payment", Order.expires_at <= now)
        .order_by(Order.expires_at).limit(limit))).all())


async def expire_order(session: AsyncSession, *, order_id: str, hooks: OrderHooks,
                       now: datetime) -> tuple[Order | None, list[Event]]:
    """Expire one unpaid order past its time (conditional: exactly once)."""
    order = await session.get(Order, order_id)
    if order is None or order.status != "pending_payment" or order.expires_at > now:
        return None, []
    if not await _transition(session, order, "pending_payment", "expired", closed_at=now):
        return None, []
    events = await release_units(session, order)
    events += await order_hooks.run(hooks.released, session, order, now)
    return order, events
