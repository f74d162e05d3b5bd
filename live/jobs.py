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


async def _loop(app: web.Application, name: str, interval_s: float, job: Job) -> None:
    while True:
        try:
            await job(app)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s failed", name)
        await asyncio.sleep(interval_s)


async def run_jobs(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: one task per job; cancelled before the database closes."""
    jobs = app[keys.JOBS]
    if jobs.enabled:
        for name, interval, job in jobs.jobs:
            jobs.tasks.append(asyncio.create_task(_loop(app, name, interval, job),
                                                  name=f"job:{name}"))
    yield
    for task in jobs.tasks:
        task.cancel()
    for task in jobs.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    jobs.tasks.clear()
