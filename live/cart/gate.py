"""The production stock gate: one Redis Lua script per purchase attempt on a hot
flash sale (check the per-user limit and `remaining`, decrement, record the buyer).

The gate only turns buyers away early; the database stays the ledger of record
and its conditional UPDATE still runs for every order the gate lets through, so
a stale or lost gate can never oversell: at worst it lets a few extra requests
reach the database, which refuses them. The gate is compensated when the
database transaction does not keep what it let through, reloaded from the
database at start-up and whenever the script finds its keys missing (Redis
restarted or flushed), and dropped when a sale ends.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy import select

from live import keys
from live.cart.models import FlashBuyer, FlashSale
from live.redis_scripts import script_batcher

log = logging.getLogger("live.cart.gate")

ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -3 end
local q = tonumber(ARGV[2])
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if held + q > tonumber(ARGV[3]) then return -1 end
local rem = tonumber(redis.call('GET', KEYS[1]))
if rem < q then return -2 end
redis.call('DECRBY', KEYS[1], q)
if redis.call('HINCRBY', KEYS[2], ARGV[1], q) == q then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
end
return rem - q
"""

RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -3 end
local q = tonumber(ARGV[2])
redis.call('INCRBY', KEYS[1], q)
if redis.call('HINCRBY', KEYS[2], ARGV[1], -q) <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
return 1
"""

# ARGV: force (0|1), remaining, ttl seconds, then viewer, quantity pairs.
LOAD = """
if ARGV[1] == '0' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if #ARGV >= 4 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
return 1
"""


class Verdict(StrEnum):
    OK = "ok"
    LIMIT_EXCEEDED = "limit_exceeded"
    SOLD_OUT = "sold_out"
    UNAVAILABLE = "unavailable"  # Redis down or the sale not running: the database decides


class StockGate:
    def __init__(self, app: web.Application, redis: Any) -> None:
        self.app = app
        self.redis: Any = redis
        self.prefix = app[keys.SETTINGS].redis_prefix
        # Purchase attempts in flight together pass the gate in one command.
        self._acquire = script_batcher(self.redis, ACQUIRE)
        self._release = self.redis.register_script(RELEASE)
        self._load = self.redis.register_script(LOAD)

    def keys_of(self, sale_id: str) -> list[str]:
        return [f"{self.prefix}flash:{{{sale_id}}}:remaining",
                f"{self.prefix}flash:{{{sale_id}}}:buyers"]

    async def acquire(self, sale_id: str, viewer_id: str, quantity: int,
                      per_user_limit: int) -> Verdict:
        try:
            for _attempt in range(2):
                result = int(await self._acquire((self.keys_of(sale_id),
                                                  [viewer_id, quantity, per_user_limit])))
                if result == -3:  # keys missing: Redis restarted, flushed, or first use
                    if not await self.load(sale_id, force=False):
                        return Verdict.UNAVAILABLE
                    continue
                if result == -1:
                    return Verdict.LIMIT_EXCEEDED
                if result == -2:
                    return Verdict.SOLD_OUT
                return Verdict.OK
        except RedisError:
            log.warning("stock gate unavailable sale_id=%s; the database decides", sale_id)
        return Verdict.UNAVAILABLE

    async def release(self, sale_id: str, viewer_id: str, quantity: int) -> None:
        """Give units back (a failed transaction, a cancel/expiry/refund). A missing
        key means the gate will be rebuilt from the database, which has them."""
        try:
            await self._release(keys=self.keys_of(sale_id), args=[viewer_id, quantity])
        except RedisError:
            log.warning("stock gate release failed sale_id=%s", sale_id)

    async def load(self, sale_id: str, *, force: bool) -> bool:
        """(Re)build a running sale's keys from the database; False if it is not running."""
        async with self.app[keys.SESSIONS]() as session:
            sale = await session.get(FlashSale, sale_id)
            if sale is None or sale.status != "running":
                return False
            buyers = (await session.execute(
                select(FlashBuyer.viewer_id, FlashBuyer.quantity)
                .where(FlashBuyer.flash_sale_id == sale_id, FlashBuyer.quantity > 0))).all()
            remaining, ends_at = sale.remaining, sale.ends_at
        now: datetime = self.app[keys.CLOCK].now()
        ttl = max(60, int((ends_at - now).total_seconds()) + 3600)
        args: list[Any] = [1 if force else 0, remaining, ttl]
        for viewer_id, quantity in buyers:
            args += [viewer_id, quantity]
        await self._load(keys=self.keys_of(sale_id), args=args)
        return True

    async def drop(self, sale_id: str) -> None:
        try:
            await self.redis.delete(*self.keys_of(sale_id))
        except RedisError:
            log.warning("stock gate drop failed sale_id=%s", sale_id)

    async def reconcile(self) -> int:
        """Rebuild every running sale's keys from the database (start-up)."""
        async with self.app[keys.SESSIONS]() as session:
            ids = (await session.scalars(
                select(FlashSale.id).where(FlashSale.status == "running"))).all()
        for sale_id in ids:
            try:
                await self.load(sale_id, force=True)
            except RedisError:
                log.warning("stock gate reconcile failed sale_id=%s", sale_id)
        return len(ids)


async def gate_ctx(app: web.Application) -> Any:
    """cleanup_ctx: with Redis, a stock gate reconciled from the database at start-up."""
    if app[keys.REDIS] is None:
        yield
        return
    redis = _unretried_client(app)
    gate = StockGate(app, redis)
    app[keys.STOCK_GATE] = gate
    try:
        await gate.reconcile()
    except RedisError:
        log.warning("stock gate reconcile at start-up failed; keys load on first use")
    yield
    await redis.aclose()


def _unretried_client(app: web.Application) -> Any:
    """The gate's own Redis client, which never re-sends a command.

    The app's client retries on a connection error (after a Redis restart every
    pooled connection is dead), re-sending commands whose reply was lost —
    and with them a whole pipeline. ACQUIRE and RELEASE are not idempotent:
    run twice, a buyer would count twice against their limit (a wrong
    `limit_exceeded`) and units would be stranded in the gate. A gate command
    that fails is answered `UNAVAILABLE` instead, and the database decides."""
    import redis.asyncio as aioredis

    from live.metrics import timed_redis_class

    url = app[keys.SETTINGS].redis_url
    assert url, "the gate exists only with Redis"
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=16, timeout=20, health_check_interval=10)
    return timed_redis_class(app[keys.METRICS]).from_pool(pool)
