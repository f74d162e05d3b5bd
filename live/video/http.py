"""WHIP ingest, WHEP playback and stream health (PROTOCOL.md, "Video").

Offers and answers are SDP (`application/sdp`), not JSON: handlers read the
body themselves; `document()` describes them in the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from live import keys
from live.accounts.principal import ANYONE, HOST, Principal
from live.api import Routes
from live.errors import Code, LiveError, not_found
from live.realtime.sio import origin_allowed
from live.rooms import service as rooms
from live.rooms.models import Room
from live.video.hub import MAX_SDP_BYTES, VideoHub, bad_offer
from live.video.schemas import VideoHealthOut

routes = Routes(tag="video")

WHIP = "/api/v1/rooms/{room_id}/whip"
WHEP = "/api/v1/rooms/{room_id}/whep"


async def read_sdp(request: web.Request) -> str:
    if request.content_type != "application/sdp":
        raise bad_offer("Content-Type must be application/sdp")
    if request.content_length is not None and request.content_length > MAX_SDP_BYTES:
        raise LiveError(Code.PAYLOAD_TOO_LARGE, f"an offer over {MAX_SDP_BYTES} bytes")
    raw = await request.read()
    if len(raw) > MAX_SDP_BYTES:
        raise LiveError(Code.PAYLOAD_TOO_LARGE, f"an offer over {MAX_SDP_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_offer("the offer is not UTF-8 text") from None


def _link_header(hub: VideoHub) -> str | None:
    """RFC 9725 §4.6: the ICE servers, as `Link: <url>; rel="ice-server"`."""
    links = []
    for server in hub.ice_servers:
        urls = server.urls if isinstance(server.urls, list) else [server.urls]
        for url in urls:
            link = f'<{url}>; rel="ice-server"'
            if server.username:
                link += (f'; username="{server.username}"; credential="{server.credential}"'
                         '; credential-type="password"')
            links.append(link)
    return ", ".join(links) or None


def sdp_answer(hub: VideoHub, sdp: str, location: str) -> web.Response:
    headers = {"Location": location}
    if (link := _link_header(hub)) is not None:
        headers["Link"] = link
    return web.Response(text=sdp, status=201, content_type="application/sdp", headers=headers)


async def _room(request: web.Request) -> Room:
    async with request.app[keys.SESSIONS]() as session:
        return await rooms.get_room(session, request.match_info["room_id"])


async def _host_room(request: web.Request, principal: Principal) -> Room:
    async with request.app[keys.SESSIONS]() as session:
        return await rooms.room_of_host(session, request.match_info["room_id"], principal)


@routes.post(WHIP, auth=HOST, status=201, errors=(400, 409))
async def whip(request: web.Request, *, principal: Principal) -> web.Response:
    """Publish the room's camera and microphone (WHIP, RFC 9725): SDP offer → answer."""
    room = await _host_room(request, principal)
    offer = await read_sdp(request)
    if room.status == "ended":
        raise LiveError(Code.ROOM_NOT_LIVE, "the room has ended")
    hub = request.app[keys.VIDEO]
    s, answer = await hub.publish(room.id, principal.id, offer)
    return sdp_answer(hub, answer, f"{WHIP.format(room_id=room.id)}/{s.id}")


@routes.post(WHEP, auth=ANYONE, status=201, errors=(400, 409, 503))
async def whep(request: web.Request, *, principal: Principal) -> web.Response:
    """Watch the room through the built-in relay (WHEP): SDP offer → answer."""
    room = await _room(request)
    offer = await read_sdp(request)
    hub = request.app[keys.VIDEO]
    s, answer = await hub.play(room.id, principal.id, offer)
    return sdp_answer(hub, answer, f"{WHEP.format(room_id=room.id)}/{s.id}")


async def _end(request: web.Request, principal: Principal, kind: str) -> dict[str, Any]:
    hub = request.app[keys.VIDEO]
    s = hub.find(request.match_info["session_id"], kind=kind,
                 room_id=request.match_info["room_id"])
    if s is None:
        raise not_found(f"{kind} session")
    if s.owner_id != principal.id:
        raise LiveError(Code.FORBIDDEN, "this session was started with another token")
    await hub.end_session(s, "ended by the client")
    return {}


@routes.delete(WHIP + "/{session_id}", auth=ANYONE)
async def end_whip(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Stop publishing (DELETE the WHIP session's Location, same token)."""
    return await _end(request, principal, "whip")


@routes.delete(WHEP + "/{session_id}", auth=ANYONE)
async def end_whep(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Stop watching (DELETE the WHEP session's Location, same token)."""
    return await _end(request, principal, "whep")


@routes.get("/api/v1/rooms/{room_id}/video", auth=HOST, response=VideoHealthOut)
async def video_health(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Stream health for the console: publish state, size, frame rate, bitrate, viewers."""
    room = await _host_room(request, principal)
    return request.app[keys.VIDEO].health(room.id)


# --- CORS ---------------------------------------------------------------------
# A player on another origin may use this server as its external WHEP server
# (a room elsewhere whose playback names our /whep URL), and a console on
# another origin may publish here: browsers then need CORS on the WHIP/WHEP
# endpoints and their session locations, error answers included (the player
# reads `not_running`). Origins as for Socket.IO: LIVE_ALLOWED_ORIGINS (and
# localhost on any port by default), never `*`. Tokens are bearer headers,
# not cookies, so no credentials mode.

def _cors_origin(request: web.Request) -> str | None:
    if not request.path.startswith("/api/v1/rooms/") or not (
            "/whip" in request.path or "/whep" in request.path):
        return None
    origin = request.headers.get("Origin")
    if not origin:
        return None
    settings = request.app[keys.SETTINGS]
    origins = tuple(o.rstrip("/") for o in settings.allowed_origins)
    environ = {"HTTP_HOST": request.host, "wsgi.url_scheme": request.scheme}
    return origin if origin_allowed(origins, origin, environ) else None


async def _add_cors(request: web.Request, response: web.StreamResponse) -> None:
    if (origin := _cors_origin(request)) is None:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = "Location, Link"
    if "Origin" not in response.headers.getall("Vary", []):  # a forwarded answer has it
        response.headers.add("Vary", "Origin")


async def preflight(request: web.Request) -> web.Response:
    headers = {"Allow": "POST, DELETE, PATCH, OPTIONS"}
    if _cors_origin(request) is not None:
        headers.update({
            "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
            "Access-Control-Max-Age": "600"})
    return web.Response(status=204, headers=headers)


# --- wiring -------------------------------------------------------------------

def setup(app: web.Application) -> None:
    """Called by create_app after the routes are installed."""
    settings = app[keys.SETTINGS]
    hub = VideoHub(max_viewers=settings.webrtc_max_viewers, ice_servers=settings.ice_servers)
    app[keys.VIDEO] = hub
    for path in (WHIP, WHEP, WHIP + "/{session_id}", WHEP + "/{session_id}"):
        app.router.add_route("OPTIONS", path, preflight)
    app.on_response_prepare.append(_add_cors)

    async def end_video_with_room(session: Any, room: Room, now: Any) -> list[Any]:
        if room.status == "ended":
            hub.end_room(room.id)  # closes in the background, not in the transaction
        return []

    app[keys.STATUS_HOOKS].append(end_video_with_room)
    app.cleanup_ctx.append(video_ctx)


async def video_ctx(app: web.Application) -> AsyncIterator[None]:
    hub = app[keys.VIDEO]
    sweeper = asyncio.create_task(hub.run())
    yield
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
    await hub.close()


_SDP_BODY = {"application/sdp": {"schema": {"type": "string"}}}


def document(doc: dict[str, Any]) -> None:
    """Give the SDP endpoints their real bodies in the OpenAPI document."""
    for path in (WHIP, WHEP):
        op = doc["paths"].get(path, {}).get("post")
        if op is None:
            continue
        op["requestBody"] = {"required": True, "content": _SDP_BODY,
                             "description": "an SDP offer"}
        op["responses"]["201"] = {
            "description": "the SDP answer; Location names the session (DELETE it to end)",
            "headers": {"Location": {"schema": {"type": "string"}},
                        "Link": {"schema": {"type": "string"},
                                 "description": 'ICE servers, rel="ice-server"'}},
            "content": _SDP_BODY}
