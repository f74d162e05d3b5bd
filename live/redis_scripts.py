"""Many calls of one Lua script in one Redis round trip.

Callers that arrive together (see `live/batch.py`) share a pipeline of
EVALSHAs instead of one round trip each: in a flash sale's first second every
order spends a rate-limit token and passes the stock gate, and each round trip
costs both processes a system call and a wake-up on the shared cores.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoScriptError

from live.batch import Batcher

Call = tuple[Sequence[str], Sequence[Any]]  # (keys, args)


async def run_many(redis: Any, script: Any, calls: Sequence[Call],
                   metrics: Any = None) -> list[Any]:
    """Each call's reply, or its error, in order. A script Redis forgot
    (restarted, flushed) is loaded again by running those calls one by one."""
    start = time.perf_counter()
    async with redis.pipeline(transaction=False) as pipe:
        for keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
    if metrics is not None:  # one pipeline: one observation, as one command
        metrics.redis_seconds.labels("EVALSHA_PIPELINE").observe(time.perf_counter() - start)
    for i, reply in enumerate(replies):
        if isinstance(reply, NoScriptError):
            keys, args = calls[i]
            try:
                replies[i] = await script(keys=list(keys), args=list(args))
            except Exception as exc:  # this call's error, not the batch's
                replies[i] = exc
    return replies


def script_batcher(redis: Any, source: str, metrics: Any = None) -> Batcher[Call, Any]:
    """A Batcher running `source` for every call waiting, in one pipeline; a
    call's error is raised to its caller alone."""
    script = redis.register_script(source)

    async def run(calls: list[Call]) -> list[Any]:
        if len(calls) == 1:  # no pipeline for a lone call
            keys, args = calls[0]
            try:
                return [await script(keys=list(keys), args=list(args))]
            except Exception as exc:
                return [exc]
        return await run_many(redis, script, calls, metrics)

    return Batcher(run)
