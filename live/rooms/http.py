from __future__ import annotations

from typing import Any

from aiohttp import web

from live import keys
from live.accounts.principal import HOST, Principal
from live.api import Body, Routes
from live.db import transaction
from live.realtime.publish import publish
from live.rooms import service
from live.rooms.schemas import (
    CreateProductIn, CreateRoomIn, PatchProductIn, PinIn, PlaybackUpdateIn, ProductOut,
    RoomOut, RoomsOut, RoomsQuery, RoomStatusIn, ShelfIn, ShelfOut)
from live.snapshot import build_snapshot

routes = Routes(tag="rooms")


async def snapshot_of(app: web.Application, room_id: str) -> dict[str, Any]:
    async with app[keys.SESSIONS]() as session:
        return await build_snapshot(app, session, room_id)


@routes.post("/api/v1/rooms", body=CreateRoomIn, response=RoomOut, status=201, auth=HOST)
async def create_room(request: web.Request, *, principal: Principal,
                      body: Body[CreateRoomIn]) -> dict[str, Any]:
    """Open a room (scheduled); playback defaults to the built-in WebRTC relay."""
    data = await body()
    playback = data.playback
    async with transaction(request.app) as session:
        room = await service.create_room(
            session, host_id=principal.id, title=data.title, scheduled_at=data.scheduled_at,
            playback_kind=playback.kind if playback else "webrtc",
            playback_url=playback.url if playback else None,
            now=request.app[keys.CLOCK].now())
    return await snapshot_of(request.app, room.id)


@routes.get("/api/v1/rooms", query=RoomsQuery, response=RoomsOut)
async def list_rooms(request: web.Request, *, query: RoomsQuery) -> dict[str, Any]:
    """Rooms, newest first; filter by status and host."""
    app = request.app
    async with app[keys.SESSIONS]() as session:
        rooms = await service.list_rooms(session, status=query.status, host_id=query.host_id,
                                         limit=query.limit)
        return {"rooms": [await build_snapshot(app, session, r.id) for r in rooms]}


@routes.get("/api/v1/rooms/{room_id}", response=RoomOut)
async def get_room(request: web.Request) -> dict[str, Any]:
    """The room snapshot."""
    room_id = request.match_info["room_id"]
    async with request.app[keys.SESSIONS]() as session:
        await service.get_room(session, room_id)
    return await snapshot_of(request.app, room_id)


@routes.post("/api/v1/rooms/{room_id}/status", body=RoomStatusIn, response=RoomOut,
             auth=HOST, errors=(409,))
async def change_status(request: web.Request, *, principal: Principal,
                        body: Body[RoomStatusIn]) -> dict[str, Any]:
    """Go live or end; only forward."""
    app = request.app
    async with transaction(app) as session:
        room = await service.room_of_host(session, request.match_info["room_id"], principal)
        data = await body()
        events = await service.change_status(session, room=room, status=data.status,
                                             now=app[keys.CLOCK].now())
        for hook in app[keys.STATUS_HOOKS]:
            events += await hook(session, room, app[keys.CLOCK].now())
    await publish(app, events)
    return await snapshot_of(app, room.id)


@routes.put("/api/v1/rooms/{room_id}/playback", body=PlaybackUpdateIn, response=RoomOut,
            auth=HOST)
async def set_playback(request: web.Request, *, principal: Principal,
                       body: Body[PlaybackUpdateIn]) -> dict[str, Any]:
    """Switch between the built-in relay and an external HLS/WHEP URL (extension)."""
    async with transaction(request.app) as session:
        room = await service.room_of_host(session, request.match_info["room_id"], principal)
        data = await body()
        await service.set_playback(session, room=room, kind=data.playback.kind,
                                   url=data.playback.url)
    return await snapshot_of(request.app, room.id)


@routes.post("/api/v1/products", body=CreateProductIn, response=ProductOut, status=201,
             auth=HOST)
async def create_product(request: web.Request, *, principal: Principal,
                         body: Body[CreateProductIn]) -> dict[str, Any]:
    """Add a product to the host's catalogue."""
    data = await body()
    async with transaction(request.app) as session:
        product = await service.create_product(
            session, host_id=principal.id, title=data.title, price_cents=data.price_cents,
            stock=data.stock, image_url=data.image_url, now=request.app[keys.CLOCK].now())
    return service.product_dict(product)


@routes.get("/api/v1/products/{product_id}", response=ProductOut)
async def get_product(request: web.Request) -> dict[str, Any]:
    """A product."""
    async with request.app[keys.SESSIONS]() as session:
        product = await service.get_product(session, request.match_info["product_id"])
    return service.product_dict(product)


@routes.patch("/api/v1/products/{product_id}", body=PatchProductIn, response=ProductOut,
              auth=HOST)
async def patch_product(request: web.Request, *, principal: Principal,
                        body: Body[PatchProductIn]) -> dict[str, Any]:
    """Change title, price or free stock."""
    async with transaction(request.app) as session:
        product = await service.product_of_host(session, request.match_info["product_id"],
                                                principal)
        data = await body()
        events = await service.patch_product(
            session, product=product, changes=data.model_dump(exclude_unset=True))
    await publish(request.app, events)
    return service.product_dict(product)


@routes.put("/api/v1/rooms/{room_id}/shelf", body=ShelfIn, response=ShelfOut, auth=HOST)
async def set_shelf(request: web.Request, *, principal: Principal,
                    body: Body[ShelfIn]) -> dict[str, Any]:
    """Replace the room's shelf (小黄车), in order."""
    async with transaction(request.app) as session:
        room = await service.room_of_host(session, request.match_info["room_id"], principal)
        data = await body()
        products, events = await service.set_shelf(session, room=room,
                                                   product_ids=data.product_ids)
    await publish(request.app, events)
    return {"shelf": [service.product_dict(p) for p in products]}


@routes.post("/api/v1/rooms/{room_id}/pin", body=PinIn, response=RoomOut, auth=HOST)
async def pin(request: web.Request, *, principal: Principal,
              body: Body[PinIn]) -> dict[str, Any]:
    """Pin the product being presented (讲解中), or unpin with null."""
    async with transaction(request.app) as session:
        room = await service.room_of_host(session, request.match_info["room_id"], principal)
        data = await body()
        events = await service.pin_product(session, room=room, product_id=data.product_id)
    await publish(request.app, events)
    return await snapshot_of(request.app, room.id)
