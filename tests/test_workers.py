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

from live.workers import WorkerInfo, private_port_base

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
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "live.cli", "serve", "--port", str(port),
                             "--workers", "2"], env=env, stdout=log, stderr=log)
    base = private_port_base(port, 2)
    try:
        async with aiohttp.ClientSession() as http:
            async def healthy(at: int = port) -> None:
                for _ in range(600):  # a loaded CI machine starts slowly
                    try:
                        async with http.get(f"http://127.0.0.1:{at}/healthz") as r:
                            if r.status == 200:
                                return
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                raise AssertionError("server did not come up: "
                                     + (tmp_path / "server.log").read_text()[-2000:])

            await healthy()
            # each worker answers on its private port too
            for index in range(2):
                await healthy(base + index)
            children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                      text=True).stdout.split()
            assert len(children) == 2
            pids = {int(p) for p in children}
            victim = min(pids)
            os.kill(victim, signal.SIGKILL)
            for _ in range(300):
                now = {int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)],
                                                      capture_output=True,
                                                      text=True).stdout.split()}
                if len(now) == 2 and victim not in now:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the killed worker was not restarted")
            await healthy()
            for index in range(2):
                await healthy(base + index)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            log.close()
    assert proc.returncode == 0


def test_workers_need_redis(tmp_path: Path) -> None:
    env = dict(os.environ, LIVE_DATA_DIR=str(tmp_path))
    env.pop("LIVE_REDIS_URL", None)
    out = subprocess.run([sys.executable, "-m", "live.cli", "serve", "--workers", "2"],
                         env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "LIVE_REDIS_URL" in out.stderr
