"""Each face loads in a real browser, in both languages, without script errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Http, shot


@contextmanager
def third_party_site(html: str) -> Iterator[str]:
    """Another origin (same loopback, another port) serving one page."""
    body = html.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def arrange_room(http: Http, *, live: bool = True) -> dict[str, Any]:
    status, host = http.call("POST", "/api/v1/accounts", {
        "name": "鲜果团方", "password": "password-123", "role": "host"})
    assert status == 201, host
    token = host["token"]
    ids = []
    for title, price, stock, img in [("赣南脐橙 5斤装", 3990, 200, "/static/demo/orange.svg"),
                                     ("云南高山蓝莓 4盒", 5990, 120, "/static/demo/blueberry.svg")]:
        status, p = http.call("POST", "/api/v1/products", {
            "title": title, "price_cents": price, "stock": stock, "image_url": img}, token)
        assert status == 201, p
        ids.append(p["id"])
    status, room = http.call("POST", "/api/v1/rooms", {"title": "鲜果秒杀专场"}, token)
    assert status == 201, room
    http.call("PUT", f"/api/v1/rooms/{room['id']}/shelf", {"product_ids": ids}, token)
    http.call("POST", f"/api/v1/rooms/{room['id']}/pin", {"product_id": ids[0]}, token)
    if live:
        http.call("POST", f"/api/v1/rooms/{room['id']}/status", {"status": "live"}, token)
    return {"room": room, "token": token, "products": ids, "host": host["account"]}


def test_viewer_page_shows_the_pinned_product_with_its_price(
        new_page: Callable[..., Any], http: Http) -> None:
    a = arrange_room(http)
    page = new_page(PHONE, mobile=True)
    page.goto(f"/watch/{a['room']['id']}")
    expect(page.locator("#pinned")).to_contain_text("赣南脐橙 5斤装")
    expect(page.locator("#pinned")).to_contain_text("¥39.90")
    expect(page.locator("#pinned")).to_contain_text("讲解中")
    expect(page.locator("#live-badge")).to_have_text("直播中")
    expect(page.locator("#shelf-count")).to_have_text("2")
    page.click("#open-shelf")
    expect(page.locator("#tab-shelf .item")).to_have_count(2)
    expect(page.locator("#tab-shelf")).to_contain_text("¥59.90")
    shot(page, "viewer-shelf-phone")


def test_viewer_page_speaks_english_with_lang_en(new_page: Callable[..., Any], http: Http) -> None:
    a = arrange_room(http)
    page = new_page(PHONE, mobile=True)
    page.goto(f"/watch/{a['room']['id']}?lang=en")
    expect(page.locator("#live-badge")).to_have_text("LIVE")
    expect(page.locator("#pinned")).to_contain_text("Now")
    expect(page.locator("#chat-input")).to_have_attribute("placeholder", "Say something…")
    assert page.evaluate("document.documentElement.lang") == "en"


def test_viewer_is_a_silent_guest_that_keeps_its_token(
        new_page: Callable[..., Any], http: Http) -> None:
    a = arrange_room(http)
    page = new_page(PHONE, mobile=True)
    page.goto(f"/watch/{a['room']['id']}")
    expect(page.locator("#pinned")).to_be_visible()
    first = page.evaluate("JSON.parse(localStorage.getItem('live.viewer')).token")
    page.reload()
    expect(page.locator("#pinned")).to_be_visible()
    assert page.evaluate("JSON.parse(localStorage.getItem('live.viewer')).token") == first
    status, me = http.call("GET", "/api/v1/me", token=first)
    assert status == 200 and "viewer" in me


def test_embed_script_adds_an_iframe_from_its_own_origin(
        new_page: Callable[..., Any], http: Http, server: str) -> None:
    a = arrange_room(http)
    page = new_page(DESKTOP)
    # A third-party page on another origin that embeds the room.
    html = (f'<!doctype html><meta charset="utf-8"><h1>团购群主页</h1>'
            f'<div data-live-room="{a["room"]["id"]}"></div>'
            f'<script src="{server}/static/embed.js" async></script>')
    with third_party_site(html) as site:
        page.goto(f"{site}/group")
        run_embed_checks(page, server, a)


def run_embed_checks(page: Any, server: str, a: dict[str, Any]) -> None:
    frame = page.locator("iframe")
    expect(frame).to_have_count(1)
    assert frame.get_attribute("src") == f"{server}/embed/{a['room']['id']}"
    inner = page.frame_locator("iframe")
    expect(inner.locator("#pinned")).to_contain_text("赣南脐橙")
    shot(page, "embed-desktop")


def test_room_list_links_to_live_rooms(new_page: Callable[..., Any], http: Http) -> None:
    a = arrange_room(http)
    page = new_page(DESKTOP)
    page.goto("/")
    card = page.locator(f'a.rcard[data-room-id="{a["room"]["id"]}"]')
    expect(card).to_contain_text("鲜果秒杀专场")
    shot(page, "rooms-desktop")
    card.click()
    expect(page).to_have_url(f"{http.base}/watch/{a['room']['id']}")


def test_console_signs_in_and_lists_the_hosts_rooms(
        new_page: Callable[..., Any], http: Http) -> None:
    a = arrange_room(http)
    page = new_page(DESKTOP)
    page.goto("/console")
    page.fill("#signin-form input[name=name]", "鲜果团方")
    page.fill("#signin-form input[name=password]", "wrong-password")
    page.click("#signin-form button[type=submit]")
    expect(page.locator(".toast")).to_contain_text("账号或密码不正确")
    page.fill("#signin-form input[name=password]", "password-123")
    page.click("#signin-form button[type=submit]")
    expect(page.locator(f'.room-item[data-room-id="{a["room"]["id"]}"]')).to_contain_text("鲜果秒杀专场")
    expect(page.locator("#shelf .shelf-row")).to_have_count(2)
    assert page.evaluate("localStorage.getItem('live.host.token')")
    page.reload()  # the token is kept
    expect(page.locator("#shelf .shelf-row")).to_have_count(2)


def test_leader_page_signs_in_only_leaders_and_signs_out(
        new_page: Callable[..., Any], http: Http) -> None:
    status, host = http.call("POST", "/api/v1/accounts", {
        "name": "鲜果团方", "password": "password-123", "role": "host"})
    assert status == 201, host
    _, me = http.call("GET", "/api/v1/me", token=host["token"])
    status, _ = http.call("POST", "/api/v1/accounts", {
        "name": "王姐团长", "password": "password-123", "role": "leader",
        "invite_code": me["invite_code"]})
    assert status == 201
    page = new_page(DESKTOP)
    page.goto("/leader")
    page.fill("#signin-form input[name=name]", "鲜果团方")  # a host, on the 团长 page
    page.fill("#signin-form input[name=password]", "password-123")
    page.click("#signin-form button[type=submit]")
    expect(page.locator(".toast")).to_contain_text("这是团方账号，请到主播中控台登录")
    assert page.evaluate("localStorage.getItem('live.leader.token')") is None
    page.click("#tab-signup")
    page.fill("#signup-form input[name=name]", "新团长")
    page.fill("#signup-form input[name=password]", "password-123")
    page.fill("#signup-form input[name=invite_code]", "NOPE-NOPE")
    page.click("#signup-form button[type=submit]")
    expect(page.locator(".toast").last).to_contain_text("邀请码无效")
    page.click("#tab-signin")
    page.fill("#signin-form input[name=name]", "王姐团长")
    page.fill("#signin-form input[name=password]", "password-123")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    assert page.evaluate("localStorage.getItem('live.leader.token')")
    shot(page, "leader-signed-in")
    token = page.evaluate("localStorage.getItem('live.leader.token')")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/sessions")
                              and r.request.method == "DELETE") as signed_out:
        page.click("#signout")
    assert signed_out.value.status == 204
    expect(page.locator("#auth")).to_be_visible()
    assert page.evaluate("localStorage.getItem('live.leader.token')") is None
    # the token no longer works on the server either
    assert page.evaluate("""async (token) => (await fetch('/api/v1/me',
        {headers: {Authorization: 'Bearer ' + token}})).status""", token) == 401
