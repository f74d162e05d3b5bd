"""Structured logs: one line per event, as JSON or as `key=value` text.

`LIVE_LOG_FORMAT=json` writes one JSON object per line (for a log shipper);
`text` (the default) writes `time level logger message key=value ...` for a
person at a terminal. Fields passed with `extra={...}` become keys in both.

Requests are logged by `AccessLogger` with the route *pattern*
(`/r/{token}`), never the raw path or query string, and never the client's
address: paths and queries can carry share tokens and `viewer_token`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

FORMATS = ("text", "json")
# attributes every LogRecord has: anything else was passed in `extra`
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


def _time(record: logging.LogRecord) -> str:
    when = datetime.fromtimestamp(record.created, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": _time(record), "level": record.levelname,
                               "logger": record.name, "msg": record.getMessage(),
                               "pid": record.process}
        out.update(_fields(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def _value(v: Any) -> str:
    text = str(v)
    if not text or any(c in text for c in ' ="\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname} {record.process} {record.name} " \
               f"{record.getMessage()}"
        extra = " ".join(f"{k}={_value(v)}" for k, v in _fields(record).items())
        if extra:
            line += " " + extra
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else KeyValueFormatter()


def configure(level: str, fmt: str) -> None:
    """The root logger writes to stderr in `fmt` (`live serve` calls this)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def route_of(request: web.BaseRequest) -> str:
    """The route pattern that matched (`/r/{token}`), or `unmatched`: what logs and
    metrics name a request by, since raw paths can carry tokens."""
    match_info = getattr(request, "match_info", None)
    resource = match_info.route.resource if match_info is not None else None
    return resource.canonical if resource is not None else "unmatched"


def request_fields(request: web.BaseRequest) -> dict[str, Any]:
    return {"method": request.method, "route": route_of(request)}


class AccessLogger(AbstractAccessLogger):
    """One `request` line per HTTP request: method, route pattern, status, bytes, ms."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse,
            time: float) -> None:
        self.logger.info("request", extra={
            **request_fields(request), "status": response.status,
            "bytes": response.body_length, "ms": round(time * 1000, 1)})

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
