"""Room stats latency with 100,000 paid orders (and some refunds) in one room.

    .venv/bin/python benchmarks/stats.py [--orders 100000] [--requests 300]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1/live_bench]

Seeds 10,000 distinct buyers, every 50th order refunded: the first
`--hook-orders` through the order hooks cart calls on payment and refund, the
rest as the counter rows those hooks leave (see `seed`), then times
`GET /api/v1/rooms/{id}/stats` over real HTTP on 127.0.0.1, one request at a
time. Prints p50/p95/p99/max in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import select

from live import keys
from live.accounts.models import Viewer
from live.app import create_app
from live.cart import hooks as order_hooks
from live.clock import FakeClock
from live.db import transaction
from live.settings import Settings
from live.stats import service
from live.stats.models import RoomStats, StatsBuyer, StatsIdentity, StatsMinute, StatsPerson


@dataclass
class Order:
    id: str
    room_id: str
    viewer_id: str
    total_cents: int
    leader_id: str | None = None
    status: str = "paid"
    items: list[Any] = field(default_factory=list)
    # read by growth's hooks (coupons, 拼团): these orders use neither
    coupon_claim_id: str | None = None
    group_id: str | None = None


async def seed(app: web.Application, room_id: str, viewers: list[str], n_orders: int,
               hook_orders: int, clock: FakeClock) -> tuple[int, int, int]:
    """The first `hook_orders` orders go through the order hooks one by one (the
    path a payment takes); the rest are added as the counter rows those hooks
    would leave (one row per buyer, person and minute), in bulk: on a shared
    2-core machine the hook path seeds ~10-100 orders/s, too slow for 100,000."""
    hooks = app[keys.ORDER_HOOKS]
    per_buyer: dict[str, list[int]] = {v: [0, 0] for v in viewers}
    minutes: dict[datetime, list[int]] = {}
    orders = gmv = refunds = 0
    for start in range(0, hook_orders, 500):
        async with transaction(app) as session:
            for n in range(start, min(start + 500, hook_orders)):
                o = Order(f"ord_bench_{n}", room_id, viewers[n % len(viewers)],
                          1000 + n % 9000)
                await order_hooks.run(hooks.paid, session, o, clock.now())
                if n % 50 == 0:
                    o.status = "refunded"
                    await order_hooks.run(hooks.refunded, session, o, clock.now())
        print(f"hook orders {min(start + 500, hook_orders)}/{hook_orders}", flush=True)
    for n in range(n_orders):
        viewer, total = viewers[n % len(viewers)], 1000 + n % 9000
        orders += 1
        gmv += total
        refunded = n % 50 == 0
        if refunded:
            orders -= 1
            gmv -= total
            refunds += 1
        if n >= hook_orders:
            b = per_buyer[viewer]
            b[0] += 0 if refunded else 1
            b[1] += 0 if refunded else total
            m = minutes.setdefault(clock.now().replace(second=0, microsecond=0)
                                   + timedelta(minutes=1 + n // 1000), [0, 0, 0])
            m[0] += 1
            m[1] += total
            m[2] += 1 if refunded else 0
    async with transaction(app) as session:
        room_row = await session.get(RoomStats, room_id)
        known = {b.viewer_id: b for b in (await session.scalars(
            select(StatsBuyer).where(StatsBuyer.room_id == room_id))).all()}
        people = set((await session.scalars(select(StatsPerson.person_id).where(
            StatsPerson.room_id == room_id))).all())
        new_buyers = 0
        for v, (cnt, cents) in per_buyer.items():
            if cnt == 0:
                continue
            row = known.get(v)
            if row is None:
                session.add(StatsBuyer(room_id=room_id, viewer_id=v, orders=cnt,
                                       gmv_cents=cents))
            else:
                new_buyers += row.orders == 0
                row.orders += cnt
                row.gmv_cents += cents
            if row is None:
                new_buyers += 1
            if f"w:{v}" not in people:
                session.add(StatsPerson(room_id=room_id, person_id=f"w:{v}", leader_id=None,
                                        stages=service.BIT["ordered"] | service.BIT["paid"],
                                        first_seen_at=clock.now()))
                session.add(StatsIdentity(room_id=room_id, identity=f"w:{v}",
                                          person_id=f"w:{v}"))
                people.add(f"w:{v}")
        for minute, (o, cents, r) in minutes.items():
            session.add(StatsMinute(room_id=room_id, minute=minute, visitors=0,
                                    peak_viewers=0, chat_messages=0, likes_total=0, orders=o,
                                    gmv_cents=cents, refunds=r))
        if room_row is None:
            room_row = RoomStats(room_id=room_id, visitors=0, chat_messages=0, orders=0,
                                 buyers=0, gmv_cents=0, refunds=0)
            session.add(room_row)
        room_row.visitors = len(people)
        room_row.buyers += new_buyers
        room_row.orders = orders
        room_row.gmv_cents = gmv
        room_row.refunds = refunds
    return orders, gmv, refunds


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None,
               token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, json=body, headers=headers) as r:
        assert r.status < 300, (r.status, await r.text())
        return await r.json()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--buyers", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--hook-orders", type=int, default=1000)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="live-bench-stats-"))
    settings = Settings(data_dir=tmp, database_url=args.database_url,
                        auto_migrate=True, secret="bench-secret-0123456789")
    clock = FakeClock(datetime(2026, 11, 24, 12, tzinfo=UTC))
    app = create_app(settings, clock=clock, run_timers=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        host = await call(http, "POST", f"{base}/api/v1/accounts",
                          {"name": f"bench-{port}", "password": "password-123",
                           "role": "host"})
        token = host["token"]
        room = await call(http, "POST", f"{base}/api/v1/rooms", {"title": "bench"}, token=token)
        room_id = room["id"]
        viewers = [f"vw_bench_{i}" for i in range(args.buyers)]
        async with transaction(app) as session:
            session.add_all(Viewer(id=v, nickname="b", created_at=clock.now()) for v in viewers)
        t0 = time.perf_counter()
        expected = await seed(app, room_id, viewers, args.orders, args.hook_orders, clock)
        seed_s = time.perf_counter() - t0
        expected_orders, expected_gmv, refunds = expected

        url = f"{base}/api/v1/rooms/{room_id}/stats"
        stats = await call(http, "GET", url, token=token)
        assert stats["orders"] == expected_orders, stats
        assert stats["gmv_cents"] == expected_gmv, stats
        assert stats["refunds"] == refunds, stats
        for _ in range(20):  # warm up
            await call(http, "GET", url, token=token)
        samples: list[float] = []
        baseline: list[float] = []  # the same server answering /healthz: the machine's noise
        for _ in range(args.requests):
            t = time.perf_counter()
            await call(http, "GET", url, token=token)
            samples.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await call(http, "GET", f"{base}/healthz")
            baseline.append((time.perf_counter() - t) * 1000)
    await runner.cleanup()
    samples.sort()
    baseline.sort()

    def pct(p: float, xs: list[float] | None = None) -> float:
        xs = samples if xs is None else xs
        return xs[min(len(xs) - 1, int(len(xs) * p))]

    backend = "postgresql" if args.database_url.startswith("postgresql") else "sqlite"
    print(f"backend={backend} orders={args.orders} buyers={stats['buyers']} "
          f"refunds={refunds} seed={seed_s:.0f}s")
    print(f"stats latency over {args.requests} requests: p50={pct(0.5):.2f} ms "
          f"p95={pct(0.95):.2f} ms p99={pct(0.99):.2f} ms max={samples[-1]:.2f} ms "
          f"mean={statistics.mean(samples):.2f} ms")
    print(f"baseline GET /healthz (one SELECT 1): p50={pct(0.5, baseline):.2f} ms "
          f"p95={pct(0.95, baseline):.2f} ms p99={pct(0.99, baseline):.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
