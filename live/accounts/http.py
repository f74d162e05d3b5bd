from __future__ import annotations

from typing import Any

from aiohttp import web

from live import keys
from live.accounts import service
from live.accounts.models import Account, Viewer
from live.accounts.principal import ANYONE, Principal
from live.accounts.schemas import (
    AccountOut, AuthOut, MeOut, SignInIn, SignUpIn, ViewerAuthOut, ViewerIn, ViewerOut)
from live.api import Body, Routes, address_bucket, bearer_token, client_ip, throttle
from live.db import transaction
from live.errors import not_found

routes = Routes(tag="accounts")


def account_out(a: Account) -> AccountOut:
    return AccountOut(id=a.id, name=a.name, role=a.role,  # type: ignore[arg-type]
                      parent_id=a.parent_id, host_id=a.host_id)


def viewer_out(v: Viewer) -> ViewerOut:
    return ViewerOut(id=v.id, nickname=v.nickname)


async def _signin_ip_bucket(request: web.Request) -> None:
    settings = request.app[keys.SETTINGS]
    address = address_bucket(client_ip(request))
    await throttle(request, f"signin:ip:{address}", settings.signin_ip_burst,
                   settings.signin_ip_rate_per_s, "sign-ins from this address")


@routes.post("/api/v1/accounts", body=SignUpIn, response=AuthOut, status=201, errors=(409, 429))
async def sign_up(request: web.Request, *, body: Body[SignUpIn]) -> AuthOut:
    """Create a host, or a 团长 under the owner of an invite code."""
    await _signin_ip_bucket(request)
    data = await body()
    async with transaction(request.app) as session:
        account, token = await service.sign_up(
            session, name=data.name, password=data.password, role=data.role,
            invite_code=data.invite_code, now=request.app[keys.CLOCK].now())
    return AuthOut(account=account_out(account), token=token)


@routes.post("/api/v1/sessions", body=SignInIn, response=AuthOut, errors=(401, 429))
async def sign_in(request: web.Request, *, body: Body[SignInIn]) -> AuthOut:
    """Sign in with name and password; returns a new token."""
    await _signin_ip_bucket(request)
    data = await body()
    # Per name as well, so guessing one account's password from many addresses
    # is slow too; an unknown name has a bucket like a real one (same answer).
    settings = request.app[keys.SETTINGS]
    await throttle(request, f"signin:name:{data.name}", settings.signin_account_burst,
                   settings.signin_account_rate_per_s, "sign-ins for this account")
    async with transaction(request.app) as session:
        account, token = await service.sign_in(
            session, name=data.name, password=data.password, now=request.app[keys.CLOCK].now())
    return AuthOut(account=account_out(account), token=token)


@routes.delete("/api/v1/sessions", status=204, auth=ANYONE)
async def sign_out(request: web.Request, *, principal: Principal) -> web.Response:
    """Sign out: this bearer token stops working at once, on every worker (every
    request looks its token up; nothing is cached). Open Socket.IO connections
    made with it stay until they reconnect."""
    token = bearer_token(request)
    assert token is not None  # authenticated above
    async with transaction(request.app) as session:
        await service.revoke_token(session, token=token, now=request.app[keys.CLOCK].now())
    return web.Response(status=204)


@routes.post("/api/v1/viewers", body=ViewerIn, response=ViewerAuthOut, status=201,
             errors=(429,))
async def create_viewer(request: web.Request, *, body: Body[ViewerIn]) -> ViewerAuthOut:
    """A guest viewer identity, created silently by the player."""
    settings = request.app[keys.SETTINGS]
    address = address_bucket(client_ip(request))
    await throttle(request, f"viewers:ip:{address}", settings.viewer_ip_burst,
                   settings.viewer_ip_rate_per_s, "new viewers from this address")
    data = await body()
    async with transaction(request.app) as session:
        viewer, token = await service.create_viewer(
            session, nickname=data.nickname, now=request.app[keys.CLOCK].now())
    return ViewerAuthOut(viewer=viewer_out(viewer), token=token)


@routes.get("/api/v1/me", response=MeOut, auth=ANYONE)
async def me(request: web.Request, *, principal: Principal) -> dict[str, Any]:
    """Who the token belongs to."""
    async with request.app[keys.SESSIONS]() as session:
        if principal.is_viewer:
            viewer = await service.get_viewer(session, principal.id)
            if viewer is None:
                raise not_found("viewer")
            return {"viewer": viewer_out(viewer)}
        account = await service.get_account(session, principal.id)
        if account is None:
            raise not_found("account")
        return {"account": account_out(account), "invite_code": account.invite_code}
