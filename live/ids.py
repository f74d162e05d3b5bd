"""Opaque, roughly time-ordered ids: `<prefix>_<12 hex ms><10 hex random>`."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    ms = int(time.time() * 1000)
    return f"{prefix}_{ms:012x}{secrets.token_hex(5)}"
