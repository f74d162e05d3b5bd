"""The `live` command: serve, migrate."""

from __future__ import annotations

import asyncio
import logging

import click
from aiohttp import web

from live.settings import Settings


@click.group()
def main() -> None:
    """live: a live-commerce companion server for 社群+直播."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (LIVE_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (LIVE_PORT, 8080).")
@click.option("--demo", is_flag=True, help="Seed demo data and print how to try it.")
def serve(host: str | None, port: int | None, demo: bool) -> None:
    """Run the server (embedded: SQLite + in-process broker, unless configured)."""
    from live.app import create_app
    from live.demo import demo_ctx

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = Settings.from_env(**overrides)
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(settings)
    if demo:
        shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        app.cleanup_ctx.append(demo_ctx(f"http://{shown}:{settings.port}"))  # type: ignore[arg-type]
    web.run_app(app, host=settings.host, port=settings.port, print=click.echo,
                shutdown_timeout=10)


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
