"""Many calls of one Lua script as one Redis command (live/redis_scripts.py),
on the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import DataError, ResponseError

from live.redis_scripts import script_batcher

INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


@pytest.fixture
async def client(redis_url: str, redis_cleanup: None) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.from_url(redis_url)
    yield c
    await c.aclose()


class CountingRedis(aioredis.Redis):
    """A client that remembers the commands it sent."""

    sent: list[str]

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]))
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


async def test_calls_in_flight_together_are_one_command_and_keep_their_order(
        redis_url: str, redis_cleanup: None, redis_prefix: str) -> None:
    client = CountingRedis.from_url(redis_url)
    client.sent = []
    try:
        batcher = script_batcher(client, INCR)
        await batcher(([f"{redis_prefix}warm"], [1]))  # loads the script
        client.sent.clear()
        key = f"{redis_prefix}n"
        replies = await asyncio.gather(*(batcher(([key], [1])) for _ in range(50)))
        assert sorted(replies) == list(range(1, 51))
        assert replies == sorted(replies)  # queued in call order, run in that order
        assert int(await client.get(key) or 0) == 50
        assert client.sent.count("EVALSHA") == 1  # all 50 made in one loop turn
    finally:
        await client.aclose()


async def test_each_call_sees_its_own_keys_and_text_arguments(client: aioredis.Redis,
                                                              redis_prefix: str) -> None:
    echo = script_batcher(client, "return (KEYS[#KEYS] or '') .. '|' .. table.concat(ARGV, ',')")
    replies = await asyncio.gather(
        echo(([f"{redis_prefix}a"], [1, "x", 2.5])),
        echo(([f"{redis_prefix}b", f"{redis_prefix}c"], [])),
        echo(([], ["only"])))
    assert replies == [f"{redis_prefix}a|1,x,2.5".encode(), f"{redis_prefix}c|".encode(),
                       b"|only"]


async def test_replies_are_what_evalsha_would_give(client: aioredis.Redis) -> None:
    """Every kind of script reply, batched, equals the same script's EVAL reply
    (or raises the same kind of error), and one call's odd reply does not
    spoil the others'."""
    sources = ["return 7.9", "return -7.9", "return true", "return false", "return nil",
               "return 'text'", "return {1, 'two', {3.5, true, false, 4}}",
               "return {1, nil, 3}", "return redis.status_reply('OK')",
               "return {'a', redis.status_reply('fine')}", "return '\\255\\0raw'",
               "return {}", "return redis.error_reply('boom')"]
    alone: list[Any] = []
    for source in sources:
        try:
            alone.append(await client.eval(source, 0))
        except ResponseError as exc:
            alone.append(exc)
    batched = await asyncio.gather(*(script_batcher(client, s)(([], [])) for s in sources),
                                   return_exceptions=True)
    for source, a, b in zip(sources, alone, batched, strict=True):
        if isinstance(a, ResponseError):
            assert isinstance(b, ResponseError), (source, b)
            assert str(a).split()[-1] in str(b), (source, a, b)
        else:
            assert b == a, (source, a, b)
    assert batched[:5] == [7, -7, 1, None, None]
    # the one difference, documented: an error inside a table is the call's error
    # (EVAL gives a list holding it)
    nested = script_batcher(client, "return {1, redis.error_reply('inner')}")
    with pytest.raises(ResponseError, match="inner"):
        await nested(([], []))


async def test_arguments_redis_py_refuses_are_refused_for_that_call_alone(
        client: aioredis.Redis) -> None:
    echo = script_batcher(client, "return ARGV[1]")
    replies = await asyncio.gather(echo(([], [b"\xff bytes"])), echo(([], [None])),
                                   echo(([], [True])), echo(([], [3])),
                                   return_exceptions=True)
    assert replies[0] == b"\xff bytes" and replies[3] == b"3"
    assert isinstance(replies[1], DataError) and isinstance(replies[2], DataError)


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
