"""Bad input gets the contract's error, never a 500."""

from __future__ import annotations

import io
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import Api

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
product_like = st.fixed_dictionaries({}, optional={
    "title": json_values, "price_cents": json_values, "stock": json_values,
    "image_url": json_values})


async def test_wrong_types_are_invalid_with_fields(api: Api) -> None:
    host = await api.host()
    for bad, field in [({"title": "x", "price_cents": "9", "stock": 1}, "price_cents"),
                       ({"title": "x", "price_cents": 9.5, "stock": 1}, "price_cents"),
                       ({"title": "x", "price_cents": True, "stock": 1}, "price_cents"),
                       ({"title": "x", "price_cents": 0, "stock": 1}, "price_cents"),
                       ({"title": "x", "price_cents": 10**10 + 1, "stock": 1}, "price_cents"),
                       ({"title": "x", "price_cents": 1, "stock": -1}, "stock"),
                       ({"title": "", "price_cents": 1, "stock": 1}, "title"),
                       ({"title": "好" * 121, "price_cents": 1, "stock": 1}, "title"),
                       ({"price_cents": 1, "stock": 1}, "title")]:
        r = await api.post("/api/v1/products", bad, token=host.token)
        assert r.status == 422, (bad, r.body)
        assert r.code == "invalid"
        assert [f["field"] for f in r["error"]["fields"]] == [field], (bad, r.body)


async def test_non_json_and_non_object_bodies(api: Api) -> None:
    host = await api.host()
    for raw in (b"not json", b"[1,2]", b"", b"\xff\xfe", b"null"):
        r = await api.post("/api/v1/products", raw=raw, token=host.token,
                           headers={"Content-Type": "application/json"})
        assert r.status == 422 and r.code == "invalid" and r["error"]["fields"] == []


async def test_body_over_one_mebibyte_is_413(api: Api) -> None:
    host = await api.host()
    big = io.BytesIO(b'{"title": "' + b"x" * (1 << 20) + b'"}')
    r = await api.post("/api/v1/products", raw=big, token=host.token,
                       headers={"Content-Type": "application/json"})
    assert r.status == 413 and r.code == "payload_too_large"


async def test_unknown_route_and_method(api: Api) -> None:
    r = await api.get("/api/v1/nothing-here")
    assert r.status == 404 and r.code == "not_found"
    r = await api.delete("/api/v1/rooms")
    assert r.status == 405 and r["error"]["code"]


async def test_random_bodies_never_500(api: Api, backend: str) -> None:
    host = await api.host()
    room = await api.room(host, live=False)
    product = await api.product(host)
    seen: list[int] = []

    @settings(max_examples=60 if backend == "sqlite" else 30, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(body=st.one_of(product_like, json_values))
    def run(body: Any) -> None:
        seen.append(0)
        bodies.append(body)

    bodies: list[Any] = []
    run()
    targets = [("POST", "/api/v1/products"),
               ("PATCH", f"/api/v1/products/{product['id']}"),
               ("POST", "/api/v1/rooms"),
               ("PUT", f"/api/v1/rooms/{room['id']}/shelf"),
               ("POST", f"/api/v1/rooms/{room['id']}/pin"),
               ("POST", "/api/v1/accounts"),
               ("POST", "/api/v1/viewers")]
    for i, body in enumerate(bodies):
        method, path = targets[i % len(targets)]
        r = await api.call(method, path, body, token=host.token)
        assert r.status < 500, (method, path, body, r.body)
        if r.status >= 400:
            assert isinstance(r.body, dict) and r.code, r.body
