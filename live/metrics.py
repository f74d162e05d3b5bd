"""Prometheus metrics, one registry per app (two apps in one test don't mix).

Where each is counted:
- `live_http_*`: the middleware below, by route pattern (never the raw path).
- `live_socket_connections`: realtime/sio.py connect / disconnect.
- `live_rooms_active`, `live_frames_emitted`, `live_tick_lag_seconds`:
  realtime/tick.py; `live_frame_bytes`: the Socket.IO transport's encoder.
- `live_events_published` (rate() of it is events/s): realtime/publish.py and
  the tick's state publisher, after the broker accepted them.
- `live_orders{outcome}`: `placed`/`refused` by the order endpoint; `paid`,
  `refunded`, `cancelled`, `expired` by order hooks, counted when their
  transaction commits (wherever it happens: endpoint, webhook, sweeper, 拼团).
- `live_payment_failures{reason}`: the pay endpoint and the payment webhook.
- `live_batch_size{batcher}`: requests per batch of the order endpoint's
  batchers (cart/batches.py: `reads`, `refusals`, `lane`).
- `live_db_seconds`: every statement (`instrument_engine`); `live_redis_seconds`:
  every command of the app's Redis client (`TimedRedis`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import event
from sqlalchemy.orm import Session

from live import keys
from live.logs import route_of


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
        self.payment_failures = Counter("live_payment_failures",
                                        "Payment attempts refused, by error code",
                                        ["reason"], registry=r)
        self.db_seconds = Histogram("live_db_seconds",
                                    "Database statements (every statement, and the health probe)",
                                    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1, 0.25, 1, 5),
                                    registry=r)
        self.redis_seconds = Histogram("live_redis_seconds", "Redis commands, by command",
                                       ["command"],
                                       buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                0.05, 0.1, 0.25, 1, 5),
                                       registry=r)

        self.batch_size = Histogram("live_batch_size",
                                    "Requests served together by one batch (live/batch.py)",
                                    ["batcher"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
                                    registry=r)
        self.webhooks = Counter("live_webhook_deliveries", "Webhook delivery attempts by outcome",
                                ["outcome"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def count_events(self, items: Sequence[Any]) -> None:
        """Events the broker accepted: `(type, data, state_key)` items."""
        for item in items:
            self.events_published.labels(item[0]).inc()

    def order_hooks(self) -> dict[str, Callable[[Any, Any, datetime], Awaitable[list[Any]]]]:
        """Order hooks (`OrderHooks.paid`, ...) counting outcomes once their
        transaction commits: a payment that rolls back counts nothing."""
        async def paid(session: Any, order: Any, now: datetime) -> list[Any]:
            on_commit(session, self.orders.labels("paid").inc)
            return []

        async def refunded(session: Any, order: Any, now: datetime) -> list[Any]:
            on_commit(session, self.orders.labels("refunded").inc)
            return []

        async def released(session: Any, order: Any, now: datetime) -> list[Any]:
            on_commit(session, self.orders.labels(order.status).inc)  # cancelled | expired
            return []

        return {"paid": paid, "refunded": refunded, "released": released}


# --- after-commit callbacks ---------------------------------------------------------

_ON_COMMIT = "live_on_commit"


def on_commit(session: Any, fn: Callable[[], None]) -> None:
    """Run `fn` after the session's transaction commits; drop it on rollback."""
    session.info.setdefault(_ON_COMMIT, []).append(fn)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for fn in session.info.pop(_ON_COMMIT, []):
        fn()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_ON_COMMIT, None)


# --- Redis ----------------------------------------------------------------------------

def timed_redis_class(metrics: Metrics) -> Any:
    """A `redis.asyncio.Redis` whose every command (scripts too) is timed into
    `live_redis_seconds`. Pub/sub reads are not commands and are not timed
    (they wait for messages by design)."""
    import redis.asyncio as aioredis

    class TimedRedis(aioredis.Redis):
        async def execute_command(self, *args: Any, **options: Any) -> Any:
            start = time.perf_counter()
            try:
                return await super().execute_command(  # type: ignore[no-untyped-call]
                    *args, **options)
            finally:
                name = str(args[0]).split(" ")[0].upper() if args else "?"
                metrics.redis_seconds.labels(name).observe(time.perf_counter() - start)

    return TimedRedis


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
        name = route_of(request)
        m = request.app[keys.METRICS]
        m.http_requests.labels(request.method, name, str(status)).inc()
        m.http_seconds.labels(name).observe(time.perf_counter() - start)
