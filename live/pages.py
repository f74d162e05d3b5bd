"""The three faces as pages: plain HTML files from `static/`, no build step.

`/` live rooms, `/console` host console, `/watch/{room_id}` viewer player,
`/embed/{room_id}` the player for an iframe, `/leader` 团长 pages, and
`/static/embed.js`, which adds the player to any page as an iframe served
from the script's own origin.

The pages are the same files whatever the room: they read the room id from
the path and talk to the public API like any other client.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

# Pages are HTML shells; their data comes from the API, so a browser may keep
# them only briefly (a deploy shows up at the next load).
_NO_STORE = {"Cache-Control": "no-cache"}
_CSP = ("default-src 'self'; img-src 'self' data: blob: https: http:; "
        "media-src 'self' blob: https: http:; connect-src 'self' ws: wss: https: http:; "
        "style-src 'self' 'unsafe-inline'; script-src 'self'")


def add_page_routes(app: web.Application, static_dir: Path) -> None:
    """Register the page routes. Call before `add_static` so `/static/embed.js`
    is served by its own handler (with the headers a cross-origin embed needs)."""

    def page(name: str, *, frameable: bool = False) -> web.Response:
        path = static_dir / name
        headers = dict(_NO_STORE)
        headers["Content-Security-Policy"] = _CSP + ("" if frameable else
                                                     "; frame-ancestors 'self'")
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        if not frameable:
            headers["X-Frame-Options"] = "SAMEORIGIN"
        return web.Response(body=path.read_bytes(), content_type="text/html",
                            charset="utf-8", headers=headers)

    async def index(request: web.Request) -> web.Response:
        return page("index.html")

    async def console(request: web.Request) -> web.Response:
        return page("console.html")

    async def watch(request: web.Request) -> web.Response:
        return page("watch.html")

    async def embed(request: web.Request) -> web.Response:
        # The same player; the page sees `/embed/` in its path and drops the
        # chrome a host page already has. Any site may frame it.
        return page("watch.html", frameable=True)

    async def leader(request: web.Request) -> web.Response:
        return page("leader.html")

    async def embed_js(request: web.Request) -> web.Response:
        return web.Response(
            body=(static_dir / "embed.js").read_bytes(), content_type="text/javascript",
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=300",
                     "Access-Control-Allow-Origin": "*",
                     "Cross-Origin-Resource-Policy": "cross-origin"})

    app.router.add_get("/", index, name="page_index")
    app.router.add_get("/console", console, name="page_console")
    app.router.add_get("/watch/{room_id}", watch, name="page_watch")
    app.router.add_get("/embed/{room_id}", embed, name="page_embed")
    app.router.add_get("/leader", leader, name="page_leader")
    app.router.add_get("/static/embed.js", embed_js, name="embed_js")
