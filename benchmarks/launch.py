"""Start `live serve` for a benchmark: embedded or production, and clean up after.

`embedded`: one process, SQLite in a temporary directory, in-process broker.
`production`: `live serve --workers W` on PostgreSQL (a fresh database, dropped
afterwards) and Redis (a unique key prefix, deleted afterwards).
Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from live.workers import free_worker_port

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("LIVE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LIVE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and its live children (the workers of `--workers`)."""
    total = cpu_seconds(pid)
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            for child in f.read().split():
                with contextlib.suppress(OSError):
                    total += cpu_seconds(int(child))
    return total


def wait_for_port(port: int, process: subprocess.Popen[bytes], exited: str) -> None:
    """Until `process` accepts connections on 127.0.0.1:`port` (at most 60 s)."""
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None:
                raise SystemExit(exited) from None
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after 60 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def cpu(self) -> float:
        return tree_cpu_seconds(self.process.pid)


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _delete_prefix(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        async for key in client.scan_iter(match=f"{prefix}*", count=500):
            await client.delete(key)
    finally:
        await client.aclose()


@contextlib.contextmanager
def live_server(mode: str = "embedded", workers: int = 2,
                env: dict[str, str] | None = None) -> Iterator[Server]:
    port = free_worker_port(workers)
    data_dir = Path(tempfile.mkdtemp(prefix="live-bench-"))
    full_env = dict(os.environ, LIVE_DATA_DIR=str(data_dir), LIVE_SECRET=secrets.token_hex(24),
                    LIVE_LOG_LEVEL="WARNING", **(env or {}))
    for name in ("LIVE_DATABASE_URL", "LIVE_REDIS_URL", "LIVE_REDIS_PREFIX"):
        full_env.pop(name, None)
    argv = [sys.executable, "-m", "live.cli", "serve", "--port", str(port)]
    pg_name = prefix = None
    if mode == "production":
        pg_name = f"live_bench_{os.getpid()}_{secrets.token_hex(3)}"
        prefix = f"live-bench:{secrets.token_hex(4)}:"
        asyncio.run(_pg(f'CREATE DATABASE "{pg_name}"'))
        full_env.update(
            LIVE_DATABASE_URL=PG_ADMIN.rsplit("/", 1)[0].replace(
                "postgresql://", "postgresql+asyncpg://") + f"/{pg_name}",
            LIVE_REDIS_URL=REDIS_URL, LIVE_REDIS_PREFIX=prefix)
        subprocess.run([sys.executable, "-m", "live.cli", "migrate"], env=full_env, check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL)
        if workers > 1:
            argv += ["--workers", str(workers)]
    log_path = data_dir.parent / f"{data_dir.name}.log"
    log = open(log_path, "wb")
    process = subprocess.Popen(argv, env=full_env, cwd=ROOT, stdout=log, stderr=log)
    try:
        wait_for_port(port, process, f"server exited; see {log_path}")
        time.sleep(0.5 if workers > 1 else 0)  # the other workers bind the same port
        yield Server(f"http://127.0.0.1:{port}", process, log_path)
    finally:
        stop(process)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)
        if pg_name:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        if prefix:
            asyncio.run(_delete_prefix(prefix))
