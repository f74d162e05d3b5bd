"""Flash-sale benchmark: N concurrent buyers against a sale of Q units.

    .venv/bin/python benchmarks/flash.py --mode embedded
    .venv/bin/python benchmarks/flash.py --mode production --workers 2

`embedded`: one `live serve` process, SQLite, in-process broker.
`production`: `live serve --workers W` on PostgreSQL (a fresh database, dropped
afterwards) and Redis (a unique key prefix, deleted afterwards): the Redis stock
gate is on.

Every buyer is a distinct viewer ordering one unit with its own Idempotency-Key,
all released at once. Each buyer has its own keep-alive connection, opened and
used once (the sale card's GET) before the burst, and its request's bytes are
built before the clock starts (`rawhttp.py`): a buyer's browser already holds a
connection to the API when the sale opens, and a lean client leaves the two
cores to the server. Set-up (host, room, sale, viewers) goes through aiohttp.
Reports accepted orders, oversold units (must be 0:
checked against the database through the API), accepted orders per second over
the burst, and latency percentiles. Only 127.0.0.1 is loaded; everything is
bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
import rawhttp
from launch import live_server


async def wait_healthy(http: aiohttp.ClientSession, base: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            async with http.get(f"{base}/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.25)
    raise SystemExit("server did not come up")


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None,
               token: str | None = None) -> tuple[int, Any]:
    h = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, json=body, headers=h) as r:
        return r.status, await r.json(content_type=None)


async def bounded(n: int, make: Any, concurrency: int = 50) -> list[Any]:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Any:
        async with sem:
            return await make(i)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def label(answer: rawhttp.Answer) -> str:
    """"201", or the status and the error's contract code ("409 sold_out")."""
    if answer.status == 0:
        return f"client error {answer.error}"
    if answer.status == 201:
        return "201"
    try:
        code = json.loads(answer.body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None  # not our error document (a proxy's page, say): the status says it
    return f"{answer.status} {code}"


async def run(base: str, buyers: int, quantity: int,
              server_cpu: Callable[[], float]) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        await wait_healthy(http, base)
        s, host = await call(http, "POST", f"{base}/api/v1/accounts", {
            "name": f"bench-{secrets.token_hex(4)}", "password": "password-123",
            "role": "host"})
        assert s == 201, host
        ht = host["token"]
        s, room = await call(http, "POST", f"{base}/api/v1/rooms", {"title": "秒杀压测"}, ht)
        s, product = await call(http, "POST", f"{base}/api/v1/products", {
            "title": "赣南脐橙 5斤", "price_cents": 3990, "stock": quantity * 2}, ht)
        await call(http, "PUT", f"{base}/api/v1/rooms/{room['id']}/shelf",
                   {"product_ids": [product["id"]]}, ht)
        await call(http, "POST", f"{base}/api/v1/rooms/{room['id']}/status",
                   {"status": "live"}, ht)
        s, sale = await call(http, "POST", f"{base}/api/v1/rooms/{room['id']}/flash-sales", {
            "product_id": product["id"], "price_cents": 990, "quantity": quantity,
            "per_user_limit": 1, "start_in_s": 0, "duration_s": 3600}, ht)
        assert s == 201 and sale["status"] == "running", sale

        async def viewer(i: int) -> str:
            s, v = await call(http, "POST", f"{base}/api/v1/viewers", {"nickname": f"买家{i}"})
            assert s == 201, v
            return str(v["token"])

        tokens = await bounded(buyers, viewer)
        # Each buyer's own keep-alive connection, already used once to show the
        # sale card, as a browser's is by the time its user taps "buy": the burst
        # then costs the server requests, not ~2,000 TCP handshakes, and the lean
        # client leaves the CPU to the server (aiohttp's client costs about as
        # much per request as the server does).
        conns = await rawhttp.open_many(base, buyers, f"/api/v1/flash-sales/{sale['id']}")
        try:
            body = {"room_id": room["id"],
                    "items": [{"product_id": product["id"], "quantity": 1}],
                    "fulfilment": {"kind": "pickup", "point": "阳光小区3号楼"}}
            requests = [(conn, conn.prepare("POST", "/api/v1/orders", body, {
                "Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(8)}))
                for conn, token in zip(conns, tokens, strict=True)]
            cpu_before = server_cpu()
            t_start, wall, answers = await rawhttp.burst(requests)
            cpu_burst = server_cpu() - cpu_before
        finally:
            for conn in conns:
                conn.close()
        statuses = Counter(label(a) for a in answers)
        latencies = [a.latency_s for a in answers]
        accepted_at = [a.done_at for a in answers if a.status == 201]

        s, after = await call(http, "GET", f"{base}/api/v1/flash-sales/{sale['id']}")
        s, orders = await call(http, "GET",
                               f"{base}/api/v1/orders?room_id={room['id']}&limit=1000", None, ht)
        sold_units = sum(i["quantity"] for o in orders["orders"] for i in o["items"]
                         if i["flash_sale_id"] == sale["id"])
        latencies.sort()

        def pct(p: float) -> float:
            return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)

        accepted = statuses.get("201", 0)
        accept_window = (max(accepted_at) - t_start) if accepted_at else wall
        return {
            "client": "raw keep-alive",
            "buyers": buyers, "quantity": quantity, "accepted": accepted,
            "orders_in_db": len(orders["orders"]), "sold_units_in_db": sold_units,
            "sale_remaining": after["remaining"],
            "oversold": max(0, sold_units - quantity) + max(0, -after["remaining"]),
            "statuses": dict(statuses), "wall_s": round(wall, 3),
            "accepted_orders_per_s": round(accepted / accept_window, 1) if accepted else 0,
            "requests_per_s": round(buyers / wall, 1),
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
            "max_ms": round(1000 * latencies[-1], 1),
            # the server's processes only (not PostgreSQL, Redis or this client)
            "server_cpu_ms_per_request": round(1000 * cpu_burst / buyers, 3),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["embedded", "production"], default="embedded")
    ap.add_argument("--buyers", type=int, default=2000)
    ap.add_argument("--quantity", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if not (1 <= args.buyers <= 5000 and 1 <= args.quantity <= args.buyers):
        raise SystemExit("--buyers 1..5000, --quantity 1..buyers")

    # every simulated buyer comes from 127.0.0.1: the per-address guest limit is off
    with live_server(args.mode, args.workers, {"LIVE_VIEWER_IP_BURST": "0"}) as server:
        result = asyncio.run(asyncio.wait_for(
            run(server.base, args.buyers, args.quantity, server.cpu),
                                              timeout=600))
    result = {"mode": args.mode, "workers": args.workers if args.mode == "production" else 1,
              **result}
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if result["oversold"]:
        raise SystemExit("OVERSOLD")


if __name__ == "__main__":
    main()
