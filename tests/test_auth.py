"""Bearer tokens: one rule (`principals_for_tokens`), looked up in batches for
requests and Socket.IO connects that are in flight at the same moment."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import event

from live import keys
from live.accounts.principal import Principal
from live.accounts.service import principal_for_token, principals_for_tokens, revoke_token
from live.db import transaction
from tests.helpers import Actor, Api
from tests.realtime_helpers import connect_error, sio_client


@contextlib.contextmanager
def token_queries(app: web.Application) -> Iterator[list[str]]:
    """Every statement that reads the tokens table while the block runs."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM tokens" in statement:
            seen.append(statement)

    engine = app[keys.ENGINE].sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def revoke(app: web.Application, token: str) -> None:
    async with transaction(app) as session:
        assert await revoke_token(session, token=token, now=app[keys.CLOCK].now())


async def test_many_tokens_are_answered_in_order_by_one_statement(
        api: Api, app: web.Application) -> None:
    host = await api.host()
    leader = await api.leader(host.invite_code or "")
    viewer = await api.viewer("小红")
    gone = await api.viewer()
    await revoke(app, gone.token)
    tokens = [viewer.token, "garbage", host.token, gone.token, leader.token, viewer.token]
    with token_queries(app) as queries:
        async with app[keys.SESSIONS]() as session:
            found = await principals_for_tokens(session, tokens)
    assert len(queries) == 1
    assert found == [
        Principal(role="viewer", id=viewer.id, name="小红", host_id=None),
        None,
        Principal(role="host", id=host.id, name=host.name, host_id=host.id),
        None,
        Principal(role="leader", id=leader.id, name=leader.name, host_id=host.id,
                  parent_id=host.id),
        Principal(role="viewer", id=viewer.id, name="小红", host_id=None),
    ]
    async with app[keys.SESSIONS]() as session:
        assert await principals_for_tokens(session, []) == []
        assert await principal_for_token(session, leader.token) == found[4]
        assert await principal_for_token(session, gone.token) is None


async def test_50_viewers_at_once_each_get_their_own_principal_from_shared_queries(
        api: Api, app: web.Application) -> None:
    viewers = await asyncio.gather(*(api.viewer(f"观众{i}") for i in range(50)))
    with token_queries(app) as queries:
        replies = await asyncio.gather(*(api.get("/api/v1/me", token=v.token)
                                         for v in viewers))
    assert [r.status for r in replies] == [200] * 50
    assert [r["viewer"] for r in replies] == [{"id": v.id, "nickname": v.name}
                                              for v in viewers]
    assert len(queries) < 50, f"{len(queries)} token queries for 50 requests"


async def test_a_burst_of_valid_revoked_garbage_and_wrong_role_tokens_is_answered_one_by_one(
        api: Api, app: web.Application) -> None:
    host = await api.host()
    viewers = await asyncio.gather(*(api.viewer() for _ in range(12)))
    revoked = viewers[::3]
    for v in revoked:
        await revoke(app, v.token)
    calls: list[tuple[str, str, int]] = []  # path, token, expected status
    for v in viewers:
        calls.append(("/api/v1/me", v.token, 401 if v in revoked else 200))
    calls += [("/api/v1/me", f"garbage-{i}", 401) for i in range(6)]
    calls += [("/api/v1/me", host.token, 200),
              ("/api/v1/me/commissions", host.token, 403),  # a 团长's endpoint
              ("/api/v1/me/commissions", viewers[1].token, 403),
              ("/api/v1/me/commissions", viewers[0].token, 401)]  # revoked: 401 first
    replies = await asyncio.gather(*(api.get(path, token=token) for path, token, _ in calls))
    assert [r.status for r in replies] == [status for _, _, status in calls]
    for (_, token, status), r in zip(calls, replies, strict=True):
        if status == 401:
            assert r.code == "unauthorized" and r["error"]["message"] == \
                "unknown or revoked token"
        elif status == 403:
            assert r.code == "forbidden"
        elif token == host.token:
            assert r["account"]["id"] == host.id
        else:
            assert r["viewer"]["id"] == next(v.id for v in viewers if v.token == token)


async def test_a_revoked_token_is_refused_on_the_very_next_request_and_connect(
        api: Api, app: web.Application, client: TestClient) -> None:  # type: ignore[type-arg]
    viewer = await api.viewer()
    assert (await api.get("/api/v1/me", token=viewer.token)).status == 200
    async with sio_client(client, viewer.token) as sio:
        assert sio.sio.connected
    await revoke(app, viewer.token)
    r = await api.get("/api/v1/me", token=viewer.token)
    assert r.status == 401 and r.code == "unauthorized"
    assert "unauthorized" in await connect_error(client, viewer.token)


async def test_revoking_while_others_authenticate_refuses_every_later_request(
        api: Api, app: web.Application) -> None:
    """Batches start only after their requests arrived, so a revocation
    committed before a request cannot be answered from an older lookup."""
    viewers = await asyncio.gather(*(api.viewer() for _ in range(20)))
    victim = viewers[0]

    async def keep_asking() -> list[int]:
        statuses = []
        for _ in range(5):
            statuses.append((await api.get("/api/v1/me", token=victim.token)).status)
        return statuses

    background = [asyncio.ensure_future(api.get("/api/v1/me", token=v.token))
                  for v in viewers[1:]]
    await revoke(app, victim.token)
    assert await keep_asking() == [401] * 5
    assert all(r.status == 200 for r in await asyncio.gather(*background))


async def test_socket_connects_at_once_share_token_queries(
        api: Api, app: web.Application, client: TestClient) -> None:  # type: ignore[type-arg]
    viewers: list[Actor] = list(await asyncio.gather(*(api.viewer() for _ in range(20))))
    with token_queries(app) as queries:
        async with contextlib.AsyncExitStack() as stack:
            clients = await asyncio.gather(*(stack.enter_async_context(
                sio_client(client, v.token)) for v in viewers))
            assert all(c.sio.connected for c in clients)
            conns = app[keys.SIO].namespace_handlers["/"].conns
            assert {c.principal.id for c in conns.values()} == {v.id for v in viewers}
    assert 1 <= len(queries) < 20, f"{len(queries)} token queries for 20 connects"


async def test_signing_out_revokes_only_that_token(
        api: Api, app: web.Application, client: TestClient) -> None:  # type: ignore[type-arg]
    host = await api.host()
    other = await api.post("/api/v1/sessions", {"name": host.name, "password": "password-123"})
    assert other.status == 200, other.body
    r = await api.delete("/api/v1/sessions", token=host.token)
    assert r.status == 204, r.body
    r = await api.get("/api/v1/me", token=host.token)
    assert r.status == 401 and r.code == "unauthorized"
    assert "unauthorized" in await connect_error(client, host.token)
    assert (await api.get("/api/v1/me", token=other["token"])).status == 200  # another device
    again = await api.delete("/api/v1/sessions", token=host.token)
    assert again.status == 401
    anonymous = await api.delete("/api/v1/sessions")
    assert anonymous.status == 401 and anonymous.code == "unauthorized"
