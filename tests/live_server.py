"""A real `live` server in a background thread, for synchronous clients
(schemathesis, Playwright's sync API) that cannot share pytest's event loop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

from live.app import create_app
from live.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(settings: Settings,
                    prepare: Callable[[web.Application], None] | None = None) -> Iterator[str]:
    """Run the app on a free loopback port; yields its base URL."""
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: asyncio.Event | None = None
    errors: list[BaseException] = []

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        app = create_app(settings)
        if prepare is not None:
            prepare(app)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        started.set()
        await stop.wait()
        await runner.cleanup()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(60)
    if errors:
        raise errors[0]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)


@contextmanager
def serve_in_subprocess(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `live serve` as its own process (SQLite in `data_dir`); yields its base URL.

    For long fuzzing runs and browser tests: nothing the server does can leak
    into the test process's threads or event loops. `env` adds LIVE_* settings.
    """
    port = free_port()
    base_env = dict(os.environ, LIVE_DATA_DIR=str(data_dir), LIVE_SECRET="fuzz-secret-0123456789ab")
    base_env.pop("LIVE_DATABASE_URL", None)
    base_env.pop("LIVE_REDIS_URL", None)
    env = {**base_env, **(env or {})}
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "live.cli", "serve", "--port", str(port)],
                            env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("server did not start: "
                                   + (data_dir / "server.log").read_text()[-2000:])
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
