"""Many calls of one Lua script in one Redis pipeline (live/redis_scripts.py),
on the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from live.redis_scripts import script_batcher

INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


@pytest.fixture
async def client(redis_url: str, redis_cleanup: None) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.from_url(redis_url)
    yield c
    await c.aclose()


async def test_calls_in_flight_together_share_a_pipeline_and_keep_their_order(
        client: aioredis.Redis, redis_prefix: str) -> None:
    batcher = script_batcher(client, INCR)
    key = f"{redis_prefix}n"
    replies = await asyncio.gather(*(batcher(([key], [1])) for _ in range(50)))
    assert sorted(replies) == list(range(1, 51))
    assert replies == sorted(replies)  # queued in call order, run in that order
    assert int(await client.get(key) or 0) == 50


async def test_a_script_redis_forgot_is_loaded_again(client: aioredis.Redis,
                                                     redis_prefix: str) -> None:
    batcher = script_batcher(client, INCR)
    key = f"{redis_prefix}m"
    await asyncio.gather(*(batcher(([key], [1])) for _ in range(5)))
    await client.script_flush()  # as after a Redis restart
    replies = await asyncio.gather(*(batcher(([key], [2])) for _ in range(5)))
    assert sorted(replies) == [7, 9, 11, 13, 15]


async def test_one_calls_error_reaches_only_that_caller(client: aioredis.Redis,
                                                        redis_prefix: str) -> None:
    batcher = script_batcher(client, INCR)
    await client.set(f"{redis_prefix}text", "not a number")
    replies = await asyncio.gather(
        batcher(([f"{redis_prefix}a"], [1])), batcher(([f"{redis_prefix}text"], [1])),
        batcher(([f"{redis_prefix}b"], [3])), return_exceptions=True)
    assert replies[0] == 1 and replies[2] == 3
    assert isinstance(replies[1], ResponseError)
