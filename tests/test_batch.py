"""live/batch.py: calls arriving while a batch runs share the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from live.batch import Batcher


class Recorder:
    """A `run` that records its batches and, while `gate` is closed, waits."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()

    async def __call__(self, items: list[int]) -> Sequence[int | BaseException]:
        self.batches.append(list(items))
        self.started.set()
        await self.gate.wait()
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


async def test_calls_made_in_one_turn_share_one_batch() -> None:
    run = Recorder()
    batcher = Batcher(run)
    assert await asyncio.gather(*(batcher(i) for i in (0, 2, 4))) == [0, 20, 40]
    assert run.batches == [[0, 2, 4]]


async def test_calls_arriving_while_a_batch_runs_share_the_next() -> None:
    run = Recorder()
    batcher = Batcher(run)
    run.gate.clear()
    first = asyncio.ensure_future(batcher(0))
    await run.started.wait()
    later = [asyncio.ensure_future(batcher(i)) for i in (2, 4, 6)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert run.batches == [[0]]  # the newcomers wait: one batch at a time
    run.gate.set()
    assert await first == 0
    assert await asyncio.gather(*later) == [20, 40, 60]
    assert run.batches == [[0], [2, 4, 6]]


async def test_in_flight_lets_that_many_batches_run_at_once() -> None:
    run = Recorder()
    batcher = Batcher(run, in_flight=2)
    run.gate.clear()
    first = asyncio.ensure_future(batcher(0))
    await run.started.wait()
    second = [asyncio.ensure_future(batcher(i)) for i in (2, 4)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert run.batches == [[0], [2, 4]]  # the second starts while the first runs
    third = [asyncio.ensure_future(batcher(i)) for i in (6, 8)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert run.batches == [[0], [2, 4]]  # two running: the newcomers wait
    run.gate.set()
    assert [await first, *await asyncio.gather(*second, *third)] == [0, 20, 40, 60, 80]
    assert run.batches == [[0], [2, 4], [6, 8]]


async def test_a_batch_takes_at_most_max_size_items() -> None:
    run = Recorder()
    batcher = Batcher(run, max_size=4)
    results = await asyncio.gather(*(batcher(i * 2) for i in range(10)))
    assert results == [i * 20 for i in range(10)]
    assert [len(b) for b in run.batches] == [4, 4, 2]
    assert [i for b in run.batches for i in b] == [i * 2 for i in range(10)]  # in order


async def test_an_items_exception_reaches_only_its_caller() -> None:
    batcher = Batcher(Recorder())
    results = await asyncio.gather(*(batcher(i) for i in range(4)), return_exceptions=True)
    assert results[0] == 0 and results[2] == 20
    assert isinstance(results[1], ValueError) and str(results[1]) == "odd 1"
    assert isinstance(results[3], ValueError) and str(results[3]) == "odd 3"


async def test_a_failing_run_reaches_every_caller_of_its_batch_and_no_other() -> None:
    calls = 0

    async def run(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database gone")
        return items

    batcher = Batcher(run)
    results = await asyncio.gather(*(batcher(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results), results
    assert await batcher(7) == 7  # the batcher still works afterwards


async def test_a_run_answering_the_wrong_number_of_items_fails_its_batch() -> None:
    async def run(items: list[int]) -> list[int]:
        return items[:-1]

    batcher = Batcher(run)
    results = await asyncio.gather(*(batcher(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results), results


async def test_a_cancelled_caller_does_not_break_the_others() -> None:
    run = Recorder()
    batcher = Batcher(run)
    run.gate.clear()
    callers = [asyncio.ensure_future(batcher(i)) for i in (0, 2, 4)]
    await run.started.wait()
    callers[1].cancel()  # while its batch runs
    queued = [asyncio.ensure_future(batcher(i)) for i in (6, 8)]
    await asyncio.sleep(0)
    queued[0].cancel()  # before its batch starts
    run.gate.set()
    assert await callers[0] == 0 and await callers[2] == 40
    with pytest.raises(asyncio.CancelledError):
        await callers[1]
    with pytest.raises(asyncio.CancelledError):
        await queued[0]
    assert await queued[1] == 80
    assert await batcher(10) == 100  # and later calls still get batches
