"""Fault: Redis restarted (everything in it lost) in the middle of a flash sale.

Set-up: two `live serve` processes on one PostgreSQL database and a private
`redis-server`; a flash sale of 30 units, limit 1 per buyer; 90 buyers race
for them through both servers while Redis is killed and started again empty.
A buyer retries a 503 with the same Idempotency-Key, as the contract allows.

What is lost: nothing that was sold. The database is the ledger; the Redis
gate only turns buyers away early. While Redis is down orders go straight to
the database (or get 503 `over_capacity` when a Redis call fails under them);
never a 500. After the restart the gate rebuilds itself from the database on
the next attempt. Exactly the 30 units are sold, each to a different buyer,
never one more; every other buyer ends with 409 `sold_out`.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.commerce_helpers import PICKUP
from tests.fault_helpers import (
    PrivateRedis,
    Server,
    api_for,
    production,
    server_env,
    until,
)
from tests.helpers import Api

pytestmark = pytest.mark.slow

QUANTITY = 30
BUYERS = 90


@production
async def test_flash_sale_never_oversells_across_a_redis_restart(
        database_settings: dict[str, Any], tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    env = server_env(database_settings, tmp_path, redis.url)
    servers = [Server(env, tmp_path, name="a"), Server(env, tmp_path, name="b")]
    for s in servers:
        s.start()
    try:
        await asyncio.gather(*[s.healthy() for s in servers])
        async with api_for(servers[0].url) as api0, api_for(servers[1].url) as api1:
            apis = [api0, api1]
            host = await api0.host()
            room = await api0.room(host, products=1, stock=100)
            product_id = room["shelf"][0]["id"]
            r = await api0.post(f"/api/v1/rooms/{room['id']}/flash-sales", {
                "product_id": product_id, "price_cents": 990, "quantity": QUANTITY,
                "per_user_limit": 1, "start_in_s": 0, "duration_s": 600}, token=host.token)
            assert r.status == 201 and r["status"] == "running", r.body
            sale_id = r["id"]
            buyers = [await api0.viewer(f"买家{i}") for i in range(BUYERS)]

            answers: list[tuple[int, str | None]] = []  # every answer, retries too
            final: dict[str, tuple[int, str | None]] = {}

            async def buy(i: int, api: Api, delay: float) -> None:
                await asyncio.sleep(delay)
                key = secrets.token_hex(8)
                body = {"room_id": room["id"], "fulfilment": PICKUP,
                        "items": [{"product_id": product_id, "quantity": 1}]}
                for _ in range(100):
                    reply = await api.post("/api/v1/orders", body, token=buyers[i].token,
                                           headers={"Idempotency-Key": key})
                    answers.append((reply.status, reply.code))
                    if reply.status != 503:
                        final[buyers[i].id] = (reply.status, reply.code)
                        return
                    assert reply.body["error"]["retry_after_s"] >= 1
                    await asyncio.sleep(0.2)  # shorter than Retry-After: a bounded test
                raise AssertionError("503 for 20 s after Redis came back")

            # buyers arrive over a few seconds; Redis dies once the sale is under
            # way and stays down until several buyers have been answered without it
            racing = asyncio.gather(*[buy(i, apis[i % 2], delay=i * 0.15)
                                      for i in range(BUYERS)])
            await until(lambda: sum(a == (201, None) for a in answers) >= 5, 60)
            redis.kill()
            at_kill = len(answers)
            await until(lambda: len(answers) >= at_kill + 10, 60)
            answered_without_redis = answers[at_kill:]
            redis.start()  # empty: the gate's keys are gone
            await racing
            assert any(a == (201, None) for a in answered_without_redis), \
                answered_without_redis  # the database sold on its own meanwhile

            # every answer is a contract answer; no 500
            assert {a for a in answers} <= {(201, None), (409, "sold_out"),
                                            (503, "over_capacity")}, answers
            assert len(final) == BUYERS
            sold = [v for v, (status, _) in final.items() if status == 201]
            assert len(sold) == QUANTITY  # demand is 3x supply: all sold, none twice
            assert all(a == (409, "sold_out") for v, a in final.items() if v not in sold)

            # the ledger: sold + pending <= quantity (here: exactly), one per buyer
            orders = (await api0.get(f"/api/v1/orders?room_id={room['id']}&limit=1000",
                                     token=host.token))["orders"]
            live_orders = [o for o in orders if o["status"] in ("pending_payment", "paid")]
            assert sum(i["quantity"] for o in live_orders for i in o["items"]) == QUANTITY
            assert sorted(o["viewer_id"] for o in live_orders) == sorted(sold)
            sale = (await api0.get(f"/api/v1/flash-sales/{sale_id}")).body
            assert sale["remaining"] == 0
            assert (await api0.get(f"/api/v1/products/{product_id}"))["stock"] == 100 - QUANTITY

            # the gate rebuilt itself from the database after the restart: its keys
            # exist again, it knows the buyers, and it refuses at once now
            client = aioredis.from_url(redis.url)
            try:
                prefix = env["LIVE_REDIS_PREFIX"]
                remaining = await client.get(f"{prefix}flash:{{{sale_id}}}:remaining")
                assert remaining is not None and int(remaining) >= 0
                held = await client.hgetall(f"{prefix}flash:{{{sale_id}}}:buyers")
                assert held, "the gate's buyers were not rebuilt"
            finally:
                await client.aclose()
            late = await api1.viewer("迟到的")
            reply = await api1.post("/api/v1/orders", {
                "room_id": room["id"], "fulfilment": PICKUP,
                "items": [{"product_id": product_id, "quantity": 1}]},
                token=late.token, headers={"Idempotency-Key": "late"})
            assert (reply.status, reply.code) == (409, "sold_out")
    finally:
        for s in servers:
            s.stop()
        redis.kill()
