"""The console and the player when the publisher goes away, in a real Chromium.

The host publishes Chromium's fake camera from the real console page and a
viewer watches on the real /watch page. The publisher is then cut off twice:
by the server (the host's session ended from another device), which the
console must show; and by the console tab vanishing, which the server must
notice by itself. Each time the viewer's player loses the video, and it picks
the next broadcast up without a reload. And the /watch page plays a room whose
playback is an external HLS stream.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Http, shot
from tests.video_clients import write_hls

VIDEO_PLAYS = """() => { const v = document.querySelector('#video');
  return document.body.classList.contains('has-video') && v.videoWidth > 0
    && v.currentTime > 0; }"""
VIDEO_GONE = "() => !document.body.classList.contains('has-video')"
WATCH_TOASTS = """() => { window.__toasts = [];
  new MutationObserver(() => document.querySelectorAll('.toast').forEach((t) => {
    if (!window.__toasts.includes(t.textContent)) window.__toasts.push(t.textContent);
  })).observe(document.body, {childList: true, subtree: true}); }"""


def go_live_and_publish(host: Any) -> str:
    host.goto("/console")
    host.click("#to-signup")
    host.fill("#signup-form input[name=name]", "断流测试团方")
    host.fill("#signup-form input[name=password]", "password-123")
    host.click("#signup-form button[type=submit]")
    expect(host.locator("#me-name")).to_have_text("断流测试团方")
    host.fill("#new-room input[name=title]", "断流测试")
    host.click("#new-room button[type=submit]")
    expect(host.locator("#rv-title")).to_have_text("断流测试")
    host.click("#go-live")
    expect(host.locator("#rv-status")).to_have_text("直播中")
    publish(host)
    return str(host.evaluate("window.__console.room.id"))


def publish(host: Any) -> None:
    host.click("#publish")
    expect(host.locator("#pub-state")).to_have_text("推流中", timeout=30000)


def health(http: Http, room_id: str, token: str) -> dict[str, Any]:
    status, body = http.call("GET", f"/api/v1/rooms/{room_id}/video", token=token)
    assert status == 200, body
    return dict(body)


def test_console_shows_a_dropped_publisher_and_the_player_follows_the_broadcast(
        new_page: Callable[..., Any], http: Http) -> None:
    host = new_page(DESKTOP)
    room_id = go_live_and_publish(host)
    token = host.evaluate("window.__console.token")
    viewer = new_page(PHONE, mobile=True)
    viewer.goto(f"/watch/{room_id}")
    viewer.wait_for_function(VIDEO_PLAYS, timeout=60000)
    assert health(http, room_id, token)["viewers"] == 1

    # The server ends the host's session (the host stopped it from another
    # device): the console says the stream dropped and offers to publish again.
    host.evaluate(WATCH_TOASTS)
    location = host.evaluate("window.__console.publisher.location")
    path = "/" + location.split("/", 3)[3]
    assert http.call("DELETE", path, token=token)[0] == 200
    expect(host.locator("#pub-state")).to_have_text("未推流", timeout=30000)
    expect(host.locator("#publish")).to_be_visible()
    assert "推流已断开" in host.evaluate("window.__toasts")
    shot(host, "video-console-publisher-dropped")
    viewer.wait_for_function(VIDEO_GONE, timeout=60000)
    assert health(http, room_id, token)["publishing"] is False

    # Publishing again: the player, still open, plays the new broadcast.
    publish(host)
    viewer.wait_for_function(VIDEO_PLAYS, timeout=60000)

    # The console tab vanishes without a word (no DELETE): the server notices
    # the dead connection or the missing media, and the player loses the video.
    host.close()
    viewer.wait_for_function(VIDEO_GONE, timeout=90000)
    shot(viewer, "video-watch-publisher-gone")
    assert health(http, room_id, token)["publishing"] is False


@pytest.fixture
def hls_url(tmp_path: Path) -> Iterator[str]:
    """A real HLS stream (PyAV/libx264) on another origin, with CORS like a CDN."""
    stream = tmp_path / "hls"
    stream.mkdir()
    write_hls(stream, seconds=8)

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(stream), **kwargs)

        def end_headers(self) -> None:
            self.send_header("Access-Control-Allow-Origin", "*")
            super().end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/index.m3u8"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_watch_page_plays_the_rooms_external_hls_stream(
        new_page: Callable[..., Any], http: Http, hls_url: str) -> None:
    status, signed = http.call("POST", "/api/v1/accounts", {
        "name": "hls-host", "password": "password-123", "role": "host"})
    assert status == 201, signed
    token = signed["token"]
    status, room = http.call("POST", "/api/v1/rooms", {"title": "HLS 专场"}, token=token)
    assert status == 201, room
    assert http.call("POST", f"/api/v1/rooms/{room['id']}/status", {"status": "live"},
                     token=token)[0] == 200
    status, body = http.call("PUT", f"/api/v1/rooms/{room['id']}/playback",
                             {"playback": {"kind": "hls", "url": hls_url}}, token=token)
    assert status == 200, body
    viewer = new_page(PHONE, mobile=True)
    viewer.goto(f"/watch/{room['id']}")
    viewer.wait_for_function(VIDEO_PLAYS, timeout=60000)
    t0 = viewer.evaluate("document.querySelector('#video').currentTime")
    viewer.wait_for_function(
        f"() => document.querySelector('#video').currentTime > {t0}", timeout=30000)
    assert viewer.evaluate("document.querySelector('#video').videoWidth") == 320
    assert viewer.evaluate("document.querySelector('#video').currentSrc") == hls_url
    shot(viewer, "video-watch-external-hls")
    # our relay was never involved
    assert http.call("GET", f"/api/v1/rooms/{room['id']}/video",
                     token=token)[1]["publishing"] is False
