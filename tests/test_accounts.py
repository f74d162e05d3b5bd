from __future__ import annotations

from tests.helpers import Api


async def test_host_signs_up_and_sees_itself(api: Api) -> None:
    r = await api.post("/api/v1/accounts", {"name": "鲜果团方", "password": "password-123",
                                            "role": "host"})
    assert r.status == 201
    account = r["account"]
    assert account["role"] == "host" and account["parent_id"] is None
    assert account["host_id"] == account["id"]
    me = await api.get("/api/v1/me", token=r["token"])
    assert me.status == 200
    assert me["account"] == account
    assert len(me["invite_code"]) >= 6


async def test_leader_chain_records_parent_and_root_host(api: Api) -> None:
    host = await api.host()
    leader = await api.leader(host.invite_code or "")
    sub = await api.leader(leader.invite_code or "")
    me = await api.get("/api/v1/me", token=sub.token)
    assert me["account"]["parent_id"] == leader.id
    assert me["account"]["host_id"] == host.id


async def test_leader_without_or_with_unknown_invite_code_is_invalid(api: Api) -> None:
    r = await api.post("/api/v1/accounts", {"name": "x1", "password": "password-123",
                                            "role": "leader"})
    assert r.status == 422 and r.code == "invalid"
    assert r["error"]["fields"][0]["field"] == "invite_code"
    r = await api.post("/api/v1/accounts", {"name": "x1", "password": "password-123",
                                            "role": "leader", "invite_code": "NOPE"})
    assert r.status == 422 and r.code == "invalid"


async def test_taken_name_is_conflict(api: Api) -> None:
    await api.host("same-name")
    r = await api.post("/api/v1/accounts", {"name": "same-name", "password": "password-123",
                                            "role": "host"})
    assert r.status == 409 and r.code == "conflict"


async def test_sign_in_right_and_wrong_password(api: Api) -> None:
    host = await api.host("signer")
    ok = await api.post("/api/v1/sessions", {"name": "signer", "password": "password-123"})
    assert ok.status == 200 and ok["account"]["id"] == host.id
    assert (await api.get("/api/v1/me", token=ok["token"])).status == 200
    wrong = await api.post("/api/v1/sessions", {"name": "signer", "password": "password-124"})
    unknown = await api.post("/api/v1/sessions", {"name": "nobody", "password": "password-123"})
    assert wrong.status == unknown.status == 401
    assert wrong.body == unknown.body


async def test_viewer_guest_identity(api: Api) -> None:
    r = await api.post("/api/v1/viewers", {"nickname": "小刚"})
    assert r.status == 201 and r["viewer"]["nickname"] == "小刚"
    me = await api.get("/api/v1/me", token=r["token"])
    assert me.body == {"viewer": r["viewer"]}


async def test_missing_or_bad_token_is_unauthorized(api: Api) -> None:
    assert (await api.get("/api/v1/me")).code == "unauthorized"
    assert (await api.get("/api/v1/me", token="not-a-token")).status == 401
    r = await api.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert r.status == 401


async def test_password_and_name_limits(api: Api) -> None:
    r = await api.post("/api/v1/accounts", {"name": "a" * 41, "password": "short",
                                            "role": "host"})
    assert r.status == 422
    assert {f["field"] for f in r["error"]["fields"]} == {"name", "password"}
    r = await api.post("/api/v1/accounts", {"name": "好" * 40, "password": "p" * 128,
                                            "role": "host"})
    assert r.status == 201  # 40 code points, not bytes
