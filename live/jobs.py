"""Periodic jobs (sweepers): flash-sale start/end, order expiry, settlement...

Every worker runs every job; each job must be idempotent and safe to run
concurrently (conditional updates), so no leader election is needed. Tests
call `run_all()` after moving a FakeClock instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from live import keys
from live.errors import overloaded, unavailable

log = logging.getLogger("live.jobs")

Job = Callable[[web.Application], Awaitable[None]]


@dataclass
class Jobs:
    jobs: list[tuple[str, float, Job]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    enabled: bool = True  # tests turn the timers off and call run_all()

    def add(self, name: str, interval_s: float, job: Job) -> None:
        self.jobs.append((name, interval_s, job))

    async def run_all(self, app: web.Application) -> None:
        for _name, _interval, job in self.jobs:
            await job(app)


async def _loop(app: web.Application, name: str, interval_s: float, job: Job,
                stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await job(app)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if unavailable(exc) or overloaded(exc):
                # Redis or the database restarting, or a saturated pool: the
                # next round retries; a traceback every round would drown the log
                log.warning("job %s skipped a round: %s", name, type(exc).__name__)
            else:
                log.exception("job %s failed", name)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


async def run_jobs(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: one task per job, stopped before the database closes.

    Jobs are asked to stop and allowed to finish the round they are in: a job
    cancelled in the middle of a transaction could leave SQLite's write lock
    held by a connection nobody rolls back, and every later writer (the
    counters flushed at shutdown) would wait out the busy timeout.
    """
    jobs = app[keys.JOBS]
    stop = asyncio.Event()
    if jobs.enabled:
        for name, interval, job in jobs.jobs:
            jobs.tasks.append(asyncio.create_task(_loop(app, name, interval, job, stop),
                                                  name=f"job:{name}"))
    yield
    stop.set()
    if jobs.tasks:
        _, pending = await asyncio.wait(jobs.tasks, timeout=30)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    jobs.tasks.clear()
