"""The 裂变 growth tools end to end through the pages, in a real Chromium against
`live serve` in its own process.

Each test arranges the host's room over HTTP (what the journey test already
clicks through), then drives the console and one or more phone-sized players
(each a separate browser context: a separate person): a coupon pushed from the
console, claimed in the player and paid for at the discounted total; a 拼团
opened by one viewer and completed by a second through the share link; a 福袋
whose winners see 中奖 and whose host sees them; a reminder that turns into
"直播已开始" and exactly one outbox entry. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, DESKTOP, PHONE, Http
from tests.live_server import serve_in_subprocess

ORANGE = {"title": "赣南脐橙 5斤装", "price_cents": 3990, "stock": 100,
          "image_url": "/static/demo/orange.svg"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`live serve` in a subprocess (SQLite, in-process broker, system clock)."""
    data = tmp_path / "data"
    data.mkdir()
    env = {"LIVE_CHAT_BURST": "20", "LIVE_CHAT_RATE_PER_S": "10"}
    with serve_in_subprocess(data, env=env) as base:
        yield base


def shot(page: Any, name: str) -> None:
    """A still PNG (animations finished) of what the person sees."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), animations="disabled")


def ok(reply: tuple[int, Any], status: int = 200) -> Any:
    code, body = reply
    assert code == status, (code, body)
    return body


def arrange(http: Http, *, live: bool = True, scheduled_at: str | None = None) -> dict[str, Any]:
    """A host with a room, the oranges on its shelf and pinned; live unless told."""
    host = ok(http.call("POST", "/api/v1/accounts", {
        "name": f"鲜果团方{secrets.token_hex(2)}", "password": "password-123",
        "role": "host"}), 201)
    token = host["token"]
    body: dict[str, Any] = {"title": "鲜果专场 · 今晚8点"}
    if scheduled_at:
        body["scheduled_at"] = scheduled_at
    room = ok(http.call("POST", "/api/v1/rooms", body, token), 201)
    product = ok(http.call("POST", "/api/v1/products", ORANGE, token), 201)
    ok(http.call("PUT", f"/api/v1/rooms/{room['id']}/shelf",
                 {"product_ids": [product["id"]]}, token))
    ok(http.call("POST", f"/api/v1/rooms/{room['id']}/pin", {"product_id": product["id"]}, token))
    if live:
        ok(http.call("POST", f"/api/v1/rooms/{room['id']}/status", {"status": "live"}, token))
    return {"token": token, "host": host["account"], "room_id": room["id"], "product": product}


def open_console(new_page: Callable[..., Any], world: dict[str, Any]) -> Any:
    page = new_page(DESKTOP)
    page.context.add_init_script(
        f"localStorage.setItem('live.host.token', {world['token']!r})")
    page.goto(f"/console?room={world['room_id']}")
    expect(page.locator("#rv-title")).to_have_text("鲜果专场 · 今晚8点")
    return page


def open_player(new_page: Callable[..., Any], path: str, nick: str) -> Any:
    page = new_page(PHONE, mobile=True)
    sep = "&" if "?" in path else "?"
    page.goto(f"{path}{sep}nick={nick}")
    page.wait_for_function(
        "() => window.__live && window.__live.stream && window.__live.stream.joined")
    return page


def me(page: Any) -> str:
    return str(page.evaluate("window.__live.state.me.id"))


def viewer_token(page: Any) -> str:
    return str(page.evaluate("window.__live.state.token"))


def checkout_pickup(page: Any) -> None:
    page.fill("#checkout input[name=point]", "阳光小区东门王姐家")
    page.click("#checkout button[type=submit]")


def pay_first_order(page: Any) -> None:
    order = page.locator("#tab-orders .order").first
    expect(order.locator(".order-status")).to_have_text("待支付")
    order.locator(".pay-btn").click()
    expect(page.locator("#tab-orders .order").first.locator(".order-status")).to_have_text("已支付")


def close_sheet(page: Any) -> None:
    page.click("#backdrop")
    expect(page.locator("#sheet")).not_to_have_class(re.compile(r"\bopen\b"))


def test_coupon_from_the_console_is_claimed_and_paid_at_the_discounted_total(
        new_page: Callable[..., Any], http: Http) -> None:
    world = arrange(http)
    host = open_console(new_page, world)
    viewer = open_player(new_page, f"/watch/{world['room_id']}", "阿花")

    host.click("[data-growth=coupon]")
    form = host.locator("#growth-form form")
    form.locator("input[name=title]").fill("满30减5")
    form.locator("input[name=discount]").fill("5.00")
    form.locator("input[name=min_spend]").fill("30")
    form.locator("input[name=quantity]").fill("100")
    form.locator("input[name=valid_for_s]").fill("3600")
    form.locator("button[type=submit]").click()
    expect(host.locator("#growth-list .g-coupon")).to_contain_text("满30减5")

    # the pushed coupon pops up as a card in the player
    card = viewer.locator("#gmodal .coupon-card")
    expect(card).to_be_visible()
    expect(card.locator(".ticket-value")).to_have_text("¥5.00")
    expect(card.locator(".ticket-rule")).to_have_text("满¥30.00可用")
    expect(card).to_contain_text("满30减5")
    shot(viewer, "growth-coupon-1-card-phone")
    card.locator(".claim-btn").click()
    expect(card.locator(".claim-btn")).to_have_text("已领取")
    expect(card.locator(".claim-btn")).to_be_disabled()
    shot(viewer, "growth-coupon-2-claimed-phone")
    viewer.click("#gmodal-x")
    expect(viewer.locator(".promo.coupon")).to_contain_text("已领")

    # the claim is applied at checkout: ¥39.90 − ¥5.00
    viewer.locator("#pinned .buy-btn").click()
    expect(viewer.locator("#coupon-select")).to_have_value(re.compile(r".+"))
    expect(viewer.locator("#cart-discount")).to_have_text("-¥5.00")
    expect(viewer.locator("#cart-total")).to_have_text("¥34.90")
    viewer.fill("#checkout input[name=point]", "阳光小区东门王姐家")
    viewer.locator("#cart-total").scroll_into_view_if_needed()
    shot(viewer, "growth-coupon-3-checkout-phone")
    viewer.click("#checkout button[type=submit]")
    order = viewer.locator("#tab-orders .order").first
    expect(order.locator(".order-line.total")).to_contain_text("¥34.90")
    expect(order).to_contain_text("-¥5.00")
    pay_first_order(viewer)
    shot(viewer, "growth-coupon-4-paid-phone")

    # what was paid is the discounted total, and the claim is used
    token = viewer_token(viewer)
    orders = ok(http.call("GET", f"/api/v1/orders?room_id={world['room_id']}",
                          token=token))["orders"]
    assert [(o["status"], o["discount_cents"], o["total_cents"]) for o in orders] == [
        ("paid", 500, 3490)]
    claims = ok(http.call("GET", "/api/v1/me/coupons", token=token))["claims"]
    assert [(c["status"], c["order_id"]) for c in claims] == [("used", orders[0]["id"])]

    # the host's console shows the claim and the paid order at ¥34.90
    expect(host.locator("#growth-list .g-coupon")).to_contain_text("已领 1", timeout=15000)
    host.click("#orders-refresh")
    expect(host.locator("#orders .order-row").first).to_contain_text("¥34.90")
    expect(host.locator("#orders .order-row").first).to_contain_text("已支付")
    host.locator("#growth-list").scroll_into_view_if_needed()
    shot(host, "growth-coupon-5-console-desktop")


def test_group_buy_opened_by_one_viewer_completes_when_a_friend_pays_through_the_link(
        new_page: Callable[..., Any], http: Http) -> None:
    world = arrange(http)
    host = open_console(new_page, world)
    first = open_player(new_page, f"/watch/{world['room_id']}", "阿花")

    host.click("[data-growth=group]")
    form = host.locator("#growth-form form")
    form.locator("select[name=product_id]").select_option(world["product"]["id"])
    form.locator("input[name=price]").fill("29.90")
    form.locator("input[name=group_size]").fill("2")
    form.locator("input[name=window_s]").fill("600")
    form.locator("button[type=submit]").click()
    expect(host.locator("#growth-list .g-group")).to_contain_text("2人团 ¥29.90")

    # the player shows the offer; the first viewer opens a group and pays
    chip = first.locator(".promo.group")
    expect(chip).to_contain_text("2人团")
    chip.click()
    offer = first.locator("#tab-groups .gb-offer")
    expect(offer).to_contain_text("¥29.90")
    expect(offer).to_contain_text("¥39.90")
    offer.locator(".gb-open-btn").click()
    expect(first.locator("#tab-cart .notice").first).to_contain_text("发起 2 人拼团")
    expect(first.locator("#cart-total")).to_have_text("¥29.90")
    checkout_pickup(first)
    pay_first_order(first)

    first.locator("#tab-orders .invite-btn").click()
    mine = first.locator("#tab-groups .gb-group.mine")
    expect(mine).to_contain_text("已拼 1/2 人")
    expect(mine).to_contain_text("还差 1 人")
    expect(mine.locator(".cd")).to_have_text(re.compile(r"^(0\d|10):\d\d$"))
    link = first.locator("#tab-groups .gb-link").input_value()
    group_id = mine.get_attribute("data-group-id")
    assert group_id and link.endswith(f"/watch/{world['room_id']}?group={group_id}"), link
    shot(first, "growth-group-1-opened-phone")

    # a friend opens the share link: the checkout is for that group
    friend = open_player(new_page, link.replace(http.base, ""), "小明")
    expect(friend.locator("#tab-cart .notice").first).to_have_text("加入好友的拼团")
    expect(friend.locator("#tab-cart .gb-join-info")).to_contain_text("已拼 1/2 人 · 还差 1 人")
    expect(friend.locator("#cart-total")).to_have_text("¥29.90")
    shot(friend, "growth-group-2-friend-link-phone")
    # before joining, the friend sees the open group, its members and time left
    friend.locator(".sheet-tabs [data-tab=groups]").click()
    theirs = friend.locator(f'#tab-groups .gb-group[data-group-id="{group_id}"]')
    expect(theirs).to_contain_text("已拼 1/2 人")
    expect(theirs.locator(".cd")).to_have_text(re.compile(r"^(0\d|10):\d\d$"))
    expect(theirs.locator(".gb-join-btn")).to_be_visible()
    shot(friend, "growth-group-3-open-groups-phone")
    theirs.locator(".gb-join-btn").click()
    expect(friend.locator("#tab-cart .notice").first).to_have_text("加入好友的拼团")
    checkout_pickup(friend)
    pay_first_order(friend)

    # complete: both players say so, and the server agrees
    for page in (first, friend):
        page.locator(".sheet-tabs [data-tab=groups]").click()
        row = page.locator(f'#tab-groups .gb-group[data-group-id="{group_id}"]')
        expect(row).to_contain_text("拼团成功")
        expect(row).to_contain_text("已拼 2/2 人")
    expect(first.locator("#chat .msg.sys", has_text="拼团成功")).to_be_visible()
    shot(first, "growth-group-4-complete-phone")
    shot(friend, "growth-group-5-complete-friend-phone")
    group = ok(http.call("GET", f"/api/v1/groups/{group_id}"))
    assert (group["status"], group["members"]) == ("complete", 2)
    for page in (first, friend):
        orders = ok(http.call("GET", f"/api/v1/orders?room_id={world['room_id']}",
                              token=viewer_token(page)))["orders"]
        assert [(o["status"], o["group_id"], o["total_cents"]) for o in orders] == [
            ("paid", group_id, 2990)]
    expect(host.locator("#growth-list .g-group")).to_contain_text("1 团已成团")
    shot(host, "growth-group-6-console-desktop")


def test_a_group_that_does_not_fill_in_time_fails_and_the_player_shows_the_refund(
        new_page: Callable[..., Any], http: Http) -> None:
    world = arrange(http)
    # a short window: the group fails about 12 s after it opens
    ok(http.call("POST", f"/api/v1/rooms/{world['room_id']}/group-buys", {
        "product_id": world["product"]["id"], "price_cents": 2990, "group_size": 3,
        "window_s": 12}, world["token"]), 201)
    viewer = open_player(new_page, f"/watch/{world['room_id']}", "阿花")
    viewer.locator(".promo.group").click()
    viewer.locator("#tab-groups .gb-open-btn").click()
    checkout_pickup(viewer)
    pay_first_order(viewer)
    viewer.locator("#tab-orders .invite-btn").click()
    mine = viewer.locator("#tab-groups .gb-group.mine")
    expect(mine).to_contain_text("已拼 1/3 人")
    expect(mine).to_contain_text("还差 2 人")
    failed = viewer.locator("#tab-groups .gb-group.mine.st-failed")
    expect(failed).to_contain_text("拼团未成功，已自动退款", timeout=45000)
    shot(viewer, "growth-group-7-failed-phone")
    viewer.locator(".sheet-tabs [data-tab=orders]").click()
    status = viewer.locator("#tab-orders .order").first.locator(".order-status")
    expect(status).to_have_text("已退款")
    orders = ok(http.call("GET", f"/api/v1/orders?room_id={world['room_id']}",
                          token=viewer_token(viewer)))["orders"]
    assert [o["status"] for o in orders] == ["refunded"]


def test_lucky_draw_winners_see_it_and_the_host_sees_who_won(
        new_page: Callable[..., Any], http: Http) -> None:
    world = arrange(http)
    host = open_console(new_page, world)
    path = f"/watch/{world['room_id']}"
    a = open_player(new_page, path, "阿花")
    b = open_player(new_page, path, "小明")
    c = open_player(new_page, path, "路人甲")

    host.click("[data-growth=draw]")
    form = host.locator("#growth-form form")
    form.locator("input[name=prize]").fill("脐橙一箱")
    form.locator("input[name=winners]").fill("2")
    form.locator("input[name=keyword]").fill("我要橙子")
    form.locator("input[name=duration_s]").fill("600")
    form.locator("button[type=submit]").click()
    row = host.locator("#growth-list .g-draw")
    expect(row).to_contain_text("脐橙一箱")
    expect(row.locator(".draw-end-btn")).to_be_visible()

    for page in (a, b, c):
        card = page.locator("#gmodal .draw-card")
        expect(card).to_contain_text("脐橙一箱")
        expect(card).to_contain_text("我要橙子")
    shot(a, "growth-draw-1-card-phone")
    # one enters with the card's button, one by typing the keyword, one only chats
    a.locator("#gmodal .draw-join-btn").click()
    expect(a.locator("#gmodal .draw-in")).to_contain_text("已参与")
    for page, text in ((b, "我要橙子！"), (c, "你好主播")):
        page.click("#gmodal-x")
        page.fill("#chat-input", text)
        page.click("#chat-form button[type=submit]")
        expect(host.locator("#host-chat .ctext", has_text=text)).to_be_visible()
    expect(a.locator(".promo.draw .cd")).to_have_text(re.compile(r"^\d\d:\d\d$"))

    row.locator(".draw-end-btn").click()
    for page in (a, b):
        result = page.locator("#draw-result")
        expect(result).to_contain_text("恭喜中奖")
        expect(result).to_contain_text("脐橙一箱")
    expect(c.locator("#draw-result")).to_contain_text("未中奖")
    shot(a, "growth-draw-2-won-phone")
    shot(c, "growth-draw-3-lost-phone")

    winners = row.locator(".draw-winners .winner")
    expect(winners).to_have_count(2)
    assert sorted(winners.all_inner_texts()) == sorted(["阿花", "小明"])
    expect(row).to_contain_text("2 人参与")
    shot(host, "growth-draw-4-console-desktop")
    draw = ok(http.call("GET", f"/api/v1/draws/{row.get_attribute('data-draw-id')}"))
    assert sorted(draw["winner_ids"]) == sorted([me(a), me(b)])
    assert draw["eligible"] == sorted([me(a), me(b)])


def test_reminder_turns_into_live_now_when_the_host_goes_live(
        new_page: Callable[..., Any], http: Http) -> None:
    at = (datetime.now(UTC) + timedelta(hours=2)).isoformat(timespec="milliseconds")
    world = arrange(http, live=False, scheduled_at=at.replace("+00:00", "Z"))
    viewer = open_player(new_page, f"/watch/{world['room_id']}", "阿花")
    remind = viewer.locator("#remind")
    expect(remind).to_be_visible()
    expect(remind).to_contain_text("开播")
    viewer.click("#remind-btn")
    expect(viewer.locator("#remind-btn")).to_contain_text("已预约")
    expect(viewer.locator("#remind-count")).to_have_text("1 人已预约")
    shot(viewer, "growth-remind-1-subscribed-phone")
    subs = ok(http.call("GET", "/api/v1/me/subscriptions", token=viewer_token(viewer)))
    assert [(s["room_id"], s["notified_at"]) for s in subs["subscriptions"]] == [
        (world["room_id"], None)]

    host = open_console(new_page, world)
    expect(host.locator("#rv-status")).to_have_text("预告")
    host.click("#go-live")
    expect(host.locator("#rv-status")).to_have_text("直播中")

    banner = viewer.locator("#live-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("直播已开始")
    expect(remind).to_be_hidden()
    shot(viewer, "growth-remind-2-live-now-phone")

    deliveries = ok(http.call("GET", "/api/v1/webhooks/deliveries", token=world["token"]))
    live = [d for d in deliveries["deliveries"] if d["event"] == "room.live"]
    assert [d["payload"] for d in live] == [{"room_id": world["room_id"],
                                            "viewer_id": me(viewer),
                                            "title": "鲜果专场 · 今晚8点"}]
    subs = ok(http.call("GET", "/api/v1/me/subscriptions", token=viewer_token(viewer)))
    assert subs["subscriptions"][0]["notified_at"] is not None
