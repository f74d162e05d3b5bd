"""The page routes serve the static faces with the right headers."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient


@pytest.mark.parametrize("path, marker", [
    ("/", "index.js"), ("/console", "console.js"), ("/leader", "leader.js"),
    ("/watch/room_x", "watch.js"), ("/embed/room_x", "watch.js")])
async def test_pages_are_html_shells_that_load_their_module(
        client: TestClient, path: str, marker: str) -> None:  # type: ignore[type-arg]
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.content_type == "text/html"
    text = await resp.text()
    assert f'<script type="module" src="/static/js/{marker}">' in text
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


async def test_only_the_embed_player_may_be_framed_by_other_sites(
        client: TestClient) -> None:  # type: ignore[type-arg]
    watch = await client.get("/watch/room_x")
    assert watch.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in watch.headers["Content-Security-Policy"]
    embed = await client.get("/embed/room_x")
    assert "X-Frame-Options" not in embed.headers
    assert "frame-ancestors" not in embed.headers["Content-Security-Policy"]


async def test_embed_script_is_loadable_from_any_origin(
        client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get("/static/embed.js", headers={"Origin": "https://shop.example"})
    assert resp.status == 200
    assert resp.content_type == "text/javascript"
    assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "data-live-room" in await resp.text()


async def test_vendored_browser_code_ships_with_its_licence(
        client: TestClient) -> None:  # type: ignore[type-arg]
    lib = await client.get("/static/vendor/socket.io-client/socket.io.esm.min.js")
    assert lib.status == 200
    licence = await client.get("/static/vendor/socket.io-client/LICENSE")
    assert "MIT License" in await licence.text()
