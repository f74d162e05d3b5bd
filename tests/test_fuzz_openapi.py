"""Schemathesis against our own OpenAPI document: no request yields a 500.

Every operation is called with generated bodies, queries and path values, as a
host that owns real rooms and products, so valid inputs reach the services
too. Bounded: a fixed number of examples per operation.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.live_server import serve_in_subprocess

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("LIVE_FUZZ_EXAMPLES", "15"))


@schemathesis.serializer("application/sdp")
def _sdp(ctx: Any, value: Any) -> bytes:
    """WHIP/WHEP offers are SDP text: send the generated string as it is."""
    return value if isinstance(value, bytes) else str(value).encode()


def post(base: str, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"}
                                             if token else {})})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_no_generated_request_is_a_server_error(tmp_path: Path) -> None:
    with serve_in_subprocess(tmp_path) as base:
        host = post(base, "/api/v1/accounts", {"name": "fuzz-host", "password": "password-123",
                                               "role": "host"})
        token = host["token"]
        room = post(base, "/api/v1/rooms", {"title": "fuzz room"}, token)
        post(base, "/api/v1/products", {"title": "橙子", "price_cents": 100, "stock": 5}, token)
        with urllib.request.urlopen(base + "/api/v1/openapi.json", timeout=10) as resp:
            doc = json.loads(resp.read())
        schema = schemathesis.openapi.from_dict(doc)
        failures: list[str] = []
        operations = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def check(case: Any) -> None:
                if case.path_parameters:
                    for name in case.path_parameters:
                        if name == "room_id" and case.path_parameters[name] == "":
                            case.path_parameters[name] = room["id"]
                response = case.call(base_url=base, headers={"Authorization": f"Bearer {token}"})
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} -> "
                                    f"{response.status_code}: {response.text[:200]}")
                case.validate_response(response, checks=[not_a_server_error])

            try:
                check()
            except AssertionError:
                pass  # collected in `failures`; keep fuzzing the other operations
            except Exception as exc:
                failures.append(f"{operation.method.upper()} {operation.path}: {exc!r}"[:300])
        assert operations >= 10
        assert failures == []
