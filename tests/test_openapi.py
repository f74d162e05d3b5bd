from __future__ import annotations

from openapi_spec_validator import validate

from tests.helpers import Api


async def test_openapi_document_is_valid_and_covers_routes(api: Api) -> None:
    r = await api.get("/api/v1/openapi.json")
    assert r.status == 200
    doc = r.body
    assert doc["openapi"].startswith("3.1")
    validate(doc)
    paths = doc["paths"]
    for path, method in [("/api/v1/accounts", "post"), ("/api/v1/sessions", "post"),
                         ("/api/v1/viewers", "post"), ("/api/v1/me", "get"),
                         ("/api/v1/rooms", "post"), ("/api/v1/rooms", "get"),
                         ("/api/v1/rooms/{room_id}", "get"),
                         ("/api/v1/rooms/{room_id}/status", "post"),
                         ("/api/v1/products", "post"),
                         ("/api/v1/products/{product_id}", "patch"),
                         ("/api/v1/rooms/{room_id}/shelf", "put"),
                         ("/api/v1/rooms/{room_id}/pin", "post")]:
        assert method in paths[path], (path, method)
    body = paths["/api/v1/products"]["post"]["requestBody"]["content"]["application/json"]
    schema = doc["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    assert schema["properties"]["price_cents"]["maximum"] == 10**10


async def test_health_and_metrics(api: Api) -> None:
    r = await api.get("/healthz")
    assert r.status == 200 and r["ok"] is True
    m = await api.get("/metrics")
    assert m.status == 200 and "live_http_requests_total" in m.body
