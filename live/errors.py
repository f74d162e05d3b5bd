"""The contract's error codes, LiveError, and the middleware that renders them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

from live.logs import request_fields

log = logging.getLogger("live.errors")


class Code(StrEnum):
    INVALID = "invalid"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    SOLD_OUT = "sold_out"
    NOT_RUNNING = "not_running"
    ROOM_NOT_LIVE = "room_not_live"
    LIMIT_EXCEEDED = "limit_exceeded"
    IDEMPOTENCY_MISMATCH = "idempotency_mismatch"
    RATE_LIMITED = "rate_limited"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    OVER_CAPACITY = "over_capacity"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL = "internal"


STATUS: dict[str, int] = {
    Code.INVALID: 422,
    Code.UNAUTHORIZED: 401,
    Code.FORBIDDEN: 403,
    Code.NOT_FOUND: 404,
    Code.CONFLICT: 409,
    Code.SOLD_OUT: 409,
    Code.NOT_RUNNING: 409,
    Code.ROOM_NOT_LIVE: 409,
    Code.LIMIT_EXCEEDED: 422,
    Code.IDEMPOTENCY_MISMATCH: 422,
    Code.RATE_LIMITED: 429,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.OVER_CAPACITY: 503,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.INTERNAL: 500,
}


class LiveError(Exception):
    """An expected failure with a contract code; `extra` lands inside `error`."""

    def __init__(self, code: str, message: str = "", *, status: int | None = None,
                 **extra: Any) -> None:
        super().__init__(message or code)
        self.code = str(code)
        self.message = message or str(code).replace("_", " ")
        self.status = status if status is not None else STATUS.get(self.code, 400)
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


def invalid(message: str, *fields: tuple[str, str], status: int = 422) -> LiveError:
    """A 422 `invalid` naming the bad fields: invalid("bad", ("items.0", "why"))."""
    return LiveError(Code.INVALID, message, status=status,
                     fields=[{"field": f, "message": m} for f, m in fields])


def from_validation_error(exc: ValidationError) -> LiveError:
    fields = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        fields.append({"field": loc, "message": err["msg"]})
    return LiveError(Code.INVALID, "request does not match the schema", fields=fields)


def not_found(what: str = "resource") -> LiveError:
    return LiveError(Code.NOT_FOUND, f"{what} not found")


def forbidden(message: str = "not allowed") -> LiveError:
    return LiveError(Code.FORBIDDEN, message)


def conflict(message: str) -> LiveError:
    return LiveError(Code.CONFLICT, message)


def error_response(err: LiveError) -> web.Response:
    headers = {}
    if "retry_after_s" in err.extra:
        headers["Retry-After"] = str(max(1, int(-(-float(err.extra["retry_after_s"]) // 1))))
    return web.json_response({"error": err.to_dict()}, status=err.status, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    400: Code.INVALID, 401: Code.UNAUTHORIZED, 403: Code.FORBIDDEN, 404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED, 409: Code.CONFLICT, 413: Code.PAYLOAD_TOO_LARGE,
    422: Code.INVALID, 429: Code.RATE_LIMITED,
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LiveError as err:
        return error_response(err)
    except ValidationError as exc:
        return error_response(from_validation_error(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status)
        if code is None:
            raise
        return error_response(LiveError(code, exc.reason, status=exc.status))
    except (sa_exc.TimeoutError, sa_exc.OperationalError) as exc:
        if not overloaded(exc):
            log.exception("database error", extra=request_fields(request))
            return error_response(LiveError(Code.INTERNAL, "internal error"))
        # A burst (a flash sale's first second) can outrun the connection pool
        # or SQLite's write lock. That is capacity, not a bug: say so, and when
        # to retry, instead of a 500. The transaction rolled back; nothing half-done.
        log.warning("over capacity", extra={**request_fields(request),
                                             "error": type(exc).__name__})
        return error_response(LiveError(Code.OVER_CAPACITY, "the server is busy; retry shortly",
                                        retry_after_s=1))
    except Exception:
        log.exception("unhandled error", extra=request_fields(request))
        return error_response(LiveError(Code.INTERNAL, "internal error"))


def overloaded(exc: Exception) -> bool:
    """A pool checkout that timed out, or SQLite's lock wait that ran out."""
    if isinstance(exc, sa_exc.TimeoutError):
        return True
    return "database is locked" in str(exc) or "database is busy" in str(exc)
