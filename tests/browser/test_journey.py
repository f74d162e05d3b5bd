"""The whole journey, clicked through in a real Chromium.

A host signs up, creates a room and products, reorders the shelf, pins a
product, goes live and turns on the fake camera (and publishes over WHIP); a
团长 signs up with the host's invite code and makes a share link; a viewer on a
phone opens the room through it, sees the product, chats (the host sees it,
as text even when it looks like HTML), a flash sale starts with a countdown,
the viewer buys and pays; the host's dashboard shows the order and GMV; the
团长 sees the frozen commission.

The domains land in parallel, so each step that needs an API runs when the
server offers it (read from its OpenAPI document and Socket.IO endpoint); the
steps run are written to `test-artifacts/journey-steps.txt`. Once everything
has landed every step runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, DESKTOP, PHONE, Http, shot

HTML_CHAT = '<b>你好</b><img src=x onerror="window.__xss=1">'


def test_host_viewer_and_leader_journey(new_page: Callable[..., Any], http: Http) -> None:
    has = {
        "realtime": http.socketio(),
        "video": http.has("POST", "/api/v1/rooms/{id}/whip") and http.exists("/static/js/video.js"),
        "share": http.has("POST", "/api/v1/rooms/{id}/share-links"),
        "flash": http.has("POST", "/api/v1/rooms/{id}/flash-sales"),
        "orders": http.has("POST", "/api/v1/orders"),
        "stats": http.has("GET", "/api/v1/rooms/{id}/stats"),
        "commission": http.has("GET", "/api/v1/me/commissions"),
    }
    steps: list[str] = []

    def step(name: str) -> None:
        steps.append(name)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "journey-steps.txt").write_text(
            "available: " + ", ".join(k for k, v in has.items() if v) + "\n"
            + "missing: " + ", ".join(k for k, v in has.items() if not v) + "\n"
            + "\n".join(steps) + "\n")

    # --- the host signs up and prepares a room ----------------------------------------
    host = new_page(DESKTOP)
    host.goto("/console")
    host.click("#to-signup")
    host.fill("#signup-form input[name=name]", "鲜果团方")
    host.fill("#signup-form input[name=password]", "password-123")
    host.click("#signup-form button[type=submit]")
    expect(host.locator("#me-name")).to_have_text("鲜果团方")
    step("host signs up in the console")

    host.fill("#new-room input[name=title]", "鲜果秒杀专场 · 今晚8点")
    host.click("#new-room button[type=submit]")
    expect(host.locator("#rv-title")).to_have_text("鲜果秒杀专场 · 今晚8点")
    expect(host.locator("#rv-status")).to_have_text("预告")
    room_id = host.evaluate("window.__console.room.id")
    step("host creates a room")

    for title, price, img in [("赣南脐橙 5斤装", "39.90", "/static/demo/orange.svg"),
                              ("云南高山蓝莓 4盒", "59.90", "/static/demo/blueberry.svg")]:
        host.fill("#product-form input[name=title]", title)
        host.fill("#product-form input[name=price]", price)
        host.fill("#product-form input[name=stock]", "100")
        host.fill("#product-form input[name=image_url]", img)
        host.click("#product-form button[type=submit]")
        expect(host.locator("#shelf .shelf-row", has_text=title)).to_be_visible()
    expect(host.locator("#shelf .shelf-row")).to_have_count(2)
    step("host creates two products; they go on the shelf (小黄车)")

    # Drag the blueberries above the oranges, then back.
    rows = host.locator("#shelf .shelf-row")
    rows.nth(1).drag_to(rows.nth(0))
    expect(rows.nth(0)).to_contain_text("云南高山蓝莓")
    _, snap = http.call("GET", f"/api/v1/rooms/{room_id}")
    assert [p["title"] for p in snap["shelf"]] == ["云南高山蓝莓 4盒", "赣南脐橙 5斤装"]
    rows.nth(1).drag_to(rows.nth(0))
    expect(rows.nth(0)).to_contain_text("赣南脐橙")
    step("host reorders the shelf by drag and drop (PUT shelf)")

    orange = host.locator("#shelf .shelf-row", has_text="赣南脐橙")
    orange.locator(".pin-btn").click()
    expect(orange).to_have_class(re.compile(r"\bpinned\b"))
    expect(orange.locator(".tag-pin")).to_have_text("讲解中")
    step("host pins a product with one click")

    host.click("#go-live")
    expect(host.locator("#rv-status")).to_have_text("直播中")
    step("host goes live")

    host.click("#cam-on")
    host.wait_for_function(
        "() => { const v = document.querySelector('#preview'); return v.readyState >= 2 && v.videoWidth > 0; }")
    step("host previews the fake camera")
    if has["video"]:
        host.click("#publish")
        expect(host.locator("#pub-state")).to_have_text("推流中", timeout=30000)
        step("host publishes the camera over WHIP")
    shot(host, "journey-1-console-live-desktop")

    # --- a 团长 signs up with the host's invite code and makes a share link --------------
    invite = host.evaluate("window.__console.inviteCode")
    assert invite
    leader = new_page(DESKTOP)
    leader.goto(f"/leader?invite={invite}")
    expect(leader.locator("#signup-form input[name=invite_code]")).to_have_value(invite)
    leader.fill("#signup-form input[name=name]", "王姐团长")
    leader.fill("#signup-form input[name=password]", "password-123")
    leader.click("#signup-form button[type=submit]")
    expect(leader.locator("#hero-hi")).to_contain_text("王姐团长")
    expect(leader.locator(f'.lroom[data-room-id="{room_id}"]')).to_contain_text("鲜果秒杀专场")
    step("团长 signs up with the host's invite code and sees the host's rooms")
    watch_url = f"/watch/{room_id}"
    if has["share"]:
        leader.locator(f'.lroom[data-room-id="{room_id}"] .share-btn').click()
        expect(leader.locator("#modal")).to_be_visible()
        share_url = leader.locator("#share-url").input_value()
        assert re.search(r"/r/[A-Za-z0-9_-]+$", share_url), share_url
        leader.wait_for_function("() => document.querySelector('#qr').naturalWidth > 0")
        leader.wait_for_function("() => document.querySelector('#save-poster').href.startsWith('blob:')")
        shot(leader, "journey-2-leader-share-desktop")
        watch_url = share_url
        step("团长 makes a share link with QR code and poster")

    # --- a viewer on a phone opens the room through the link --------------------------
    viewer = new_page(PHONE, mobile=True)
    viewer.goto(watch_url)
    expect(viewer).to_have_url(re.compile(rf"/watch/{room_id}"))
    if has["share"]:
        assert "s=" in viewer.url
    pinned = viewer.locator("#pinned")
    expect(pinned).to_contain_text("赣南脐橙 5斤装")
    expect(pinned).to_contain_text("¥39.90")
    step("viewer opens the room (through the 团长 link when share links exist) and sees the pinned product")
    if has["video"]:
        viewer.wait_for_function(
            "() => { const v = document.querySelector('#video');"
            " return document.body.classList.contains('has-video') && v.videoWidth > 0; }",
            timeout=30000)
        step("viewer sees the host's camera (WHEP)")
    shot(viewer, "journey-3-viewer-phone")

    if has["realtime"]:
        viewer.fill("#chat-input", "主播好！橙子甜吗？")
        viewer.click("#chat-form button[type=submit]")
        expect(host.locator("#host-chat .cmsg", has_text="主播好！橙子甜吗？")).to_be_visible()
        viewer.fill("#chat-input", HTML_CHAT)
        viewer.click("#chat-form button[type=submit]")
        host_line = host.locator("#host-chat .ctext", has_text="<b>你好</b>")
        expect(host_line).to_have_text(HTML_CHAT)
        expect(viewer.locator("#chat .text", has_text="<b>你好</b>")).to_have_text(HTML_CHAT)
        assert host.locator("#host-chat b, #host-chat img").count() == 0
        assert viewer.locator("#chat b, #chat img").count() == 0
        assert viewer.evaluate("window.__xss") is None and host.evaluate("window.__xss") is None
        step("viewer chats; the host sees it; chat containing HTML shows as text")
        shot(viewer, "journey-3b-viewer-chat-phone")
        shot(host, "journey-3c-console-chat-desktop")
        for _ in range(3):
            viewer.click("#like")
        expect(viewer.locator("#hearts .heart").first).to_be_attached()
        expect(host.locator('[data-stat="likes"] .tile-v')).not_to_have_text("0", timeout=10000)
        step("viewer likes with floating hearts; the host's dashboard counts them")

    # --- a flash sale -------------------------------------------------------------------
    paid_cents = 3990
    if has["flash"]:
        product_id = orange.get_attribute("data-product-id")
        host.select_option("#flash-product", product_id)
        host.fill("#flash-form input[name=price]", "9.90")
        host.fill("#flash-form input[name=quantity]", "5")
        host.fill("#flash-form input[name=duration]", "600")
        host.fill("#flash-form input[name=limit]", "1")
        host.click("#flash-form button[type=submit]")
        expect(host.locator("#sales .sale")).to_contain_text("¥9.90")
        if not has["realtime"]:
            viewer.reload()
        expect(pinned.locator(".flash-tag")).to_be_visible(timeout=10000)
        expect(pinned).to_contain_text("¥9.90")
        expect(pinned.locator(".cd")).to_have_text(re.compile(r"^\d\d:\d\d$"))
        expect(pinned.locator(".stockbar")).to_contain_text("5")
        paid_cents = 990
        step("host starts a flash sale; the viewer sees the flash price, countdown and stock bar")
        shot(viewer, "journey-4-viewer-flash-phone")

    # --- the viewer buys and pays ----------------------------------------------------------
    if has["orders"]:
        pinned.locator(".buy-btn").click()
        expect(viewer.locator("#sheet")).to_have_class(re.compile(r"\bopen\b"))
        expect(viewer.locator("#cart-total")).to_have_text(f"¥{paid_cents // 100}.{paid_cents % 100:02d}")
        viewer.fill("#checkout input[name=point]", "阳光小区东门王姐家")
        shot(viewer, "journey-5-viewer-checkout-phone")
        viewer.click("#checkout button[type=submit]")
        order = viewer.locator("#tab-orders .order").first
        expect(order.locator(".order-status")).to_have_text("待支付")
        order.locator(".pay-btn").click()
        expect(viewer.locator("#tab-orders .order").first.locator(".order-status")).to_have_text("已支付")
        shot(viewer, "journey-6-viewer-paid-phone")
        step("viewer checks out for pickup (自提) and pays in the sandbox")

        price = f"¥{paid_cents // 100}.{paid_cents % 100:02d}"
        host.click("#orders-refresh")
        expect(host.locator("#orders .order-row").first).to_contain_text(price)
        expect(host.locator("#orders .order-row").first).to_contain_text("已支付")
        step("the host's console lists the paid order")
        if has["stats"]:
            expect(host.locator('[data-stat="gmv"] .tile-v')).to_have_text(price, timeout=15000)
            expect(host.locator('[data-stat="orders"] .tile-v')).to_have_text("1", timeout=15000)
            step("the host's dashboard shows the order and GMV")
        shot(host, "journey-7-console-after-sale-desktop", full_page=True)

        if has["commission"] and has["share"]:
            leader.click("#modal-x")
            leader.reload()
            frozen = paid_cents * 1000 // 10000
            expect(leader.locator("#c-frozen")).to_have_text(
                f"¥{frozen // 100}.{frozen % 100:02d}", timeout=15000)
            expect(leader.locator("#entries .entry").first).to_contain_text("冻结")
            shot(leader, "journey-8-leader-commission-desktop", full_page=True)
            step("the 团长 sees the frozen commission")
