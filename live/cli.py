"""The `live` command: serve, migrate."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

import click
from aiohttp import web

from live import logs
from live.settings import Settings


@click.group()
def main() -> None:
    """live: a live-commerce companion server for 社群+直播."""


def _settings(host: str | None, port: int | None) -> Settings:
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = Settings.from_env(**overrides)
    logs.configure(settings.log_level, settings.log_format)
    return settings


@main.command()
@click.option("--host", default=None, help="Interface to bind (LIVE_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (LIVE_PORT, 8080).")
@click.option("--demo", is_flag=True, help="Seed demo data and print how to try it.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes on one port (needs LIVE_REDIS_URL when > 1).")
@click.option("--worker-index", default=None, type=int, hidden=True)
@click.option("--worker-count", default=None, type=int, hidden=True)
@click.option("--private-port-base", default=None, type=int, hidden=True)
def serve(host: str | None, port: int | None, demo: bool, workers: int,
          worker_index: int | None, worker_count: int | None,
          private_port_base: int | None) -> None:
    """Run the server (embedded: SQLite + in-process broker, unless configured)."""
    settings = _settings(host, port)
    if worker_index is not None:
        assert worker_count is not None and private_port_base is not None
        _run_worker(settings, worker_index, worker_count, private_port_base)
        return
    if workers > 1:
        _run_workers(settings, workers, demo)
        return
    from live.app import create_app
    from live.demo import demo_ctx

    app = create_app(settings)
    if demo:
        app.cleanup_ctx.append(demo_ctx(_base_url(settings)))  # type: ignore[arg-type]
    tune_gc()
    web.run_app(app, host=settings.host, port=settings.port, print=click.echo,
                shutdown_timeout=10, access_log_class=logs.AccessLogger)


def tune_gc() -> None:
    """Keep full garbage collections rare: one walks every live object, about
    0.3 s with a thousand viewers connected, and every room stalls for it
    (benchmarks/fanout.py showed a 0.5 s latency spike every ~10 s). What start-up
    made is frozen out of collections, and generation 0 is collected after 50,000
    allocations instead of 700, so a frame's or a request's temporary objects
    die young instead of being promoted towards the full collection."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _base_url(settings: Settings) -> str:
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://{shown}:{settings.port}"


def _run_workers(settings: Settings, count: int, demo: bool) -> None:
    from live import workers

    if not settings.redis_url:
        raise click.UsageError("--workers > 1 needs LIVE_REDIS_URL: workers share rooms "
                               "through Redis")
    if settings.is_sqlite:
        click.echo("note: several workers on one SQLite file work but serialize writes; "
                   "use PostgreSQL (LIVE_DATABASE_URL) in production", err=True)
    asyncio.run(_prepare(settings, demo))
    base = workers.private_port_base(settings.port, count)
    code = workers.supervise(
        count, lambda i: workers.worker_argv(i, count, settings.host, settings.port, base),
        workers.child_env())
    raise SystemExit(code)


async def _prepare(settings: Settings, demo: bool) -> None:
    """Migrate once (and seed the demo) before any worker starts."""
    from live.app import create_app
    from live.db import make_engine, migrate
    from live.demo import banner, seed

    if settings.should_migrate or demo:
        engine = make_engine(settings)
        try:
            await migrate(engine, settings)
        finally:
            await engine.dispose()
    if demo:
        app = create_app(settings, run_timers=False)
        runner = web.AppRunner(app)
        await runner.setup()  # opens the database and broker; no socket is bound
        try:
            click.echo(banner(_base_url(settings), await seed(app)))
        finally:
            await runner.cleanup()


def _run_worker(settings: Settings, index: int, count: int, private_port_base: int) -> None:
    from live import keys, workers
    from live.app import create_app
    from live.video import cluster as video_cluster

    app = create_app(settings)
    info = workers.WorkerInfo(index=index, count=count, private_port_base=private_port_base)
    workers.install(app, info)
    video_cluster.install(app, info)  # a room's video requests go to its publisher's worker
    if keys.SIO in app:
        workers.tag_session_ids(app[keys.SIO].eio, index)

    async def run() -> None:
        runner = web.AppRunner(app, shutdown_timeout=10, handle_signals=False,
                               access_log_class=logs.AccessLogger)
        await runner.setup()
        await web.TCPSite(runner, settings.host, settings.port, reuse_port=True).start()
        await web.TCPSite(runner, "127.0.0.1", info.private_port(index)).start()
        logging.getLogger("live.workers").info(
            "worker %d/%d on %s:%d (private %d)", index, count, settings.host, settings.port,
            info.private_port(index))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    tune_gc()
    asyncio.run(run())


@main.command()
def migrate() -> None:
    """Apply database migrations (run once per deploy in production)."""
    from live.db import make_engine
    from live.db import migrate as run_migrations

    settings = Settings.from_env()

    async def go() -> None:
        engine = make_engine(settings)
        try:
            await run_migrations(engine, settings)
        finally:
            await engine.dispose()

    asyncio.run(go())
    click.echo("database is up to date")


if __name__ == "__main__":
    main()
