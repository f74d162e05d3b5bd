"""Fault: the server's PostgreSQL connections are dropped (a database restart,
a failover, a proxy that cuts idle connections).

Set-up: one `live serve` on PostgreSQL and a private Redis. Its connections
carry `application_name = live/<pid>`; the test terminates exactly those
backends (`pg_terminate_backend`), never another session's.

What is lost: nothing. Connections that died idle in the pool are replaced
before use (pre-ping), so the next requests simply work. A request whose
connection dies under it is rolled back and answered 503 `over_capacity`
(never 500); retried with the same Idempotency-Key it places its order
exactly once. Every order that was answered 201 is there afterwards, and the
units add up: free stock + units in orders = the stock the host made.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.commerce_helpers import PICKUP
from tests.fault_helpers import PrivateRedis, Server, api_for, production, server_env

pytestmark = pytest.mark.slow

STOCK = 1000
SALE = 500


async def terminate_backends_of(dsn: str, pid: int) -> int:
    """Terminate the backends of server process `pid` only; returns how many."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND datname = current_database() "
            "AND pid <> pg_backend_pid()", f"live/{pid}")
        return len(rows)
    finally:
        await conn.close()


@production
@pytest.mark.parametrize("flash", [False, True], ids=["free-stock", "flash-lane"])
async def test_dropped_database_connections_lose_nothing_and_never_500(
        database_settings: dict[str, Any], tmp_path: Path, flash: bool) -> None:
    """`flash-lane`: the product is in a running flash sale, so the orders go
    through the Redis gate and the flash lane's batches, whose transactions
    are cut too (a batch that fails hands its orders to the full path)."""
    dsn = database_settings["database_url"].replace("postgresql+asyncpg://", "postgresql://")
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    server = Server(server_env(database_settings, tmp_path, redis.url), tmp_path)
    server.start()
    try:
        await server.healthy()
        pid = server.pids()[0]
        async with api_for(server.url) as api:
            host = await api.host()
            room = await api.room(host, products=1, stock=STOCK)
            product_id = room["shelf"][0]["id"]
            sale_id = None
            if flash:
                r = await api.post(f"/api/v1/rooms/{room['id']}/flash-sales", {
                    "product_id": product_id, "price_cents": 990, "quantity": SALE,
                    "per_user_limit": 100, "start_in_s": 0, "duration_s": 3600},
                    token=host.token)
                assert r.status == 201, r.body
                sale_id = r["id"]
            viewers = [await api.viewer(f"买家{i}") for i in range(20)]

            # 1. idle connections dropped: the very next requests just work
            assert await terminate_backends_of(dsn, pid) >= 1
            assert (await api.get(f"/api/v1/rooms/{room['id']}")).status == 200
            assert (await api.get("/healthz")).status == 200

            # 2. connections dropped again and again under load
            answers: list[tuple[int, str | None]] = []
            placed: dict[str, str] = {}  # idempotency key -> order id

            async def shopper(n: int) -> None:
                viewer = viewers[n % len(viewers)]
                for _ in range(5):
                    key = secrets.token_hex(8)
                    body = {"room_id": room["id"], "fulfilment": PICKUP,
                            "items": [{"product_id": product_id, "quantity": 2}]}
                    for _attempt in range(50):
                        r = await api.post("/api/v1/orders", body, token=viewer.token,
                                           headers={"Idempotency-Key": key})
                        answers.append((r.status, r.code))
                        if r.status == 201:
                            assert key not in placed
                            placed[key] = r["id"]
                            break
                        assert r.status == 503, r.body
                        await asyncio.sleep(0.1)
                    else:
                        raise AssertionError("503 for 5 s")
                    reads = await api.get(f"/api/v1/rooms/{room['id']}")
                    answers.append((reads.status, reads.code))

            async def cutter() -> int:
                cut = 0
                for _ in range(6):
                    await asyncio.sleep(0.3)
                    cut += await terminate_backends_of(dsn, pid)
                return cut

            results = await asyncio.gather(cutter(), *[shopper(n) for n in range(20)])
            assert results[0] >= 6  # connections really were cut under load
            assert {a for a in answers} <= {(200, None), (201, None), (503, "over_capacity")}, \
                sorted({a for a in answers})

            # nothing lost, nothing twice
            assert len(placed) == 100
            orders = (await api.get(f"/api/v1/orders?room_id={room['id']}&limit=1000",
                                    token=host.token))["orders"]
            assert sorted(o["id"] for o in orders) == sorted(placed.values())
            units = sum(i["quantity"] for o in orders for i in o["items"])
            assert units == 200
            stock = (await api.get(f"/api/v1/products/{product_id}"))["stock"]
            if sale_id is None:
                assert stock == STOCK - units
            else:  # the sale's units came off free stock when it was made
                assert all(i["flash_sale_id"] == sale_id for o in orders for i in o["items"])
                left = (await api.get(f"/api/v1/flash-sales/{sale_id}"))["remaining"]
                assert (stock, left) == (STOCK - SALE, SALE - units)
            assert (await api.get("/healthz")).status == 200
    finally:
        server.stop()
        redis.kill()
