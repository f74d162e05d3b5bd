"""Sign-in, sign-up, guest-viewer and order rate limits through HTTP, on the
in-memory limiter (one worker) and on the real Redis one (two workers that
share every bucket). Small limits and a FakeClock make the buckets visible;
`test_defaults_let_an_honest_flash_sale_buyer_through` checks the shipped
defaults stay out of a real buyer's way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from live.app import create_app
from live.clock import FakeClock
from live.settings import Settings
from tests.commerce_helpers import order
from tests.helpers import Api, Reply


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the buckets live in memory or Redis, never in the database


@dataclass
class Workers:
    one: Api
    two: Api  # the same worker in memory mode; a second one sharing Redis otherwise
    clock: FakeClock


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        request.getfixturevalue("redis_cleanup")
    return str(request.param)


@pytest.fixture
def workers(limiter: str, make_settings: Callable[..., Settings], clock: FakeClock,
            aiohttp_client: Any,
            request: pytest.FixtureRequest) -> Callable[..., Any]:
    async def make(**limits: Any) -> Workers:
        if limiter == "redis":
            limits.update(redis_url=request.getfixturevalue("redis_url"),
                          redis_prefix=request.getfixturevalue("redis_prefix"))
        settings = make_settings(**limits)
        one = Api(await aiohttp_client(create_app(settings, clock=clock, run_timers=False)))
        if limiter == "memory":
            return Workers(one, one, clock)
        two = Api(await aiohttp_client(create_app(settings, clock=clock, run_timers=False)))
        return Workers(one, two, clock)
    return make


def assert_rate_limited(r: Reply, wait_s: float) -> None:
    assert r.status == 429 and r.code == "rate_limited", r.body
    assert r.body["error"]["retry_after_s"] == pytest.approx(wait_s, abs=0.01)
    assert r.headers["Retry-After"] == str(max(1, math.ceil(wait_s)))


async def sign_in(api: Api, name: str, password: str = "password-123",
                  forwarded_for: str | None = None) -> Reply:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
    return await api.post("/api/v1/sessions", {"name": name, "password": password},
                          headers=headers)


async def test_sign_ins_from_one_address_are_limited(workers: Callable[..., Any]) -> None:
    w = await workers(signin_ip_burst=3, signin_ip_rate_per_s=0.5, signin_account_burst=0)
    host = await w.one.host()  # signing up spends from the same bucket
    w.clock.advance(60)  # full again
    assert (await sign_in(w.one, host.name)).status == 200
    assert (await sign_in(w.two, host.name, "wrong-password")).status == 401  # counts too
    assert (await sign_in(w.one, "nobody-at-all")).status == 401
    assert_rate_limited(await sign_in(w.two, host.name), 2.0)
    r = await w.one.post("/api/v1/accounts", {"name": "another", "password": "password-123",
                                              "role": "host"})
    assert r.status == 429 and r.code == "rate_limited"
    w.clock.advance(1.5)
    assert_rate_limited(await sign_in(w.one, host.name), 0.5)  # a refusal spends nothing
    w.clock.advance(0.5)
    assert (await sign_in(w.two, host.name)).status == 200


async def test_one_account_is_limited_whatever_the_address(workers: Callable[..., Any]) -> None:
    # Behind a trusted proxy every guess comes "from" another address: the
    # per-address bucket never empties, the account's does.
    w = await workers(trusted_proxies=("127.0.0.1",), signin_ip_burst=2,
                      signin_account_burst=3, signin_account_rate_per_s=0.1)
    host = await w.one.host()
    other = await w.one.host()
    for i in range(3):
        r = await sign_in(w.one if i % 2 else w.two, host.name, "guess-password",
                          forwarded_for=f"203.0.113.{i}")
        assert r.status == 401, r.body
    assert_rate_limited(await sign_in(w.one, host.name, forwarded_for="203.0.113.9"), 10.0)
    assert (await sign_in(w.two, other.name, forwarded_for="203.0.113.10")).status == 200
    w.clock.advance(10)
    assert (await sign_in(w.one, host.name, forwarded_for="203.0.113.11")).status == 200


async def test_forwarded_for_counts_only_from_a_trusted_proxy(
        workers: Callable[..., Any]) -> None:
    w = await workers(signin_ip_burst=2, signin_account_burst=0)  # no trusted proxy
    await w.one.host()
    await w.one.host()
    r = await sign_in(w.one, "x", forwarded_for="198.51.100.7")  # a client's own claim
    assert r.status == 429 and r.code == "rate_limited"


async def test_guest_viewers_from_one_address_are_limited(workers: Callable[..., Any]) -> None:
    w = await workers(trusted_proxies=("127.0.0.0/8",), viewer_ip_burst=2,
                      viewer_ip_rate_per_s=1.0)
    # what the client claimed, then the address our proxy saw: only the latter counts
    proxied = {"X-Forwarded-For": "198.51.100.1, 203.0.113.5"}
    assert (await w.one.post("/api/v1/viewers", {"nickname": "a"}, headers=proxied)).status == 201
    assert (await w.two.post("/api/v1/viewers", {"nickname": "b"}, headers=proxied)).status == 201
    assert_rate_limited(await w.one.post("/api/v1/viewers", {"nickname": "c"},
                                         headers=proxied), 1.0)
    # the same claim from another address is another client, with its own bucket
    other = {"X-Forwarded-For": "198.51.100.1, 203.0.113.6"}
    assert (await w.two.post("/api/v1/viewers", {"nickname": "d"}, headers=other)).status == 201
    w.clock.advance(1)
    assert (await w.one.post("/api/v1/viewers", {"nickname": "e"}, headers=proxied)).status == 201


async def test_an_ipv6_subscriber_is_one_address_per_64(workers: Callable[..., Any]) -> None:
    w = await workers(trusted_proxies=("127.0.0.1",), viewer_ip_burst=2)
    for i, address in enumerate(("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:3::1",
                                 "2001:db8:1:2::abcd")):
        r = await w.one.post("/api/v1/viewers", {"nickname": "v"},
                             headers={"X-Forwarded-For": address})
        assert r.status == (429 if i == 3 else 201), (address, r.body)


async def test_orders_are_limited_per_viewer(workers: Callable[..., Any]) -> None:
    w = await workers(order_burst=2, order_rate_per_s=1.0)
    host = await w.one.host()
    room = await w.one.room(host, products=1)
    pid = room["shelf"][0]["id"]
    buyer, neighbour = await w.one.viewer(), await w.one.viewer()
    assert (await order(w.one, buyer, room["id"], [(pid, 1)])).status == 201
    assert (await order(w.two, buyer, room["id"], [(pid, 1)])).status == 201
    refused = await order(w.one, buyer, room["id"], [(pid, 1)], key="third")
    assert_rate_limited(refused, 1.0)
    assert (await order(w.two, neighbour, room["id"], [(pid, 1)])).status == 201
    w.clock.advance(1)
    # the 429 was not stored as the key's answer: the retry places the order
    again = await order(w.two, buyer, room["id"], [(pid, 1)], key="third")
    assert again.status == 201, again.body
    listed = await w.one.get(f"/api/v1/orders?room_id={room['id']}", token=buyer.token)
    assert len(listed["orders"]) == 3


async def test_defaults_let_an_honest_flash_sale_buyer_through(
        workers: Callable[..., Any]) -> None:
    w = await workers()
    host = await w.one.host()
    room = await w.one.room(host, products=1)
    pid = room["shelf"][0]["id"]
    viewers = [await w.one.viewer() for _ in range(30)]  # one shop's Wi-Fi, say
    buyer = viewers[0]
    for i in range(6):  # a buyer hammering "buy" and retrying
        r = await order(w.one if i % 2 else w.two, buyer, room["id"], [(pid, 1)])
        assert r.status == 201, (i, r.body)
    for _ in range(5):
        assert (await sign_in(w.one, host.name)).status == 200
