"""Growth's place in the app: snapshot part, sweepers, status and order hooks."""

from __future__ import annotations

from aiohttp import web

from live import keys
from live.growth import jobs
from live.growth.snapshot import snapshot_part


def setup(app: web.Application) -> None:
    app[keys.SNAPSHOT_PARTS].append(snapshot_part(app))
    jobs.register(app)
