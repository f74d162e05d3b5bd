"""Bearer tokens: one rule (`principals_for_tokens`) for many tokens at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from sqlalchemy import event

from live import keys
from live.accounts.principal import Principal
from live.accounts.service import principal_for_token, principals_for_tokens, revoke_token
from live.db import transaction
from tests.helpers import Api


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
