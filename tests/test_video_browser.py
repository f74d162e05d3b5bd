"""A real Chromium publishes its fake camera over WHIP; another page plays it.

Runs Debian's Chromium (`/usr/bin/chromium`, never a downloaded browser);
skipped when it or Playwright is missing, failed under CI=true.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from live.app import create_app
from live.settings import Settings
from tests.conftest import unavailable
from tests.helpers import Api
from tests.live_server import serve_in_subprocess
from tests.video_clients import AudioStreamTrack, SyntheticVideo, whip, write_hls

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("LIVE_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
         "--autoplay-policy=no-user-gesture-required"]
PAGE = Path(__file__).resolve().parent / "pages" / "video.html"


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240
        unavailable(f"Chromium at {CHROMIUM}")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        await b.close()


async def serve(settings: Settings, aiohttp_client: Any) -> tuple[TestServer, Api]:
    app = create_app(settings)

    async def test_page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE)

    app.router.add_get("/test/video.html", test_page)
    client = await aiohttp_client(TestServer(app, host="127.0.0.1"))
    return client.server, Api(client)


async def open_page(browser: Any, url: str) -> Any:
    page = await browser.new_page()
    page.on("console", lambda m: print("page:", m.type, m.text))
    await page.goto(url)
    await page.wait_for_function("window.ready === true", timeout=10_000)
    return page


PLAY = """([roomId, token]) => {
  const v = document.getElementById("v");
  window.player = window.video.play(roomId, token, v, {
    retryMs: 500, onstate: (s, d) => window.states.push(s)});
}"""

# Per kind, the stats of the given type on the publisher's (window.pub) or
# the player's newest peer connection.
RTP_STATS = """async ([type, who]) => {
  const pc = who === "pub" ? window.pub.pc : window.pcs[window.pcs.length - 1];
  const out = {};
  for (const s of (await pc.getStats()).values())
    if (s.type === type) out[s.kind] = {
      packetsReceived: s.packetsReceived, bytesReceived: s.bytesReceived,
      bytesSent: s.bytesSent, totalAudioEnergy: s.totalAudioEnergy,
      totalSamplesReceived: s.totalSamplesReceived, concealedSamples: s.concealedSamples,
      audioLevel: s.audioLevel};
  return out;
}"""

MOVING = """async () => {
  const v = document.getElementById("v");
  const t0 = v.currentTime;
  await new Promise((r) => setTimeout(r, 1500));
  return {w: v.videoWidth, h: v.videoHeight, t0, t1: v.currentTime};
}"""


async def test_browser_publishes_fake_camera_and_another_page_plays_it(
        settings: Settings, aiohttp_client: Any, browser: Any) -> None:
    server, api = await serve(settings, aiohttp_client)
    host = await api.host()
    room = await api.room(host)
    viewer = await api.viewer()
    base = str(server.make_url("")).rstrip("/")

    console = await open_page(browser, f"{base}/test/video.html")
    location = await console.evaluate("""async ([roomId, token]) => {
      const stream = await navigator.mediaDevices.getUserMedia(
        {video: {width: 640, height: 360}, audio: true});
      window.pub = await window.video.publish(roomId, token, stream);
      return window.pub.location;
    }""", [room["id"], host.token])
    assert f"/api/v1/rooms/{room['id']}/whip/" in location

    player = await open_page(browser, f"{base}/test/video.html")
    await player.evaluate(PLAY, [room["id"], viewer.token])
    await player.wait_for_function(
        "document.getElementById('v').videoWidth > 0", timeout=30_000)
    seen = await player.evaluate(MOVING)
    assert seen["w"] > 0 and seen["h"] > 0, seen
    assert seen["t1"] > seen["t0"], seen
    assert "playing" in await player.evaluate("window.states")

    h = await api.get(f"/api/v1/rooms/{room['id']}/video", token=host.token)
    assert h["publishing"] is True and h["viewers"] == 1 and h["width"], h.body

    # Sound: the console sends the fake microphone's beep and the player
    # receives an audio track with packets and (non-silent) energy.
    # Chromium measures received audio energy at playout: unmute, as a tap would.
    await player.evaluate("document.getElementById('v').muted = false")
    sent = await console.evaluate(RTP_STATS, ["outbound-rtp", "pub"])
    assert sent["audio"]["bytesSent"] > 0, sent
    # The beep is intermittent: wait (up to ~30 s) until some has been played out.
    for _ in range(60):
        got = await player.evaluate(RTP_STATS, ["inbound-rtp", "player"])
        if (got.get("audio") or {}).get("totalAudioEnergy"):
            break
        await asyncio.sleep(0.5)
    got = await player.evaluate(RTP_STATS, ["inbound-rtp", "player"])
    audio = got["audio"]
    assert audio["packetsReceived"] > 0 and audio["bytesReceived"] > 0, got
    assert audio["totalAudioEnergy"] > 0, got  # the beep, not silence
    assert await player.evaluate(
        "document.getElementById('v').srcObject.getAudioTracks().length") == 1

    await console.evaluate("window.pub.stop()")
    h = await api.get(f"/api/v1/rooms/{room['id']}/video", token=host.token)
    assert h["publishing"] is False
    await player.wait_for_function(
        "window.states.includes('waiting')", timeout=30_000)
    await player.evaluate("window.player.stop()")


# --- the large-audience path: playback from an external server -----------------

PLAY_EXTERNAL = """([roomId, token, externalToken]) => {
  const v = document.getElementById("v");
  window.player = window.video.play(roomId, token, v, {
    retryMs: 500, externalToken,
    onstate: (s, d) => { window.states.push(s); window.details.push(d || {}); }});
}"""


async def test_player_plays_an_external_whep_server_in_another_process(
        settings: Settings, aiohttp_client: Any, browser: Any, tmp_path: Path) -> None:
    """A second `live` process stands in for the SFU (MediaMTX, SRS): the host
    publishes there, our room's playback names its WHEP URL, and the player
    served by our server plays it cross-origin (CORS) without our relay."""
    server, api = await serve(settings, aiohttp_client)
    base = str(server.make_url("")).rstrip("/")
    sfu_dir = tmp_path / "sfu"
    sfu_dir.mkdir()
    with serve_in_subprocess(sfu_dir) as sfu:
        async with aiohttp.ClientSession() as http:
            async def call(method: str, path: str, body: Any = None,
                           token: str | None = None) -> Any:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with http.request(method, sfu + path, json=body, headers=headers) as r:
                    assert r.status in (200, 201), await r.text()
                    return await r.json()

            sfu_host = (await call("POST", "/api/v1/accounts", {
                "name": "sfu-host", "password": "password-123", "role": "host"}))["token"]
            sfu_room = (await call("POST", "/api/v1/rooms", {"title": "SFU"}, sfu_host))["id"]
            await call("POST", f"/api/v1/rooms/{sfu_room}/status", {"status": "live"}, sfu_host)
            sfu_viewer = (await call("POST", "/api/v1/viewers", {"nickname": "外部"}))["token"]
            pub = await whip(http, sfu, sfu_room, sfu_host, SyntheticVideo(320, 240, fps=15),
                             AudioStreamTrack())
            assert pub.status == 201, pub.body
            external = f"{sfu}/api/v1/rooms/{sfu_room}/whep"
            assert urlsplit(external).port != urlsplit(base).port  # another origin

            host = await api.host()
            room = await api.room(host)
            r = await api.put(f"/api/v1/rooms/{room['id']}/playback",
                              {"playback": {"kind": "whep", "url": external}}, token=host.token)
            assert r.status == 200, r.body
            viewer = await api.viewer()

            player = await open_page(browser, f"{base}/test/video.html")
            await player.evaluate(PLAY_EXTERNAL, [room["id"], viewer.token, sfu_viewer])
            await player.wait_for_function(
                "document.getElementById('v').videoWidth > 0", timeout=30_000)
            seen = await player.evaluate(MOVING)
            assert (seen["w"], seen["h"]) == (320, 240), seen
            assert seen["t1"] > seen["t0"], seen
            states = await player.evaluate("window.states")
            assert "playing" in states, states
            details = await player.evaluate("window.details")
            assert {"kind": "whep", "url": external} in details, details

            # The media came from the external server; our relay stayed idle.
            health = await call("GET", f"/api/v1/rooms/{sfu_room}/video", token=sfu_host)
            assert health["publishing"] is True and health["viewers"] == 1, health
            ours = await api.get(f"/api/v1/rooms/{room['id']}/video", token=host.token)
            assert ours["publishing"] is False and ours["viewers"] == 0
            # Stopping ends the session there (a cross-origin DELETE).
            await player.evaluate("window.player.stop()")
            for _ in range(100):
                health = await call("GET", f"/api/v1/rooms/{sfu_room}/video", token=sfu_host)
                if health["viewers"] == 0:
                    break
                await asyncio.sleep(0.1)
            assert health["viewers"] == 0, health
            await pub.pc.close()


@pytest.fixture
async def hls_origin(tmp_path: Path, aiohttp_client: Any) -> str:
    """A real HLS stream (PyAV/libx264 segments) on its own origin, served with
    CORS as a CDN would."""
    stream = tmp_path / "hls"
    stream.mkdir()
    write_hls(stream, seconds=8)

    @web.middleware
    async def cors(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    cdn = web.Application(middlewares=[cors])
    cdn.router.add_static("/live/", stream)
    client = await aiohttp_client(TestServer(cdn, host="127.0.0.1"))
    return str(client.make_url("/live/index.m3u8"))


# Chromium 156 plays HLS itself (canPlayType says "maybe"); browsers that do
# not (Firefox, older Chromium) take video.js's hls.js path. Hide native HLS
# to exercise that path too.
NO_NATIVE_HLS = """(() => {
  const can = HTMLMediaElement.prototype.canPlayType;
  HTMLMediaElement.prototype.canPlayType = function (type) {
    return /mpegurl/i.test(type) ? "" : can.call(this, type);
  };
})();"""


@pytest.mark.parametrize("native", [True, False], ids=["native-hls", "hls.js"])
async def test_player_plays_an_external_hls_stream(
        settings: Settings, aiohttp_client: Any, browser: Any, hls_origin: str,
        native: bool) -> None:
    server, api = await serve(settings, aiohttp_client)
    base = str(server.make_url("")).rstrip("/")
    host = await api.host()
    room = await api.room(host)
    r = await api.put(f"/api/v1/rooms/{room['id']}/playback",
                      {"playback": {"kind": "hls", "url": hls_origin}}, token=host.token)
    assert r.status == 200, r.body
    viewer = await api.viewer()

    page = await browser.new_page()
    page.on("console", lambda m: print("page:", m.type, m.text))
    if not native:
        await page.add_init_script(NO_NATIVE_HLS)
    await page.goto(f"{base}/test/video.html")
    await page.wait_for_function("window.ready === true", timeout=10_000)
    await page.evaluate(PLAY_EXTERNAL, [room["id"], viewer.token, None])
    await page.wait_for_function(
        "document.getElementById('v').videoWidth > 0", timeout=30_000)
    seen = await page.evaluate(MOVING)
    assert (seen["w"], seen["h"]) == (320, 240), seen
    assert seen["t1"] > seen["t0"], seen
    details = await page.evaluate("window.details")
    assert {"kind": "hls", "native": native} in details, details
    assert "error" not in await page.evaluate("window.states")
    await page.evaluate("window.player.stop()")
    await page.close()
