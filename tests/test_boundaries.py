"""Services know nothing of transports: no aiohttp, socketio, redis or aiortc."""

from __future__ import annotations

import ast
from pathlib import Path

LIVE = Path(__file__).resolve().parent.parent / "live"
FORBIDDEN = ("aiohttp", "socketio", "engineio", "redis", "aiortc")
DOMAIN_FILES = ("service.py", "models.py", "events.py", "schemas.py")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_domain_modules_import_no_transport() -> None:
    checked = 0
    for path in LIVE.rglob("*.py"):
        if path.name not in DOMAIN_FILES and "service" not in path.parts:
            continue
        checked += 1
        bad = {n for n in imports_of(path) if n.split(".")[0] in FORBIDDEN
               or n.startswith("live.realtime") or n.endswith((".http", ".sio"))}
        assert not bad, f"{path.relative_to(LIVE)} imports {sorted(bad)}"
    assert checked >= 4
