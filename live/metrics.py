"""Prometheus metrics, one registry per app (two apps in one test don't mix)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from live import keys


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter("live_http_requests", "HTTP requests",
                                     ["method", "route", "status"], registry=r)
        self.http_seconds = Histogram("live_http_request_seconds", "HTTP request latency",
                                      ["route"], registry=r)
        self.connections = Gauge("live_socket_connections", "Open Socket.IO connections",
                                 registry=r)
        self.rooms_active = Gauge("live_rooms_active", "Rooms with a tick on this worker",
                                  registry=r)
        self.events_published = Counter("live_events_published", "Room events published",
                                        ["type"], registry=r)
        self.frames = Counter("live_frames_emitted", "Frames emitted to rooms", registry=r)
        self.slow_clients_dropped = Counter(
            "live_slow_clients_dropped", "Connections dropped for not reading their frames",
            registry=r)
        self.frame_bytes = Histogram("live_frame_bytes", "Encoded frame size",
                                     buckets=(256, 1024, 4096, 16384, 65536, 262144),
                                     registry=r)
        self.tick_lag = Histogram("live_tick_lag_seconds", "Tick lateness",
                                  buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
                                  registry=r)
        self.orders = Counter("live_orders", "Orders by outcome", ["outcome"], registry=r)
        self.payment_failures = Counter("live_payment_failures", "Payment failures",
                                        registry=r)
        self.db_seconds = Histogram("live_db_seconds",
                                    "Database statements (every statement, and the health probe)",
                                    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1, 0.25, 1, 5),
                                    registry=r)
        self.redis_seconds = Histogram("live_redis_seconds", "Redis round trips (health probe)",
                                       registry=r)

        self.webhooks = Counter("live_webhook_deliveries", "Webhook delivery attempts by outcome",
                                ["outcome"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def instrument_engine(engine: Any, metrics: Metrics) -> None:
    """Time every statement the engine runs into `live_db_seconds`."""
    from sqlalchemy import event

    sync = engine.sync_engine

    @event.listens_for(sync, "before_cursor_execute")
    def _before(conn: Any, *_: Any) -> None:
        conn.info.setdefault("live_t0", []).append(time.perf_counter())

    @event.listens_for(sync, "after_cursor_execute")
    def _after(conn: Any, *_: Any) -> None:
        started = conn.info.get("live_t0")
        if started:
            metrics.db_seconds.observe(time.perf_counter() - started.pop())

    @event.listens_for(sync, "handle_error")
    def _error(ctx: Any) -> None:
        started = ctx.connection.info.get("live_t0") if ctx.connection is not None else None
        if started:
            started.pop()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        m = request.app[keys.METRICS]
        m.http_requests.labels(request.method, name, str(status)).inc()
        m.http_seconds.labels(name).observe(time.perf_counter() - start)
