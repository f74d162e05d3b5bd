"""福袋 lucky draws through the real server: eligibility from real Socket.IO
joins and chats, the end by the sweeper or the host, and winners re-derived
from the published seed independently of the server's code."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from live import keys
from live.app import create_app
from live.clock import FakeClock
from live.settings import Settings
from tests.helpers import Api
from tests.realtime_helpers import sio_client

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def timed(make_settings: Callable[..., Settings], clock: FakeClock,
                aiohttp_client: Any) -> tuple[Api, web.Application]:
    app = create_app(make_settings(), clock=clock, run_timers=False)
    return Api(await aiohttp_client(app)), app


def rederive(draw: dict[str, Any]) -> list[str]:
    """The winners as docs/draws.md defines them, written out again here."""
    assert hashlib.sha256(draw["seed"].encode("ascii")).hexdigest() == draw["commitment"]
    scored = []
    for viewer_id in draw["eligible"]:
        mac = hmac.new(draw["seed"].encode("ascii"), viewer_id.encode("utf-8"), "sha256")
        scored.append((mac.hexdigest(), viewer_id))
    scored.sort()
    return [viewer_id for _, viewer_id in scored[:draw["winners"]]]


def verify_script(draw: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "verify_draw.py"), "-"],
                          input=json.dumps(draw), capture_output=True, text=True, check=False)


async def test_joined_draw_ends_by_itself_and_its_winners_rederive_from_the_seed(
        timed: tuple[Api, web.Application], clock: FakeClock) -> None:
    api, app = timed
    host = await api.host()
    leader = await api.leader(host.invite_code or "")
    room = await api.room(host)
    rid = room["id"]
    viewers = [await api.viewer(f"观众{i}") for i in range(7)]
    late = await api.viewer("迟到")
    banned = viewers[-1]
    async with sio_client(api.client, host.token) as host_sio:
        await host_sio.join(rid)
        for who in [*viewers, leader]:
            async with sio_client(api.client, who.token) as s:
                assert (await s.join(rid))["ok"]
        r = await api.post(f"/api/v1/rooms/{rid}/draws", {
            "prize": "脐橙礼盒", "winners": 3, "eligibility": "joined", "duration_s": 30},
            token=host.token)
        assert r.status == 201, r.body
        draw = r.body
        started = await host_sio.wait_for_type("draw")
        assert started["data"]["id"] == draw["id"]
        assert started["data"]["commitment"] == draw["commitment"]
        assert started["data"]["seed"] is None and started["data"]["eligible_count"] is None
        assert "eligible" not in started["data"]
        mod = await api.post(f"/api/v1/rooms/{rid}/moderation",
                             {"action": "ban", "user_id": banned.id}, token=host.token)
        assert mod.status == 200, mod.body

        clock.advance(29.9)
        await app[keys.JOBS].run_all(app)
        assert (await api.get(f"/api/v1/draws/{draw['id']}"))["status"] == "running"
        clock.advance(0.1)
        async with sio_client(api.client, late.token) as s:  # joins at the end: too late?
            clock.advance(0.001)
            await s.join(rid)
        await app[keys.JOBS].run_all(app)
        await app[keys.JOBS].run_all(app)  # a second sweep (another worker) changes nothing
        ended = (await api.get(f"/api/v1/draws/{draw['id']}")).body
        assert ended["status"] == "ended"
        assert ended["ends_at"] == draw["ends_at"]
        expected = sorted(v.id for v in viewers[:-1])  # not the banned one, host, leader, late
        assert ended["eligible"] == expected
        assert ended["winner_ids"] == rederive(ended)
        assert len(ended["winner_ids"]) == 3
        event = await host_sio.wait_for_type("draw", 2)
        assert event["data"]["winner_ids"] == ended["winner_ids"]
        assert event["data"]["seed"] == ended["seed"]
        assert event["data"]["eligible_count"] == 6 and "eligible" not in event["data"]
        assert len(host_sio.of_type("draw")) == 2
    # the published script agrees
    out = verify_script(ended)
    assert out.returncode == 0, out.stdout + out.stderr
    out = verify_script({**ended, "winner_ids": list(reversed(ended["winner_ids"]))})
    assert out.returncode == 1 and "winners differ" in out.stdout


async def test_chatted_draw_counts_keyword_chats_during_the_draw_only(
        timed: tuple[Api, web.Application], clock: FakeClock) -> None:
    api, _ = timed
    host = await api.host()
    room = await api.room(host)
    rid = room["id"]
    early, exact, lower, none, twice = [await api.viewer(n) for n in
                                         ("早到", "正好", "小写", "没说", "两次")]
    async with contextlib.AsyncExitStack() as stack:
        opened = {who.id: await stack.enter_async_context(sio_client(api.client, who.token))
                  for who in (early, exact, lower, none, twice)}
        for s in opened.values():
            assert (await s.join(rid))["ok"]
        assert (await opened[early.id].chat(rid, "我要抽Lucky福袋", "e1"))["ok"]
        clock.advance(1)
        r = await api.post(f"/api/v1/rooms/{rid}/draws", {
            "prize": "福袋", "winners": 10, "eligibility": "chatted", "keyword": "Lucky",
            "duration_s": 60}, token=host.token)
        assert r.status == 201
        draw = r.body
        clock.advance(1)
        assert (await opened[exact.id].chat(rid, "Lucky!", "x1"))["ok"]
        assert (await opened[lower.id].chat(rid, "lucky", "l1"))["ok"]
        assert (await opened[none.id].chat(rid, "你好", "n1"))["ok"]
        assert (await opened[twice.id].chat(rid, "Lucky 1", "t1"))["ok"]
        clock.advance(1)
        assert (await opened[twice.id].chat(rid, "Lucky 2", "t2"))["ok"]
        clock.advance(5)
        ended = await api.post(f"/api/v1/draws/{draw['id']}/end", token=host.token)
        assert ended.status == 200
        assert ended["ends_at"] != draw["ends_at"]  # ended now, by the host
        assert ended["eligible"] == sorted([exact.id, twice.id])
        assert ended["winner_ids"] == rederive(ended.body)
        clock.advance(1)
        assert (await opened[early.id].chat(rid, "Lucky again", "e2"))["ok"]
        assert (await api.get(f"/api/v1/draws/{draw['id']}"))["eligible"] == ended["eligible"]


async def test_a_draw_with_fewer_eligible_than_winners_gives_everyone_a_prize(
        timed: tuple[Api, web.Application], clock: FakeClock) -> None:
    api, app = timed
    host = await api.host()
    room = await api.room(host)
    a = await api.viewer("甲")
    async with sio_client(api.client, a.token) as s:
        await s.join(room["id"])
    r = await api.post(f"/api/v1/rooms/{room['id']}/draws", {
        "prize": "福袋", "winners": 5, "eligibility": "joined", "duration_s": 5},
        token=host.token)
    clock.advance(5)
    await app[keys.JOBS].run_all(app)
    d = (await api.get(f"/api/v1/draws/{r['id']}")).body
    assert d["eligible"] == [a.id] and d["winner_ids"] == [a.id]


async def test_only_the_host_reads_the_winners_nicknames_and_only_after_the_end(
        timed: tuple[Api, web.Application], clock: FakeClock) -> None:
    api, _ = timed
    host, other = await api.host(), await api.host()
    room = await api.room(host)
    rid = room["id"]
    a, b = await api.viewer("阿花"), await api.viewer("小明")
    for who in (a, b):
        async with sio_client(api.client, who.token) as s:
            assert (await s.join(rid))["ok"]
    r = await api.post(f"/api/v1/rooms/{rid}/draws", {
        "prize": "福袋", "winners": 1, "eligibility": "joined", "duration_s": 60},
        token=host.token)
    assert r.status == 201, r.body
    path = f"/api/v1/draws/{r['id']}/winners"
    running = await api.get(path, token=host.token)
    assert running.status == 200 and running.body == {
        "draw_id": r["id"], "status": "running", "winners": []}
    clock.advance(5)
    ended = await api.post(f"/api/v1/draws/{r['id']}/end", token=host.token)
    assert ended.status == 200, ended.body
    winner = ended["winner_ids"][0]
    out = await api.get(path, token=host.token)
    assert out.status == 200 and out["status"] == "ended"
    assert out["winners"] == [{"viewer_id": winner,
                               "nickname": {a.id: "阿花", b.id: "小明"}[winner]}]
    assert (await api.get(path, token=other.token)).status == 403
    assert (await api.get(path, token=a.token)).status == 403
    assert (await api.get(path)).status == 401
    assert (await api.get("/api/v1/draws/nope/winners", token=host.token)).status == 404
