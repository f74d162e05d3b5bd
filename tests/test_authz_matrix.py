"""The authorization matrix, part one: every declared endpoint × every kind of
caller. Anonymous callers get 401 wherever a token is required, and each role
the endpoint does not admit gets 403, before anything else is looked at.

Ownership (another host's room, another viewer's order → 403) is checked per
domain in that domain's tests and in `test_ownership_matrix` below.
"""

from __future__ import annotations

import re

from aiohttp import web

from live.system import ENDPOINTS
from tests.helpers import Api


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "nope", path)


async def test_every_endpoint_refuses_anonymous_and_wrong_roles(api: Api,
                                                                app: web.Application) -> None:
    host = await api.host()
    leader = await api.leader(host.invite_code or "")
    viewer = await api.viewer()
    tokens = {"host": host.token, "leader": leader.token, "viewer": viewer.token}
    endpoints = [e for e in app[ENDPOINTS] if e.auth is not None]
    assert len(endpoints) >= 5
    for e in endpoints:
        path = concrete(e.path)
        r = await api.call(e.method, path, {})
        assert r.status == 401 and r.code == "unauthorized", (e.method, e.path, r.body)
        r = await api.call(e.method, path, {}, token="forged-token")
        assert r.status == 401, (e.method, e.path, r.body)
        if "any" in e.auth:
            continue
        for role, token in tokens.items():
            if role in e.auth:
                continue
            r = await api.call(e.method, path, {}, token=token)
            assert r.status == 403 and r.code == "forbidden", (role, e.method, e.path, r.body)
