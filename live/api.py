"""HTTP plumbing shared by every domain: declared routes, validated bodies,
authentication, JSON answers and the OpenAPI document built from the same
pydantic models that validate requests.

A domain's `http.py` declares its endpoints on a module-level `Routes` (a
static table, like aiohttp's RouteTableDef), and `app.py` installs them:

    routes = Routes(tag="rooms")

    @routes.post("/api/v1/rooms", body=CreateRoomIn, response=RoomOut, status=201,
                 auth=HOST)
    async def create_room(request: web.Request, *, principal: Principal,
                          body: Body[CreateRoomIn]) -> RoomOut:
        data = await body()   # validated here, after any ownership check
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from live import keys
from live.accounts.principal import ANY, Principal, Role
from live.accounts.service import principal_for_token, principals_for_tokens
from live.batch import Batcher
from live.errors import Code, LiveError, from_validation_error

log = logging.getLogger("live.api")
Handler = Callable[..., Awaitable[Any]]
M = TypeVar("M", bound=BaseModel)


@dataclass
class Endpoint:
    method: str
    path: str
    fn: Handler
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    auth: frozenset[Role] | None
    summary: str
    tag: str
    errors: Sequence[int] = ()
    session: bool = False  # the handler gets the session its caller was authenticated in
    produces: str | None = None  # a non-JSON answer's media type (text/csv), for OpenAPI


@dataclass
class Routes:
    tag: str
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(self, method: str, path: str, *, body: type[BaseModel] | None = None,
              query: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
              status: int = 200, auth: Iterable[Role] | None = None,
              summary: str = "", errors: Sequence[int] = (),
              session: bool = False,
              produces: str | None = None) -> Callable[[Handler], Handler]:
        """`session=True`: the wrapper opens one session, authenticates in it and
        passes it to the handler as `session`, so a hot read-only call uses one
        pooled connection (and one pre-ping) instead of two."""
        def deco(fn: Handler) -> Handler:
            self.endpoints.append(Endpoint(
                method, path, fn, body, query, response, status,
                frozenset(auth) if auth is not None else None,
                summary or (fn.__doc__ or fn.__name__).strip().splitlines()[0], self.tag,
                errors, session, produces))
            return fn
        return deco

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)


def install(app: web.Application, tables: Sequence[Routes]) -> list[Endpoint]:
    endpoints = [e for t in tables for e in t.endpoints]
    for e in endpoints:
        app.router.add_route(e.method, e.path, _wrap(e))
    return endpoints


def _wrap(e: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def call(request: web.Request, session: AsyncSession | None) -> Any:
        kwargs: dict[str, Any] = {}
        if e.auth is not None:
            kwargs["principal"] = await authenticate(request, e.auth, session=session)
        if e.query is not None:
            kwargs["query"] = parse(e.query, dict(request.query))
        if e.body is not None:
            kwargs["body"] = Body(request, e.body)
        if session is not None:
            kwargs["session"] = session
        return await e.fn(request, **kwargs)

    async def handler(request: web.Request) -> web.StreamResponse:
        if e.session:
            async with request.app[keys.SESSIONS]() as session:
                result = await call(request, session)
        else:
            result = await call(request, None)
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result, status=e.status)

    handler.__name__ = e.fn.__name__
    return handler


async def read_json(request: web.Request) -> Any:
    limit = request.app[keys.SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise LiveError(Code.PAYLOAD_TOO_LARGE, f"body over {limit} bytes")
    raw = await request.read()  # aiohttp enforces client_max_size too
    if len(raw) > limit:
        raise LiveError(Code.PAYLOAD_TOO_LARGE, f"body over {limit} bytes")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LiveError(Code.INVALID, "body is not JSON", fields=[]) from None


def parse(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise LiveError(Code.INVALID, "body must be a JSON object", fields=[])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


class Body(Generic[M]):
    """The request body, validated when the handler awaits it.

    Handlers check who may touch the path's resource first (403/404) and only
    then read the body, so a stranger learns nothing from validation errors.
    """

    def __init__(self, request: web.Request, model: type[M]) -> None:
        self._request = request
        self._model = model

    async def __call__(self) -> M:
        return parse(self._model, await read_json(self._request))


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(request: web.Request, roles: frozenset[Role], *,
                       session: AsyncSession | None = None) -> Principal:
    """The caller, in `session` if given, else through the app's batcher (one
    query for every request authenticating at the same moment)."""
    token = bearer_token(request)
    if token is None:
        raise LiveError(Code.UNAUTHORIZED, "a bearer token is required")
    if session is not None:
        principal = await principal_for_token(session, token)
    else:
        principal = await request.app[keys.PRINCIPALS](token)
    if principal is None:
        raise LiveError(Code.UNAUTHORIZED, "unknown or revoked token")
    if ANY not in roles and principal.role not in roles:
        raise LiveError(Code.FORBIDDEN, f"this needs a {' or '.join(sorted(roles))} token")
    return principal


def principal_batcher(app: web.Application) -> Batcher[str, Principal | None]:
    """Token -> principal for every caller without a session of its own (HTTP,
    Socket.IO connect). Calls arriving while a lookup runs share the next one:
    one read session and one statement per batch. Nothing is cached, so a token
    revoked before a request arrived is refused by that request."""
    async def run(tokens: list[str]) -> list[Principal | None]:
        async with app[keys.SESSIONS]() as session:
            return await principals_for_tokens(session, tokens)
    return Batcher(run)


# --- rate limits ----------------------------------------------------------------

def client_ip(request: web.Request) -> str:
    """The caller's address: the peer, or, when the peer is a trusted proxy
    (LIVE_TRUSTED_PROXIES), the last X-Forwarded-For hop that is not one.
    Only trusted proxies are believed: anyone can send the header."""
    trusted = request.app[keys.SETTINGS].trusted_networks
    peer = request.remote or ""
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")
            if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _in(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def address_bucket(address: str) -> str:
    """What a per-address limit counts: the IPv4 address, or the IPv6 /64 (one
    subscriber gets a whole /64 and could rotate through it)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:1.2.3.4 is an IPv4 client
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


async def throttle(request: web.Request, key: str, burst: int, rate_per_s: float,
                   what: str) -> None:
    """Spend a token of bucket `key` (the app's limiter: Redis when configured,
    so all workers share it) or answer 429 `rate_limited` with `retry_after_s`
    and Retry-After. A burst of 0 is no limit. If Redis does not answer, the
    request goes through: a limiter must not take the shop down with it."""
    if burst <= 0:
        return
    app = request.app
    try:
        wait = await app[keys.LIMITER].take(key, burst, rate_per_s,
                                            app[keys.CLOCK].now().timestamp())
    except (RedisError, OSError) as exc:
        log.warning("rate limiter unavailable (%s): %s not limited", type(exc).__name__, what)
        return
    if wait > 0:
        raise LiveError(Code.RATE_LIMITED, f"too many {what}; retry later",
                        retry_after_s=round(wait, 3))


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(data: Any) -> str:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_default)


def json_response(data: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=dumps(data), status=status, content_type="application/json",
                        headers=headers)


# --- OpenAPI -----------------------------------------------------------------

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "enum": [c.value for c in Code]},
            "message": {"type": "string"},
            "fields": {"type": "array", "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
            "retry_after_s": {"type": "number"},
        }}},
}


def openapi(endpoints: Sequence[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = []
    for e in endpoints:
        if e.body is not None:
            models.append((e.body, "validation"))
        if e.response is not None:
            models.append((e.response, "serialization"))
    refs, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        op: dict[str, Any] = {
            "operationId": f"{e.tag}_{e.fn.__name__}",
            "summary": e.summary,
            "tags": [e.tag],
            "responses": {},
        }
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in _path_params(e.path)]
        if e.query is not None:
            schema = e.query.model_json_schema()
            required = set(schema.get("required", []))
            for name, prop in schema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required,
                               "schema": prop})
        if params:
            op["parameters"] = params
        if e.body is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": refs[(e.body, "validation")]}}}
        ok: dict[str, Any] = {"description": "OK"}
        if e.response is not None:
            ok["content"] = {"application/json": {"schema": refs[(e.response, "serialization")]}}
        elif e.produces is not None:
            ok["content"] = {e.produces: {"schema": {"type": "string"}}}
        op["responses"][str(e.status)] = ok
        codes = set(e.errors)
        if e.body is not None or e.query is not None:
            codes |= {422, 413}
        if e.auth is not None:
            codes |= {401, 403}
        if _path_params(e.path):
            codes.add(404)
        for code in sorted(codes):
            op["responses"][str(code)] = {
                "description": "error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        if e.auth is not None:
            op["security"] = [{"bearer": []}]
        paths.setdefault(e.path, {})[e.method.lower()] = op
    schemas = dict(defs.get("$defs", {}))
    schemas["Error"] = _ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _path_params(path: str) -> list[str]:
    # "{room_id}", "{token}.svg", "{name:regex}": every placeholder, anywhere in a segment
    return [m.split(":")[0] for m in re.findall(r"\{([^{}]+)\}", path)]
