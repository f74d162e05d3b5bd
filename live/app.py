"""The application factory: everything the server is, built in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from live import keys
from live.accounts.http import routes as account_routes
from live.api import install, principal_batcher
from live.chat.http import routes as chat_routes
from live.cart import batches as cart_batches
from live.cart import service as cart_service
from live.cart import sweepers as cart_sweepers
from live.cart.gate import gate_ctx
from live.cart.hooks import OrderHooks
from live.cart.http import routes as cart_routes
from live.clock import Clock, SystemClock
from live.db import database
from live.errors import error_middleware
from live.growth.http import routes as growth_routes
from live.growth.setup import setup as setup_growth
from live.jobs import Jobs, run_jobs
from live.metrics import Metrics, metrics_middleware, timed_redis_class
from live.pages import add_page_routes
from live.realtime.broker import Broker
from live.realtime.memory import MemoryBroker
from live.realtime.ratelimit import MemoryLimiter, RedisLimiter
from live.realtime.sio import attach_socketio
from live.rooms import service as rooms_service
from live.rooms.http import routes as room_routes
from live.settings import Settings
from live.share.http import register as register_share
from live.share.http import routes as share_routes
from live.system import OPENAPI, build_openapi
from live.system import routes as system_routes
from live.stats import http as stats_http
from live.video import http as video_http
from live.webhooks import delivery as webhooks_delivery
from live.webhooks.http import routes as webhook_routes

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def create_app(settings: Settings, *, clock: Clock | None = None,
               run_timers: bool = True) -> web.Application:
    """Build the server. Synchronous; resources open in cleanup contexts.

    `run_timers=False` keeps periodic jobs from running by themselves: tests
    drive them with `app[keys.JOBS].run_all(app)` after moving a FakeClock.
    """
    settings = settings.resolved()
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[metrics_middleware, error_middleware])
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock or SystemClock()
    app[keys.METRICS] = Metrics()
    app[keys.JOBS] = Jobs(enabled=run_timers)
    app[keys.PRINCIPALS] = principal_batcher(app)
    app[keys.SNAPSHOT_PARTS] = [rooms_service.snapshot_part, cart_service.snapshot_part]
    app[keys.STATUS_HOOKS] = [cart_service.end_room_sales]
    app[keys.JOIN_HOOKS] = []
    app[keys.REDIS] = None
    app[keys.ORDER_HOOKS] = OrderHooks()
    for name, hook in app[keys.METRICS].order_hooks().items():
        getattr(app[keys.ORDER_HOOKS], name).append(hook)
    app[keys.STOCK_GATE] = None
    cart_sweepers.register(app[keys.JOBS])
    cart_batches.register(app)

    register_share(app)

    endpoints = install(app, [system_routes, account_routes, room_routes, chat_routes,
                              cart_routes,
                              share_routes,
                              webhook_routes, stats_http.routes, growth_routes,
                              video_http.routes])
    build_openapi(app, endpoints)
    video_http.document(app[OPENAPI])
    webhooks_delivery.register(app)
    stats_http.register(app)
    setup_growth(app)
    if STATIC_DIR.is_dir():
        add_page_routes(app, STATIC_DIR)
        app.router.add_static("/static/", STATIC_DIR, name="static")

    # Order matters: a resource outlives its users (jobs stop before the broker
    # and the database close).
    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(limiter_ctx)
    app.cleanup_ctx.append(gate_ctx)
    app.cleanup_ctx.append(broker_ctx)
    attach_socketio(app)  # Socket.IO routes, snapshot part, counters job, room ticks
    app.cleanup_ctx.append(run_jobs)
    video_http.setup(app)  # the relay closes its peer connections before the rest
    return app


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """Production mode: one Redis client per worker (None when embedded)."""
    url = app[keys.SETTINGS].redis_url
    if not url:
        yield
        return
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    # A blocking pool: a burst of concurrent commands (likes, presence, rate
    # limits) waits for a connection instead of failing with "Too many connections".
    # Connection errors are retried on a fresh connection (three times, within
    # about a second): after Redis restarts, every pooled connection is dead and
    # would otherwise fail one command each. Redis still down after that: the
    # error reaches the caller, which answers 503 `over_capacity`.
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=64, timeout=20, health_check_interval=10,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3))
    client = timed_redis_class(app[keys.METRICS]).from_pool(pool)
    app[keys.REDIS] = client
    yield
    await client.aclose()


async def limiter_ctx(app: web.Application) -> AsyncIterator[None]:
    """Token buckets for chat, likes, sign-ins and orders: in Redis when there
    is one (every worker counts against the same bucket), else in memory."""
    redis = app[keys.REDIS]
    app[keys.LIMITER] = (RedisLimiter(redis, app[keys.SETTINGS].redis_prefix)
                         if redis is not None else MemoryLimiter())
    yield


async def broker_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    broker: Broker
    if app[keys.REDIS] is not None:
        from live.realtime.redis import RedisBroker

        broker = RedisBroker(app[keys.REDIS], settings.redis_prefix,
                             history_max=settings.history_max,
                             history_max_age_s=settings.history_max_age_s)
    else:
        broker = MemoryBroker(settings.history_max, settings.history_max_age_s)
    await broker.start()
    app[keys.BROKER] = broker
    yield
    await broker.close()
