from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from live.validation import Id, In, Name, Nickname, Password


class SignUpIn(In):
    name: Name
    password: Password
    role: Literal["host", "leader"]
    invite_code: Id | None = None


class SignInIn(In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ViewerIn(In):
    nickname: Nickname


class AccountOut(BaseModel):
    id: str
    name: str
    role: Literal["host", "leader"]
    parent_id: str | None
    host_id: str


class ViewerOut(BaseModel):
    id: str
    nickname: str


class AuthOut(BaseModel):
    account: AccountOut
    token: str


class ViewerAuthOut(BaseModel):
    viewer: ViewerOut
    token: str


class MeOut(BaseModel):
    account: AccountOut | None = None
    invite_code: str | None = None
    viewer: ViewerOut | None = None
