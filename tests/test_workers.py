"""`live serve --workers 2`: two real processes on one port, sharing Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from live.workers import WorkerInfo

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_session_ids_name_their_worker() -> None:
    info = WorkerInfo(index=1, count=3, private_port_base=9000)
    assert info.owner_of("w2.abcdef") == 2
    assert info.owner_of("w3.abcdef") is None  # out of range
    assert info.owner_of("abcdef") is None
    assert info.owner_of("wx.abc") is None
    assert info.private_port(2) == 9002


async def test_two_workers_serve_one_port_and_restart_a_killed_one(
        tmp_path: Path, redis_url: str, redis_prefix: str, redis_cleanup: None) -> None:
    port = free_port()
    env = dict(os.environ, LIVE_DATA_DIR=str(tmp_path), LIVE_REDIS_URL=redis_url,
               LIVE_REDIS_PREFIX=redis_prefix, LIVE_SECRET="s" * 32)
    proc = subprocess.Popen([sys.executable, "-m", "live.cli", "serve", "--port", str(port),
                             "--workers", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as http:
            pids: set[int] = set()

            async def healthy() -> None:
                for _ in range(200):
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                            if r.status == 200:
                                return
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                raise AssertionError("server did not come up")

            await healthy()
            # each worker answers on its private port too
            for index in range(2):
                async with http.get(f"http://127.0.0.1:{port + 1000 + index}/healthz") as r:
                    assert r.status == 200
            children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                      text=True).stdout.split()
            assert len(children) == 2
            pids = {int(p) for p in children}
            victim = min(pids)
            os.kill(victim, signal.SIGKILL)
            for _ in range(100):
                now = {int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)],
                                                      capture_output=True,
                                                      text=True).stdout.split()}
                if len(now) == 2 and victim not in now:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the killed worker was not restarted")
            await healthy()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0


def test_workers_need_redis(tmp_path: Path) -> None:
    env = dict(os.environ, LIVE_DATA_DIR=str(tmp_path))
    env.pop("LIVE_REDIS_URL", None)
    out = subprocess.run([sys.executable, "-m", "live.cli", "serve", "--workers", "2"],
                         env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "LIVE_REDIS_URL" in out.stderr
