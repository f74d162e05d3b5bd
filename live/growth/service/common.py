from __future__ import annotations

from datetime import datetime


def expired(expires_at: datetime, now: datetime) -> bool:
    """A deadline is past from its very instant on."""
    return now >= expires_at
