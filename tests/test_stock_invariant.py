"""Property: whatever the sequence of buy, pay, cancel, expire, refund, sale start and
end, per product: free stock + remaining of sales not ended + units of pending or
paid orders == every unit ever made available, and none is negative (so sold +
pending never exceeds what was made available)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from live.app import create_app
from live.clock import FakeClock
from live.settings import Settings
from tests.commerce_helpers import PICKUP, run_jobs
from tests.helpers import Actor, Api


class Shop(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    api: Api
    app: Any
    clock: FakeClock

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @initialize()
    def open_shop(self) -> None:
        api = self.api
        self.host = self.run(api.host())
        self.room = self.run(api.room(self.host, products=1, stock=6, price_cents=1000))
        self.pid = self.room["shelf"][0]["id"]
        self.available = 6
        self.viewers: list[Actor] = [self.run(api.viewer()) for _ in range(3)]
        self.orders: dict[str, Actor] = {}
        self.sale_id: str | None = None

    async def _buy(self, v: int, q: int) -> None:
        r = await self.api.post("/api/v1/orders", {
            "room_id": self.room["id"], "items": [{"product_id": self.pid, "quantity": q}],
            "fulfilment": PICKUP}, token=self.viewers[v].token,
            headers={"Idempotency-Key": secrets.token_hex(6)})
        assert r.status in (201, 409, 422), r.body
        assert r.code in (None, "sold_out", "limit_exceeded"), r.body
        if r.status == 201:
            self.orders[r["id"]] = self.viewers[v]

    @rule(v=st.integers(0, 2), q=st.integers(1, 3))
    def buy(self, v: int, q: int) -> None:
        self.run(self._buy(v, q))

    @rule(buyers=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3)),
                          min_size=2, max_size=6))
    def rush(self, buyers: list[tuple[int, int]]) -> None:
        """Several orders at once: while a sale runs they meet in flash-lane
        batches (the same viewer several times in one batch, some too late)."""
        async def all_at_once() -> None:
            await asyncio.gather(*(self._buy(v, q) for v, q in buyers))
        self.run(all_at_once())

    @precondition(lambda self: bool(self.orders))
    @rule(i=st.integers(0, 50), verb=st.sampled_from(["pay", "cancel", "refund"]))
    def act(self, i: int, verb: str) -> None:
        order_id = sorted(self.orders)[i % len(self.orders)]
        token = self.host.token if verb == "refund" else self.orders[order_id].token
        r = self.run(self.api.post(f"/api/v1/orders/{order_id}/{verb}", token=token))
        assert r.status in (200, 409), r.body

    @rule()
    def expire_unpaid(self) -> None:
        self.clock.advance(901)
        self.run(run_jobs(self.app))

    @rule(q=st.integers(1, 8), limit=st.integers(1, 3), duration=st.integers(1, 2000))
    def start_sale(self, q: int, limit: int, duration: int) -> None:
        r = self.run(self.api.post(f"/api/v1/rooms/{self.room['id']}/flash-sales", {
            "product_id": self.pid, "price_cents": 500, "quantity": q,
            "per_user_limit": limit, "start_in_s": 0, "duration_s": duration},
            token=self.host.token))
        assert r.status in (201, 409), r.body
        if r.status == 201:
            self.sale_id = r["id"]
            self.sale_limit = limit

    @precondition(lambda self: self.sale_id is not None)
    @rule()
    def end_sale(self) -> None:
        r = self.run(self.api.post(f"/api/v1/flash-sales/{self.sale_id}/end",
                                   token=self.host.token))
        assert r.status in (200, 409)

    @rule(add=st.integers(0, 3))
    def restock(self, add: int) -> None:
        stock = self.run(self.api.get(f"/api/v1/products/{self.pid}"))["stock"]
        r = self.run(self.api.patch(f"/api/v1/products/{self.pid}", {"stock": stock + add},
                                    token=self.host.token))
        assert r.status == 200
        self.available += add

    @invariant()
    def units_are_conserved(self) -> None:
        if not hasattr(self, "pid"):
            return
        api = self.api
        stock = self.run(api.get(f"/api/v1/products/{self.pid}"))["stock"]
        snap = self.run(api.get(f"/api/v1/rooms/{self.room['id']}"))
        remaining = sum(s["remaining"] for s in snap["flash_sales"])
        orders = self.run(api.get(f"/api/v1/orders?room_id={self.room['id']}&limit=1000",
                                  token=self.host.token))["orders"]
        held = sum(i["quantity"] for o in orders if o["status"] in ("pending_payment", "paid")
                   for i in o["items"])
        assert stock >= 0 and remaining >= 0
        assert stock + remaining + held == self.available, (stock, remaining, held)
        if self.sale_id is not None:  # nobody holds more of a sale than its per-person limit
            per_viewer: dict[str, int] = {}
            for o in orders:
                if o["status"] in ("pending_payment", "paid"):
                    for i in o["items"]:
                        if i["flash_sale_id"] == self.sale_id:
                            per_viewer[o["viewer_id"]] = (per_viewer.get(o["viewer_id"], 0)
                                                          + i["quantity"])
            assert all(n <= self.sale_limit for n in per_viewer.values()), per_viewer


def test_stock_is_conserved_under_random_sequences(make_settings: Callable[..., Settings]
                                                   ) -> None:
    loop = asyncio.new_event_loop()
    clock = FakeClock()
    # order_burst=0: a sequence may have one viewer buy 25 times at one FakeClock instant;
    # the rate limit is tested in test_rate_limits.py, stock conservation here
    app = create_app(make_settings(payment_timeout_s=900, order_burst=0), clock=clock,
                     run_timers=False)
    client: TestClient = TestClient(TestServer(app), loop=loop)  # type: ignore[type-arg]
    loop.run_until_complete(client.start_server())
    try:
        Shop.loop, Shop.api, Shop.app, Shop.clock = loop, Api(client), app, clock
        run_state_machine_as_test(Shop, settings=settings(
            max_examples=12, stateful_step_count=25, deadline=None,
            suppress_health_check=list(HealthCheck)))
    finally:
        loop.run_until_complete(client.close())
        loop.close()
