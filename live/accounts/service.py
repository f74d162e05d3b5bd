"""Account, viewer and token actions. Transport-free: callers commit."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from live.accounts.models import Account, Token, Viewer
from live.accounts.passwords import DUMMY_HASH, hash_password, verify_password
from live.accounts.principal import Principal
from live.db import among
from live.errors import Code, LiveError, invalid
from live.ids import new_id

INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud in groups


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(8))


async def issue_token(session: AsyncSession, *, kind: str, subject_id: str,
                      now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    session.add(Token(token_hash=_hash_token(token), kind=kind, subject_id=subject_id,
                      created_at=now))
    return token


async def revoke_token(session: AsyncSession, *, token: str, now: datetime) -> bool:
    result = await session.execute(
        update(Token).where(Token.token_hash == _hash_token(token), Token.revoked_at.is_(None))
        .values(revoked_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def sign_up(session: AsyncSession, *, name: str, password: str, role: str,
                  invite_code: str | None, now: datetime) -> tuple[Account, str]:
    parent: Account | None = None
    if role == "leader":
        if not invite_code:
            raise invalid("a 团长 signs up with an invite code",
                          ("invite_code", "required for role leader"))
        parent = await session.scalar(select(Account).where(Account.invite_code == invite_code))
        if parent is None:
            raise invalid("unknown invite code", ("invite_code", "no such invite code"))
    if await session.scalar(select(Account.id).where(Account.name == name)) is not None:
        raise LiveError(Code.CONFLICT, "that name is taken")
    password_hash = await asyncio.to_thread(hash_password, password)
    account_id = new_id("acc")
    account = Account(
        id=account_id, name=name, role=role, password_hash=password_hash,
        parent_id=parent.id if parent else None,
        host_id=parent.host_id if parent else account_id,
        invite_code=_new_invite_code(), created_at=now)
    session.add(account)
    try:
        await session.flush()
    except IntegrityError:
        # the name was taken between our check and the insert (or the
        # invite code collided, one in 10^12): both read as "taken".
        raise LiveError(Code.CONFLICT, "that name is taken") from None
    token = await issue_token(session, kind="account", subject_id=account.id, now=now)
    return account, token


async def sign_in(session: AsyncSession, *, name: str, password: str,
                  now: datetime) -> tuple[Account, str]:
    account = await session.scalar(select(Account).where(Account.name == name))
    ok = await asyncio.to_thread(verify_password, password,
                                 account.password_hash if account else DUMMY_HASH)
    if account is None or not ok:
        raise LiveError(Code.UNAUTHORIZED, "wrong name or password")
    token = await issue_token(session, kind="account", subject_id=account.id, now=now)
    return account, token


async def create_viewer(session: AsyncSession, *, nickname: str,
                        now: datetime) -> tuple[Viewer, str]:
    viewer = Viewer(id=new_id("v"), nickname=nickname, created_at=now)
    session.add(viewer)
    await session.flush()
    token = await issue_token(session, kind="viewer", subject_id=viewer.id, now=now)
    return viewer, token


async def principals_for_tokens(session: AsyncSession,
                                tokens: Sequence[str]) -> list[Principal | None]:
    """Who each token belongs to (None: unknown, revoked, or its subject gone),
    in order, with one statement however many tokens: the auth batcher asks
    for everyone whose request is in flight at once."""
    if not tokens:
        return []
    hashes = [_hash_token(t) for t in tokens]
    t, v, a = Token.__table__.c, Viewer.__table__.c, Account.__table__.c
    rows = await session.execute(
        select(t.token_hash, t.kind, v.id, v.nickname, a.id, a.role, a.name, a.host_id,
               a.parent_id)
        .select_from(Token.__table__
                     .outerjoin(Viewer.__table__, and_(t.kind == "viewer", v.id == t.subject_id))
                     .outerjoin(Account.__table__, and_(t.kind != "viewer",
                                                        a.id == t.subject_id)))
        .where(among(session, t.token_hash, set(hashes)), t.revoked_at.is_(None)))
    found: dict[str, Principal] = {}
    for (token_hash, kind, viewer_id, nickname, account_id, role, name, host_id,
         parent_id) in rows:
        if kind == "viewer":
            if viewer_id is not None:
                found[token_hash] = Principal(role="viewer", id=viewer_id, name=nickname,
                                              host_id=None)
        elif account_id is not None:
            found[token_hash] = Principal(role=role, id=account_id, name=name,
                                          host_id=host_id, parent_id=parent_id)
    return [found.get(h) for h in hashes]


async def principal_for_token(session: AsyncSession, token: str) -> Principal | None:
    return (await principals_for_tokens(session, [token]))[0]


async def get_account(session: AsyncSession, account_id: str) -> Account | None:
    return await session.get(Account, account_id)


async def get_viewer(session: AsyncSession, viewer_id: str) -> Viewer | None:
    return await session.get(Viewer, viewer_id)
