"""Room, product, shelf and pin actions. Transport-free: callers commit and publish."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.accounts.models import Account
from live.accounts.principal import Principal
from live.clock import iso
from live.db import get_or_404
from live.errors import Code, LiveError, conflict, forbidden, invalid
from live.events import Event
from live.ids import new_id
from live.rooms.events import PinChanged, ShelfChanged, StatusChanged
from live.rooms.models import Product, Room, ShelfItem

FORWARD = {"scheduled": {"live", "ended"}, "live": {"ended"}, "ended": set()}


def product_dict(p: Product) -> dict[str, Any]:
    return {"id": p.id, "title": p.title, "price_cents": p.price_cents, "stock": p.stock,
            "image_url": p.image_url}


# --- loading with the contract's 404/403 rules --------------------------------

async def get_room(session: AsyncSession, room_id: str) -> Room:
    return await get_or_404(session, Room, room_id, "room")


def require_host(room: Room, host: Principal) -> None:
    """403 unless `host` is the host who owns the room: the one owner check of
    every room's resource (sales, orders, draws, stats, …)."""
    if host.role != "host" or room.host_id != host.id:
        raise forbidden("this room belongs to another host")


async def room_of_host(session: AsyncSession, room_id: str, host: Principal) -> Room:
    """The room, if `host` owns it: 404 when it does not exist, else 403."""
    room = await get_room(session, room_id)
    require_host(room, host)
    return room


async def get_product(session: AsyncSession, product_id: str) -> Product:
    return await get_or_404(session, Product, product_id, "product")


async def product_of_host(session: AsyncSession, product_id: str, host: Principal) -> Product:
    product = await get_product(session, product_id)
    if host.role != "host" or product.host_id != host.id:
        raise forbidden("this product belongs to another host")
    return product


def require_live(room: Room) -> None:
    if room.status != "live":
        raise LiveError(Code.ROOM_NOT_LIVE, f"the room is {room.status}")


# --- rooms --------------------------------------------------------------------

async def create_room(session: AsyncSession, *, host_id: str, title: str,
                      scheduled_at: datetime | None, playback_kind: str,
                      playback_url: str | None, now: datetime) -> Room:
    room = Room(id=new_id("room"), host_id=host_id, title=title, status="scheduled",
                scheduled_at=scheduled_at, playback_kind=playback_kind,
                playback_url=playback_url, pinned_product_id=None, likes=0, peak_viewers=0,
                created_at=now)
    session.add(room)
    await session.flush()
    return room


async def list_rooms(session: AsyncSession, *, status: str | None, host_id: str | None,
                     limit: int) -> Sequence[Room]:
    query = select(Room).order_by(Room.created_at.desc(), Room.id.desc()).limit(limit)
    if status:
        query = query.where(Room.status == status)
    if host_id:
        query = query.where(Room.host_id == host_id)
    return (await session.scalars(query)).all()


async def change_status(session: AsyncSession, *, room: Room, status: str,
                        now: datetime) -> list[Event]:
    if status not in FORWARD[room.status]:
        raise conflict(f"a {room.status} room cannot become {status}")
    # Conditional on the status we read: of concurrent "go live" calls exactly
    # one wins, the others get 409 (a read-then-write would let all through).
    stamp = {"started_at": now} if status == "live" else {"ended_at": now}
    result = await session.execute(
        update(Room).where(Room.id == room.id, Room.status == room.status)
        .values(status=status, **stamp).execution_options(synchronize_session=False))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise conflict(f"the room is no longer {room.status}")
    room.status = status
    for name, value in stamp.items():
        setattr(room, name, value)
    return [StatusChanged(room.id, status)]


async def set_playback(session: AsyncSession, *, room: Room, kind: str,
                       url: str | None) -> None:
    room.playback_kind = kind
    room.playback_url = url
    await session.flush()


# --- products -----------------------------------------------------------------

async def create_product(session: AsyncSession, *, host_id: str, title: str, price_cents: int,
                         stock: int, image_url: str | None, now: datetime) -> Product:
    product = Product(id=new_id("prod"), host_id=host_id, title=title, price_cents=price_cents,
                      stock=stock, image_url=image_url, created_at=now)
    session.add(product)
    await session.flush()
    return product


async def patch_product(session: AsyncSession, *, product: Product,
                        changes: dict[str, Any]) -> list[Event]:
    """Apply the given fields; rooms showing the product get a fresh shelf/stock."""
    for name, value in changes.items():
        setattr(product, name, value)
    await session.flush()
    events: list[Event] = []
    for room_id in await rooms_showing(session, product.id):
        events.append(ShelfChanged(room_id, await shelf_dicts(session, room_id)))
    return events


async def rooms_showing(session: AsyncSession, product_id: str) -> list[str]:
    rows = await session.scalars(
        select(ShelfItem.room_id).join(Room, Room.id == ShelfItem.room_id)
        .where(ShelfItem.product_id == product_id, Room.status != "ended"))
    return list(rows)


# --- shelf and pin ------------------------------------------------------------

async def shelf_products(session: AsyncSession, room_id: str) -> list[Product]:
    rows = await session.scalars(
        select(Product).join(ShelfItem, ShelfItem.product_id == Product.id)
        .where(ShelfItem.room_id == room_id).order_by(ShelfItem.position))
    return list(rows)


async def shelf_dicts(session: AsyncSession, room_id: str) -> list[dict[str, Any]]:
    return [product_dict(p) for p in await shelf_products(session, room_id)]


async def is_on_shelf(session: AsyncSession, room_id: str, product_id: str) -> bool:
    row = await session.get(ShelfItem, (room_id, product_id))
    return row is not None


async def set_shelf(session: AsyncSession, *, room: Room,
                    product_ids: Sequence[str]) -> tuple[list[Product], list[Event]]:
    seen: set[str] = set()
    bad: list[tuple[str, str]] = []
    for i, pid in enumerate(product_ids):
        if pid in seen:
            bad.append((f"product_ids.{i}", "listed twice"))
        seen.add(pid)
    found = {p.id: p for p in (await session.scalars(
        select(Product).where(Product.id.in_(seen)))).all()} if seen else {}
    for i, pid in enumerate(product_ids):
        p = found.get(pid)
        if p is None:
            bad.append((f"product_ids.{i}", "no such product"))
        elif p.host_id != room.host_id:
            bad.append((f"product_ids.{i}", "not one of your products"))
    if bad:
        raise invalid("the shelf takes your own products, each once", *bad)
    await session.execute(delete(ShelfItem).where(ShelfItem.room_id == room.id))
    session.add_all(ShelfItem(room_id=room.id, product_id=pid, position=i)
                    for i, pid in enumerate(product_ids))
    await session.flush()
    products = [found[pid] for pid in product_ids]
    events: list[Event] = [ShelfChanged(room.id, [product_dict(p) for p in products])]
    if room.pinned_product_id and room.pinned_product_id not in seen:
        room.pinned_product_id = None
        await session.flush()
        events.append(PinChanged(room.id, None))
    return products, events


async def pin_product(session: AsyncSession, *, room: Room,
                      product_id: str | None) -> list[Event]:
    if product_id is None:
        room.pinned_product_id = None
        await session.flush()
        return [PinChanged(room.id, None)]
    if not await is_on_shelf(session, room.id, product_id):
        raise invalid("pin a product that is on the shelf",
                      ("product_id", "not on this room's shelf"))
    product = await get_product(session, product_id)
    room.pinned_product_id = product_id
    await session.flush()
    return [PinChanged(room.id, product_dict(product))]


# --- snapshot part ------------------------------------------------------------

async def snapshot_part(session: AsyncSession, room_id: str) -> dict[str, Any]:
    room = await get_room(session, room_id)
    host = await session.get(Account, room.host_id)
    return {
        "id": room.id,
        "title": room.title,
        "status": room.status,
        "host": {"id": room.host_id, "name": host.name if host else ""},
        "playback": {"kind": room.playback_kind, "url": room.playback_url},
        "shelf": await shelf_dicts(session, room.id),
        "pinned_product_id": room.pinned_product_id,
        "likes": room.likes,
        "scheduled_at": iso(room.scheduled_at),
        "started_at": iso(room.started_at),
        "ended_at": iso(room.ended_at),
    }
