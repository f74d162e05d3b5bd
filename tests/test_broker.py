"""One test suite for every broker: in memory and in the real Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from live.realtime.broker import Broker, Envelope
from live.realtime.memory import MemoryBroker
from live.realtime.redis import RedisBroker
from tests.conftest import REDIS_URL, unavailable


@pytest.fixture(params=["memory", "redis"])
async def make_broker(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    made: list[Broker] = []
    prefix = f"live-test:{secrets.token_hex(6)}:"
    clients: list[Any] = []

    async def make(history_max: int = 1000, history_max_age_s: float = 600.0) -> Broker:
        broker: Broker
        if request.param == "memory":
            broker = MemoryBroker(history_max, history_max_age_s)
        else:
            client = aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(
                REDIS_URL, max_connections=32, timeout=20))
            try:
                await client.ping()
            except (OSError, aioredis.ConnectionError):
                await client.aclose()
                unavailable("Redis on 127.0.0.1:6379")
            clients.append(client)
            broker = RedisBroker(client, prefix, history_max=history_max,
                                 history_max_age_s=history_max_age_s)
        await broker.start()
        made.append(broker)
        return broker

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for broker in made:
        await broker.close()
    for client in clients:
        async for key in client.scan_iter(match=f"{prefix}*", count=500):
            await client.delete(key)
        await client.aclose()


def items(*texts: str) -> list[tuple[str, dict[str, Any], None]]:
    return [("chat", {"text": t}, None) for t in texts]


async def test_publish_assigns_consecutive_seq_per_room(make_broker: Any) -> None:
    broker = await make_broker()
    # a room's counter starts anywhere (Redis: its clock, so that seq never goes
    # back after Redis loses it); from there it counts one by one
    r1, r2 = await broker.last_seq("r1"), await broker.last_seq("r2")
    a = await broker.publish("r1", items("a", "b"))
    b = await broker.publish("r1", items("c"))
    other = await broker.publish("r2", items("x"))
    assert [e.seq for e in a + b] == [r1 + 1, r1 + 2, r1 + 3]
    assert [e.seq for e in other] == [r2 + 1]
    assert await broker.last_seq("r1") == r1 + 3
    nope = await broker.last_seq("nope")
    assert await broker.last_seq("nope") == nope  # reading does not move it
    assert a[0].data == {"text": "a"} and a[0].ts.endswith("Z")


async def test_since_returns_missed_events_or_none(make_broker: Any) -> None:
    broker = await make_broker(history_max=5)
    z = await broker.last_seq("r")
    await broker.publish("r", items(*"abcdefg"))
    assert [e.data["text"] for e in await broker.since("r", z + 4) or []] == ["e", "f", "g"]
    assert await broker.since("r", z + 7) == []
    assert await broker.since("r", z + 8) is None  # ahead of the room
    assert [e.seq for e in await broker.since("r", z + 2) or []] == [z + n for n in range(3, 8)]
    assert await broker.since("r", z + 1) is None  # trimmed past it
    assert await broker.since("empty", await broker.last_seq("empty")) == []


async def test_history_is_bounded_by_age(make_broker: Any) -> None:
    broker = await make_broker(history_max_age_s=0.2)
    z = await broker.last_seq("r")
    await broker.publish("r", items("old"))
    await asyncio.sleep(0.3)
    await broker.publish("r", items("new"))
    assert await broker.since("r", z) is None
    assert [e.data["text"] for e in await broker.since("r", z + 1) or []] == ["new"]


async def test_listeners_get_every_event_in_order(make_broker: Any) -> None:
    broker = await make_broker()
    got: list[Envelope] = []
    done = asyncio.Event()
    z = await broker.last_seq("r")

    def listener(env: Envelope) -> None:
        got.append(env)
        if env.seq == z + 30:
            done.set()

    await broker.listen("r", listener)
    await asyncio.gather(*[broker.publish("r", items(f"{i}a", f"{i}b", f"{i}c"))
                           for i in range(10)])
    await asyncio.wait_for(done.wait(), 5)
    assert [e.seq for e in got] == list(range(z + 1, z + 31))
    await broker.unlisten("r", listener)
    await broker.publish("r", items("after"))
    await asyncio.sleep(0.1)
    assert len(got) == 30


async def test_two_brokers_share_one_order(make_broker: Any) -> None:
    if make_broker.kind == "memory":
        pytest.skip("one process only")
    one = await make_broker()
    two = await make_broker()
    seen: dict[str, list[int]] = {"one": [], "two": []}
    done = {"one": asyncio.Event(), "two": asyncio.Event()}

    def listener(name: str) -> Callable[[Envelope], None]:
        def on(env: Envelope) -> None:
            seen[name].append(env.seq)
            if len(seen[name]) == 40:
                done[name].set()
        return on

    z = await one.last_seq("r")
    await one.listen("r", listener("one"))
    await two.listen("r", listener("two"))
    await asyncio.gather(*[b.publish("r", items(str(i))) for i in range(20)
                           for b in (one, two)])
    async with asyncio.timeout(5):
        await done["one"].wait()
        await done["two"].wait()
    assert seen["one"] == seen["two"] == list(range(z + 1, z + 41))


async def test_presence_counts_distinct_users_exactly(make_broker: Any) -> None:
    broker = await make_broker()
    await asyncio.gather(*[broker.presence_add("r", f"u{i % 50}") for i in range(200)])
    assert await broker.presence_count("r") == 50
    await asyncio.gather(*[broker.presence_remove("r", f"u{i % 50}") for i in range(150)])
    assert await broker.presence_count("r") == 50  # everyone still has one connection
    await asyncio.gather(*[broker.presence_remove("r", f"u{i}") for i in range(20)])
    assert await broker.presence_count("r") == 30
    assert await broker.presence_peak("r") == 50


async def test_likes_are_exact_under_concurrency(make_broker: Any) -> None:
    broker = await make_broker()
    assert await broker.likes("r") is None
    await asyncio.gather(*[broker.add_likes("r", n % 50 + 1, base=1000) for n in range(500)])
    assert await broker.likes("r") == 1000 + sum(n % 50 + 1 for n in range(500))


async def test_seq_never_goes_back_when_redis_loses_a_room(make_broker: Any) -> None:
    if make_broker.kind == "memory":
        pytest.skip("Redis only: the in-process broker lives and dies with its clients")
    broker = await make_broker()
    before = await broker.publish("r", items("a", "b"))
    # what a Redis restart or flush does to the room (only this test's keys)
    await broker.redis.delete(broker._key("r", "seq"), broker._key("r", "hist"))
    after = await broker.publish("r", items("c"))
    assert after[0].seq > before[-1].seq
    # a client that saw "b" rejoins: its events are gone, so no replay (a resync)
    assert await broker.since("r", before[-1].seq) is None
    assert [e.data["text"] for e in await broker.since("r", after[0].seq - 1) or []] == ["c"]
