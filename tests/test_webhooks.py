from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from live import keys
from live.app import create_app
from live.clock import FakeClock
from live.db import transaction
from live.settings import Settings
from live.webhooks import service
from live.webhooks.delivery import deliver_due
from tests.helpers import Api
from tests.webhook_receiver import Receiver


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    r = Receiver()
    server = await aiohttp_server(r.app())
    r.url = str(server.make_url("/hook"))
    return r


@pytest.fixture
async def timed(settings: Settings, clock: FakeClock,
                aiohttp_client: Any) -> tuple[web.Application, Api]:
    app = create_app(settings, clock=clock, run_timers=False)
    client: TestClient = await aiohttp_client(app)  # type: ignore[type-arg]
    return app, Api(client)


async def test_host_sets_reads_and_removes_its_endpoint(api: Api, receiver: Receiver) -> None:
    host = await api.host()
    assert (await api.get("/api/v1/webhooks", token=host.token)).status == 404
    r = await api.put("/api/v1/webhooks", {"url": receiver.url}, token=host.token)
    assert r.status == 200, r.body
    assert r["url"] == receiver.url and r["secret"].startswith("whsec_")
    assert "order.paid" in r["events"]
    got = await api.get("/api/v1/webhooks", token=host.token)
    assert got.body == r.body
    # Changing the URL keeps the secret; giving one replaces it.
    r2 = await api.put("/api/v1/webhooks", {"url": receiver.url + "?x=1"}, token=host.token)
    assert r2["secret"] == r["secret"]
    r3 = await api.put("/api/v1/webhooks", {"url": receiver.url, "secret": "s" * 32},
                       token=host.token)
    assert r3["secret"] == "s" * 32
    assert (await api.delete("/api/v1/webhooks", token=host.token)).status == 200
    assert (await api.get("/api/v1/webhooks", token=host.token)).status == 404


async def test_endpoint_needs_a_host_and_an_http_url(api: Api) -> None:
    host = await api.host()
    viewer = await api.viewer()
    leader = await api.leader(host.invite_code or "")
    assert (await api.put("/api/v1/webhooks", {"url": "http://x/"})).status == 401
    for who in (viewer, leader):
        r = await api.put("/api/v1/webhooks", {"url": "http://x/"}, token=who.token)
        assert r.status == 403 and r.code == "forbidden"
    for bad in ({"url": "ftp://x/"}, {"url": ""}, {}, {"url": "http://x/", "secret": "short"},
                {"url": 5}):
        r = await api.put("/api/v1/webhooks", bad, token=host.token)
        assert r.status == 422 and r.code == "invalid", (bad, r.body)
    assert (await api.post("/api/v1/webhooks/test", token=host.token)).status == 404


def _receiver_verifies(secret: str, header: str, body: bytes, now_unix: int) -> bool:
    """What a receiver writes, independent of our code: split, recompute, compare."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    t = int(fields["t"])
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(now_unix - t) <= 300 and hmac.compare_digest(mac, fields["v1"])


async def test_ping_arrives_signed_and_the_signature_verifies(
        timed: tuple[web.Application, Api], receiver: Receiver, clock: FakeClock) -> None:
    app, api = timed
    host = await api.host()
    secret = (await api.put("/api/v1/webhooks", {"url": receiver.url},
                            token=host.token))["secret"]
    r = await api.post("/api/v1/webhooks/test", token=host.token)
    assert r.status == 202
    assert receiver.received == []  # nothing is sent inside the request
    assert await deliver_due(app) == 1
    [got] = receiver.received
    assert got.headers["X-Live-Event"] == "webhook.test"
    assert got.headers["X-Live-Delivery"] == r["id"]
    assert got.json == {"id": r["id"], "event": "webhook.test",
                        "created_at": "2026-11-24T12:00:00.000Z",
                        "data": {"host_id": host.id, "sent_at": "2026-11-24T12:00:00.000Z"}}
    now = int(clock.now().timestamp())
    header = got.headers["X-Live-Signature"]
    assert header.startswith(f"t={now},v1=")
    assert _receiver_verifies(secret, header, got.body, now)
    assert service.verify(secret, header, got.body, now_unix=now)
    assert not service.verify(secret, header, got.body + b" ", now_unix=now)
    assert not service.verify("other-secret-000000", header, got.body, now_unix=now)
    assert not service.verify(secret, header, got.body, now_unix=now + 301)  # replayed late
    log = (await api.get("/api/v1/webhooks/deliveries", token=host.token))["deliveries"]
    assert [(d["id"], d["status"], d["attempts"]) for d in log] == [(r["id"], "delivered", 1)]
    assert await deliver_due(app) == 0 and len(receiver.received) == 1


async def test_failed_delivery_retries_with_growing_backoff(
        timed: tuple[web.Application, Api], receiver: Receiver, clock: FakeClock) -> None:
    app, api = timed
    host = await api.host()
    await api.put("/api/v1/webhooks", {"url": receiver.url}, token=host.token)
    receiver.fail_next = 2
    await api.post("/api/v1/webhooks/test", token=host.token)
    for attempt in (1, 2):
        assert await deliver_due(app) == 0
        [d] = (await api.get("/api/v1/webhooks/deliveries", token=host.token))["deliveries"]
        assert d["status"] == "pending" and d["attempts"] == attempt
        assert d["last_error"] == "HTTP 500"
        assert await deliver_due(app) == 0  # not due yet: nothing is sent
        due = d["next_attempt_at"]
        wait = (_parse(due) - clock.now()).total_seconds()
        ceiling = service.BASE_DELAY_S * 2 ** (attempt - 1)
        assert ceiling / 2 - 0.001 <= wait <= ceiling
        clock.advance(wait + 0.001)  # the API shows milliseconds
    assert await deliver_due(app) == 1
    assert len(receiver.received) == 1
    [d] = (await api.get("/api/v1/webhooks/deliveries", token=host.token))["deliveries"]
    assert d["status"] == "delivered" and d["attempts"] == 3 and d["last_error"] is None


def _parse(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_unreachable_endpoint_is_retried_then_given_up(
        timed: tuple[web.Application, Api], clock: FakeClock, unused_tcp_port: int) -> None:
    app, api = timed
    host = await api.host()
    await api.put("/api/v1/webhooks", {"url": f"http://127.0.0.1:{unused_tcp_port}/hook"},
                  token=host.token)
    await api.post("/api/v1/webhooks/test", token=host.token)
    for _ in range(service.MAX_ATTEMPTS):
        await deliver_due(app)
        clock.advance(service.MAX_DELAY_S)
    [d] = (await api.get("/api/v1/webhooks/deliveries", token=host.token))["deliveries"]
    assert d["status"] == "failed" and d["attempts"] == service.MAX_ATTEMPTS
    assert d["next_attempt_at"] is None and "Connect" in d["last_error"]


async def test_entry_for_a_host_without_endpoint_is_given_up(
        timed: tuple[web.Application, Api]) -> None:
    app, api = timed
    host = await api.host()
    async with transaction(app) as session:
        await service.enqueue(session, event="webhook.test", payload={}, host_id=host.id,
                              now=app[keys.CLOCK].now())
    assert await deliver_due(app) == 0
    [d] = (await api.get("/api/v1/webhooks/deliveries", token=host.token))["deliveries"]
    assert d["status"] == "failed" and d["last_error"] == "no webhook endpoint configured"


async def test_rolled_back_change_sends_nothing(
        timed: tuple[web.Application, Api], receiver: Receiver) -> None:
    app, api = timed
    host = await api.host()
    await api.put("/api/v1/webhooks", {"url": receiver.url}, token=host.token)
    with pytest.raises(RuntimeError):
        async with transaction(app) as session:
            await service.enqueue(session, event="webhook.test", payload={"n": 1},
                                  host_id=host.id, now=app[keys.CLOCK].now())
            raise RuntimeError("the change failed")
    assert await deliver_due(app) == 0 and receiver.received == []


async def test_entry_committed_before_a_restart_is_delivered_once_after_it(
        make_settings: Callable[..., Settings], clock: FakeClock, aiohttp_client: Any,
        receiver: Receiver) -> None:
    settings = make_settings()
    first = create_app(settings, clock=clock, run_timers=False)
    client1: TestClient = await aiohttp_client(first)  # type: ignore[type-arg]
    api1 = Api(client1)
    host = await api1.host()
    await api1.put("/api/v1/webhooks", {"url": receiver.url}, token=host.token)
    sent = await api1.post("/api/v1/webhooks/test", token=host.token)
    assert sent.status == 202
    await client1.close()  # the server stops between commit and delivery
    assert receiver.received == []

    second = create_app(settings, clock=clock, run_timers=False)
    client2: TestClient = await aiohttp_client(second)  # type: ignore[type-arg]
    assert await deliver_due(second) == 1
    assert await deliver_due(second) == 0
    clock.advance(service.LEASE_S + 1)
    assert await deliver_due(second) == 0
    assert [e["id"] for e in receiver.events()] == [sent["id"]]
    await client2.close()


async def test_two_workers_deliver_each_entry_once(
        make_settings: Callable[..., Settings], clock: FakeClock, aiohttp_client: Any,
        receiver: Receiver) -> None:
    settings = make_settings()
    a = create_app(settings, clock=clock, run_timers=False)
    b = create_app(settings, clock=clock, run_timers=False)
    api = Api(await aiohttp_client(a))
    await aiohttp_client(b)
    host = await api.host()
    await api.put("/api/v1/webhooks", {"url": receiver.url}, token=host.token)
    async with transaction(a) as session:
        for n in range(120):
            await service.enqueue(session, event="webhook.test", payload={"n": n},
                                  host_id=host.id, now=clock.now())
    total = 0
    while True:
        got = await asyncio.gather(deliver_due(a), deliver_due(b), deliver_due(a))
        if sum(got) == 0:
            break
        total += sum(got)
    assert total == 120
    assert sorted(e["data"]["n"] for e in receiver.events()) == list(range(120))


async def test_running_timers_deliver_without_being_asked(
        make_settings: Callable[..., Settings], aiohttp_client: Any,
        receiver: Receiver) -> None:
    app = create_app(make_settings())  # system clock, timers on
    api = Api(await aiohttp_client(app))
    host = await api.host()
    await api.put("/api/v1/webhooks", {"url": receiver.url}, token=host.token)
    await api.post("/api/v1/webhooks/test", token=host.token)
    for _ in range(100):
        if receiver.received:
            break
        await asyncio.sleep(0.05)
    assert len(receiver.events("webhook.test")) == 1


async def test_metrics_count_statements_and_webhook_outcomes(
        timed: tuple[web.Application, Api], receiver: Receiver) -> None:
    app, api = timed
    host = await api.host()
    await api.put("/api/v1/webhooks", {"url": receiver.url}, token=host.token)
    receiver.fail_next = 1
    await api.post("/api/v1/webhooks/test", token=host.token)
    await deliver_due(app)
    text = (await api.get("/metrics")).body

    def value(name: str) -> float:
        [line] = [x for x in text.splitlines() if x.startswith(name + " ")]
        return float(line.split()[-1])

    assert value('live_webhook_deliveries_total{outcome="failed"}') == 1
    assert value('live_webhook_deliveries_total{outcome="delivered"}') == 0
    assert value("live_db_seconds_count") > 5  # every statement is timed
