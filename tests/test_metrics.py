"""`/metrics` after real actions: every declared metric moves where the thing
happens (sockets, room ticks, published events, orders, payments, the
database, Redis). Scraped over HTTP like Prometheus does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from live.app import create_app
from live.cart.payments import SIGNATURE_HEADER
from live.clock import FakeClock
from live.settings import Settings
from tests.commerce_helpers import order, run_jobs
from tests.helpers import Api
from tests.realtime_helpers import sio_client

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(api: Api) -> Samples:
    r = await api.get("/metrics")
    assert r.status == 200
    out: Samples = {}
    for family in text_string_to_metric_families(r.body):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    """Summed over every label set."""
    return sum(v for (n, _), v in samples.items() if n == name)


async def eventually(api: Api, check: Callable[[Samples], bool]) -> Samples:
    """Disconnects and ticks finish on the server's own time: scrape until true."""
    for _ in range(250):
        samples = await scrape(api)
        if check(samples):
            return samples
        await asyncio.sleep(0.02)
    raise AssertionError("the metric never got there")


@pytest.fixture
async def shop(make_settings: Callable[..., Settings], clock: FakeClock,
               aiohttp_client: Any) -> tuple[web.Application, Api]:
    app = create_app(make_settings(payment_timeout_s=60), clock=clock, run_timers=False)
    return app, Api(await aiohttp_client(app))


async def test_sockets_rooms_events_frames_and_ticks_are_counted(
        shop: tuple[web.Application, Api]) -> None:
    _, api = shop
    host, viewer = await api.host(), await api.viewer()
    room = await api.room(host)
    before = await scrape(api)
    assert value(before, "live_socket_connections") == 0
    assert value(before, "live_rooms_active") == 0
    async with sio_client(api.client, viewer.token) as s:
        assert (await s.join(room["id"]))["ok"]
        joined = await scrape(api)
        assert value(joined, "live_socket_connections") == 1
        assert value(joined, "live_rooms_active") == 1
        assert (await s.chat(room["id"], "你好"))["ok"]
        assert (await s.chat(room["id"], "在吗"))["ok"]
        assert (await s.call("like", {"room_id": room["id"], "count": 2}))["ok"]
        await s.wait_for_type("chat", 2)
        await s.wait_for_type("likes")
        frame_bytes = sum(len(json.dumps(["events", f], ensure_ascii=False,
                                         separators=(",", ":")).encode())
                          for f in s.frames)
        ticked = await scrape(api)
    assert value(ticked, "live_events_published_total", type="chat") == 2
    assert value(ticked, "live_events_published_total", type="likes") >= 1
    assert value(ticked, "live_events_published_total", type="viewers") >= 1
    frames = value(ticked, "live_frames_emitted_total")
    assert frames >= 2  # chat and likes at least (a tick may carry both)
    assert value(ticked, "live_frame_bytes_count") >= frames
    # every frame the client received was measured (plus the `2` packet type)
    assert value(ticked, "live_frame_bytes_sum") >= frame_bytes
    assert value(ticked, "live_tick_lag_seconds_count") >= frames
    left = await eventually(api, lambda m: value(m, "live_socket_connections") == 0
                            and value(m, "live_rooms_active") == 0)
    assert value(left, "live_tick_lag_seconds_sum") >= 0


async def test_order_outcomes_and_payment_failures_are_counted_once_committed(
        shop: tuple[web.Application, Api], clock: FakeClock) -> None:
    app, api = shop
    host, v = await api.host(), await api.viewer()
    room = await api.room(host, products=1, price_cents=1000, stock=1)
    pid = room["shelf"][0]["id"]

    async def place() -> str:
        r = await order(api, v, room["id"], [(pid, 1)])
        assert r.status == 201, r.body
        return str(r["id"])

    paid = await place()
    assert (await api.post(f"/api/v1/orders/{paid}/pay", token=v.token)).status == 200
    assert (await api.post(f"/api/v1/orders/{paid}/refund", token=host.token)).status == 200
    sold_out = await order(api, v, room["id"], [(pid, 2)])          # only 1 in stock
    assert sold_out.status == 409
    cancelled = await place()
    assert (await api.post(f"/api/v1/orders/{cancelled}/cancel", token=v.token)).status == 200
    expired = await place()
    clock.advance(61)
    late = await api.post(f"/api/v1/orders/{expired}/pay", token=v.token)
    assert late.status == 409 and late.code == "conflict"           # a payment failure
    await run_jobs(app)                                             # the sweeper expires it
    again = await api.post(f"/api/v1/orders/{paid}/pay", token=v.token)
    assert again.status == 409                                      # refunded: failure 2
    raw = json.dumps({"order_id": expired, "status": "paid"}).encode()
    forged = await api.post("/api/v1/payments/webhook", raw=raw, headers={
        "Content-Type": "application/json", SIGNATURE_HEADER: "sha256=" + "0" * 64})
    assert forged.status == 401
    m = await scrape(api)
    assert {o: value(m, "live_orders_total", outcome=o)
            for o in ("placed", "refused", "paid", "refunded", "cancelled", "expired")} == {
        "placed": 3, "refused": 1, "paid": 1, "refunded": 1, "cancelled": 1, "expired": 1}
    assert value(m, "live_payment_failures_total", reason="conflict") == 2
    assert value(m, "live_payment_failures_total", reason="unauthorized") == 1


async def test_every_database_statement_is_timed(api: Api) -> None:
    host = await api.host()
    before = value(await scrape(api), "live_db_seconds_count")
    r = await api.get("/api/v1/orders", token=host.token)  # a token lookup and a query
    assert r.status == 200
    after = await scrape(api)
    assert value(after, "live_db_seconds_count") >= before + 2
    assert value(after, "live_db_seconds_sum") > 0


async def test_redis_commands_are_timed(make_settings: Callable[..., Settings],
                                        aiohttp_client: Any, redis_url: str,
                                        redis_prefix: str, redis_cleanup: None) -> None:
    app = create_app(make_settings(redis_url=redis_url, redis_prefix=redis_prefix))
    api = Api(await aiohttp_client(app))
    host, viewer = await api.host(), await api.viewer()
    room = await api.room(host)
    assert (await api.get("/healthz")).status == 200
    m = await scrape(api)
    assert value(m, "live_redis_seconds_count", command="PING") >= 1
    before = total(m, "live_redis_seconds_count")
    async with sio_client(api.client, viewer.token) as s:
        assert (await s.join(room["id"]))["ok"]
        assert (await s.call("like", {"room_id": room["id"], "count": 1}))["ok"]
    m = await scrape(api)
    assert total(m, "live_redis_seconds_count") > before  # presence, likes, rate limit
    assert value(m, "live_redis_seconds_count", command="EVALSHA") >= 1  # Lua scripts
