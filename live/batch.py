"""Smart batching: calls that arrive while one batch runs are served by the next.

A busy moment (a flash sale opening, thousands of viewers pressing 立即抢购 in
the same second) makes many requests want the same kind of database work at
once. Each would pay a connection checkout, a round trip per statement and,
for writes, a commit. A `Batcher` instead hands every waiting call to one
`run(items)` that does the work for all of them with a few statements.

No timer: when nothing is running, a call starts a batch at the next loop turn
(so calls made in the same turn share it) and waits only for its own work;
while a batch runs, newcomers queue and the next batch takes them all (at most
`max_size`). Under light load a batch is one call; under heavy load batches
grow by themselves, which is what keeps the cost per call falling as the load
rises (group commit, as databases do for their own log). `in_flight` lets a
few batches run at once, for work whose batches are long chains of round
trips (the flash lane): a small first batch then does not hold up the next.

`run` answers every item, in order, with a result or an exception for that
item alone; if `run` itself raises, every item of the batch gets the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]], *,
                 max_size: int = 256, in_flight: int = 1) -> None:
        self._run = run
        self._max_size = max_size
        self._in_flight = in_flight  # batches running at once (at most)
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._scheduled = False
        self._running: set[asyncio.Future[None]] = set()  # the loop keeps only weak references

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._kick()
        return await future

    def _kick(self) -> None:
        if self._queue and len(self._running) < self._in_flight and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        if not self._queue or len(self._running) >= self._in_flight:
            return
        batch, self._queue = self._queue[:self._max_size], self._queue[self._max_size:]
        task = asyncio.ensure_future(self._serve(batch))
        self._running.add(task)
        task.add_done_callback(self._done)
        self._kick()  # more waiting, and room for another batch

    def _done(self, task: asyncio.Future[None]) -> None:
        self._running.discard(task)
        self._kick()

    async def _serve(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._run([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(outcomes)} answers")
        except BaseException as exc:  # every caller of this batch hears of it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
