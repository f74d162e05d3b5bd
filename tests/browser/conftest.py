"""Browser tests: a real `live` server on a free loopback port and Debian's
Chromium driven by Playwright (never a downloaded browser).

Chromium runs with a fake camera and microphone, so the console can preview
and publish. Screenshots go to `test-artifacts/` (gitignored).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from live.settings import Settings
from tests.live_server import serve_in_thread

CHROMIUM = os.environ.get("LIVE_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an event loop
    # running in this thread while it is open, which would break the async
    # tests that follow.
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Chromium is required under CI=true ({CHROMIUM}: apt-get install chromium)")
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    # Never let Playwright fetch a browser of its own.
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import expect, sync_playwright

    # The machine may be shared and busy: give assertions room to breathe.
    expect.set_options(timeout=20000)

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real server (SQLite, in-process broker, system clock); yields its base URL."""
    settings = Settings(data_dir=tmp_path / "data",
                        database_url=f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
                        secret="browser-test-secret-0123456789", auto_migrate=True,
                        chat_burst=20, chat_rate_per_s=10.0)
    with serve_in_thread(settings) as base:
        yield base


class Http:
    """A tiny JSON client for arranging what a test does not click through."""

    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                raw = resp.read()
                try:
                    return resp.status, json.loads(raw) if raw else None
                except ValueError:
                    return resp.status, raw.decode(errors="replace")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")

    def has(self, method: str, path: str) -> bool:
        """Whether the server's OpenAPI document lists this operation
        (path parameters match whatever their names)."""
        _, doc = self.call("GET", "/api/v1/openapi.json")
        want = re.sub(r"\{[^}]*\}", "{}", path)
        return any(re.sub(r"\{[^}]*\}", "{}", p) == want and method.lower() in ops
                   for p, ops in (doc.get("paths") or {}).items())

    def socketio(self) -> bool:
        status, _ = self.call("GET", "/socket.io/?EIO=4&transport=polling")
        return status == 200

    def exists(self, path: str) -> bool:
        status, _ = self.call("GET", path)
        return status == 200


@pytest.fixture
def http(server: str) -> Http:
    return Http(server)


@pytest.fixture
def new_page(browser: Any, server: str) -> Iterator[Callable[..., Any]]:
    """new_page(viewport=PHONE, mobile=True) → a page in a fresh browser context
    (its own storage: a separate person). Page errors fail the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make(viewport: dict[str, int] = DESKTOP, *, mobile: bool = False) -> Any:
        ctx = browser.new_context(viewport=viewport, is_mobile=mobile, has_touch=mobile,
                                  base_url=server, locale="zh-CN",
                                  permissions=["camera", "microphone", "clipboard-read",
                                               "clipboard-write"])
        ctx.set_default_timeout(15000)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        page.on("dialog", lambda d: d.accept())
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert not errors, errors


def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
