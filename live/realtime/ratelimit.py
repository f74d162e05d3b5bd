"""Token buckets per user and room: in memory (one worker) or in Redis (all).

`take(key, burst, rate_per_s, now_s)` spends one token and returns 0.0, or
returns the seconds until a token is back (the caller answers `rate_limited`
with `retry_after_s`). Time comes from the app clock, so tests move a FakeClock.
"""

from __future__ import annotations

import math
from typing import Any

from live.redis_scripts import script_batcher


class MemoryLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    async def take(self, key: str, burst: float, rate_per_s: float, now_s: float) -> float:
        tokens, at = self._buckets.get(key, (burst, now_s))
        tokens = min(burst, tokens + max(0.0, now_s - at) * rate_per_s)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now_s)
            if len(self._buckets) > 100_000:
                self._forget_full(now_s, burst, rate_per_s)
            return 0.0
        self._buckets[key] = (tokens, now_s)
        return (1.0 - tokens) / rate_per_s if rate_per_s > 0 else math.inf

    def _forget_full(self, now_s: float, burst: float, rate_per_s: float) -> None:
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now_s - at) * rate_per_s >= burst:
                del self._buckets[key]


# KEYS[1] bucket; ARGV: burst, rate_per_s, now_s. Returns "0" or the wait, as text
# (Lua numbers become integers on the way out).
_TAKE = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
local elapsed = now - at
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  if rate > 0 then wait = (1 - tokens) / rate else wait = 1e9 end
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
local ttl = 60
if rate > 0 then ttl = math.ceil(burst / rate) + 1 end
redis.call('EXPIRE', KEYS[1], ttl)
return tostring(wait)
"""


class RedisLimiter:
    """Buckets in Redis; the takes of requests in flight together share one
    command (`live/redis_scripts.py`)."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self._prefix = prefix
        self._take = script_batcher(redis, _TAKE)

    async def take(self, key: str, burst: float, rate_per_s: float, now_s: float) -> float:
        out = await self._take(([f"{self._prefix}rl:{key}"],
                                [repr(float(burst)), repr(float(rate_per_s)), repr(float(now_s))]))
        return float(out.decode() if isinstance(out, bytes) else out)
