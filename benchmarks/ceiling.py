"""Ceiling: the most this machine gives a flash.py-shaped burst, before any business logic.

    .venv/bin/python benchmarks/ceiling.py --mode embedded
    .venv/bin/python benchmarks/ceiling.py --mode production --workers 2

N warm keep-alive connections (default 2,000, as flash.py's buyers: each opened
and used once before the burst, `rawhttp.py`) send one request each, all at
once, to each target in turn:

- `GET /api/v1/nope`: no route, so a 404 from the error middleware: aiohttp,
  our middlewares and the client, with no database;
- `GET /healthz`: the same plus one database query (`SELECT 1`) and, in
  production, one Redis ping.

`embedded`: one `live serve` process on SQLite; `production`: `live serve
--workers W` on PostgreSQL and Redis (`launch.py`). Each target is released
`--rounds` times on the same connections; prints requests/s and latency
percentiles per round as JSON. No order path does better than these on the
same machine, so read flash.py's numbers against them. Only 127.0.0.1 is
loaded; everything is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import rawhttp
from launch import live_server

TARGETS = {"unrouted": "/api/v1/nope", "healthz": "/healthz"}


async def wait_healthy(base: str, timeout_s: float = 120) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        try:
            (await rawhttp.open_warm(base, "/healthz")).close()
            return
        except (OSError, RuntimeError):  # not listening yet, or not ready (503)
            await asyncio.sleep(0.25)
    raise SystemExit("server did not come up")


def summary(wall: float, answers: list[rawhttp.Answer], cpu_s: float) -> dict[str, Any]:
    latencies = sorted(a.latency_s for a in answers)

    def pct(p: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)

    statuses = Counter(str(a.status) if a.status else f"client error {a.error}" for a in answers)
    return {"requests_per_s": round(len(answers) / wall, 1), "wall_s": round(wall, 3),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(1000 * latencies[-1], 1),
            "statuses": dict(statuses),
            "server_cpu_ms_per_request": round(1000 * cpu_s / len(answers), 3)}


async def run(base: str, n: int, rounds: int,
              server_cpu: Callable[[], float]) -> dict[str, Any]:
    await wait_healthy(base)
    conns = await rawhttp.open_many(base, n, "/healthz")
    try:
        result: dict[str, Any] = {}
        for name, path in TARGETS.items():
            result[name] = []
            for _ in range(rounds):
                requests = [(conn, conn.prepare("GET", path)) for conn in conns]
                cpu_before = server_cpu()
                _, wall, answers = await rawhttp.burst(requests)
                result[name].append(summary(wall, answers, server_cpu() - cpu_before))
                await asyncio.sleep(0.5)  # separate bursts: work the server defers does not overlap
        return result
    finally:
        for conn in conns:
            conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["embedded", "production"], default="embedded")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("-n", "--connections", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not (1 <= args.connections <= 5000 and 1 <= args.rounds <= 10):
        raise SystemExit("--connections 1..5000, --rounds 1..10")

    with live_server(args.mode, args.workers) as server:
        result = asyncio.run(asyncio.wait_for(
            run(server.base, args.connections, args.rounds, server.cpu), timeout=600))
    print(json.dumps({"mode": args.mode,
                      "workers": args.workers if args.mode == "production" else 1,
                      "client": "raw keep-alive", "connections": args.connections,
                      "targets": {name: f"GET {path}" for name, path in TARGETS.items()},
                      **result}, indent=2))


if __name__ == "__main__":
    main()
