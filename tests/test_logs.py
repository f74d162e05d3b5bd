"""Structured logs: a request line per HTTP request (route pattern, never the
raw path or its tokens), as JSON or key=value text, chosen by LIVE_LOG_FORMAT."""

from __future__ import annotations

import io
import json
import logging
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from live import logs
from live.settings import Settings
from tests.helpers import Api
from tests.live_server import serve_in_subprocess


@pytest.fixture
def captured() -> Iterator[tuple[logging.Handler, io.StringIO]]:
    """A handler on the access and `live` loggers, writing to a buffer."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    loggers = [logging.getLogger("aiohttp.access"), logging.getLogger("live")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    yield handler, buf
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


def test_log_format_setting() -> None:
    env = {"LIVE_SECRET": "x" * 20, "LIVE_DATABASE_URL": "sqlite+aiosqlite:///x"}
    assert Settings.from_env(env).log_format == "text"
    s = Settings.from_env({"LIVE_LOG_FORMAT": "JSON", "LIVE_SECRET": "x" * 20,
                           "LIVE_DATABASE_URL": "sqlite+aiosqlite:///x"})
    assert s.log_format == "json"
    with pytest.raises(ValueError, match="LIVE_LOG_FORMAT"):
        Settings.from_env({"LIVE_LOG_FORMAT": "xml", "LIVE_SECRET": "x" * 20,
                           "LIVE_DATABASE_URL": "sqlite+aiosqlite:///x"})


async def test_requests_are_logged_as_json_lines_without_tokens(
        app: web.Application, aiohttp_server: Any, aiohttp_client: Any,
        captured: tuple[logging.Handler, io.StringIO]) -> None:
    handler, buf = captured
    handler.setFormatter(logs.formatter("json"))
    server = await aiohttp_server(app, access_log_class=logs.AccessLogger)
    api = Api(await aiohttp_client(server))
    host = await api.host()
    room = await api.room(host)
    await api.get(f"/api/v1/rooms/{room['id']}")
    await api.get("/r/some-secret-share-token?viewer_token=also-secret")  # 404
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    requests = [x for x in lines if x["msg"] == "request"]
    assert {"method": "GET", "route": "/api/v1/rooms/{room_id}", "status": 200} in [
        {k: x[k] for k in ("method", "route", "status")} for x in requests]
    share = [x for x in requests if x["route"] == "/r/{token}"]
    assert len(share) == 1 and share[0]["status"] == 404
    for x in requests:
        assert x["logger"] == "aiohttp.access" and x["level"] == "INFO"
        assert isinstance(x["ms"], float) and x["ts"].endswith("Z")
    text = buf.getvalue()
    assert "secret" not in text and host.token not in text


def test_key_value_lines_quote_what_needs_it() -> None:
    record = logging.LogRecord("live.cart", logging.WARNING, __file__, 1,
                               "payment refused reason=%s", ("conflict",), None)
    record.order_id = "ord_1"
    record.note = "两个 词"
    line = logs.formatter("text").format(record)
    assert line.endswith(f"WARNING {record.process} live.cart payment refused "
                         'reason=conflict order_id=ord_1 note="两个 词"')
    as_json = json.loads(logs.formatter("json").format(record))
    assert (as_json["msg"], as_json["order_id"], as_json["note"]) == (
        "payment refused reason=conflict", "ord_1", "两个 词")


def test_errors_carry_their_traceback_in_one_json_object() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("live.errors", logging.ERROR, __file__, 1,
                                   "unhandled error", (), sys.exc_info())
    out = json.loads(logs.formatter("json").format(record))
    assert out["level"] == "ERROR" and "RuntimeError: boom" in out["exc"]


def test_live_serve_writes_json_lines_with_live_log_format_json(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVE_LOG_FORMAT", "json")
    with serve_in_subprocess(tmp_path) as base:
        with urllib.request.urlopen(base + "/api/v1/rooms", timeout=10) as resp:
            assert resp.status == 200
    lines = (tmp_path / "server.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(r["msg"] == "request" and r["route"] == "/api/v1/rooms" and r["status"] == 200
               for r in records), lines
    # everything else is JSON too, one object per line, but for the banner
    # `live serve` prints (through click, not logging) for a person
    banner = ["(Press CTRL+C to quit)"]
    assert [x for x in lines if not x.startswith("{") and "Running on http://" not in x] == \
        banner
