"""Every LIVE_* environment variable, read in one place.

`Settings.from_env()` is the only reader of the environment; everything else
gets a `Settings` instance (tests build one directly).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

DEFAULT_ORIGINS = ("http://localhost", "http://127.0.0.1", "http://[::1]")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("live-data")
    database_url: str = ""  # empty: a SQLite file in data_dir
    database_schema: str | None = None  # PostgreSQL search_path (tests, shared databases)
    redis_url: str | None = None  # None: the in-process broker
    redis_prefix: str = "live:"
    secret: str = ""  # empty: generated and kept in data_dir/secret
    payment_timeout_s: int = 900
    chat_burst: int = 5
    chat_rate_per_s: float = 1.0
    like_rate_per_s: float = 20.0
    # HTTP token buckets (a burst of 0 turns one off). Generous: they stop
    # password guessing and scripted sign-ups, never an honest buyer.
    signin_ip_burst: int = 30  # POST /sessions and /accounts per client IP
    signin_ip_rate_per_s: float = 0.5
    signin_account_burst: int = 10  # POST /sessions per account name
    signin_account_rate_per_s: float = 0.1
    viewer_ip_burst: int = 300  # POST /viewers per client IP (a carrier NAT hides many)
    viewer_ip_rate_per_s: float = 10.0
    order_burst: int = 20  # POST /orders per viewer: a buyer places a few a second at most
    order_rate_per_s: float = 5.0
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-For counts
    allowed_origins: tuple[str, ...] = DEFAULT_ORIGINS
    webrtc_max_viewers: int = 20  # contract default; ~16-21 per core at 360p15 (docs/benchmarks.md)
    history_max: int = 1000  # events each room keeps for replay
    history_max_age_s: float = 600.0
    ice_servers: tuple[str, ...] = ()
    auto_migrate: bool | None = None  # None: yes for SQLite, no for PostgreSQL
    max_body_bytes: int = 1 << 20
    log_level: str = "INFO"
    log_format: str = "text"  # text (key=value) | json: one object per line
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(f"LIVE_{name}")
            return value if value not in (None, "") else None

        kwargs: dict[str, Any] = {}
        if (v := get("HOST")) is not None:
            kwargs["host"] = v
        if (v := get("PORT")) is not None:
            kwargs["port"] = int(v)
        if (v := get("DATA_DIR")) is not None:
            kwargs["data_dir"] = Path(v)
        if (v := get("DATABASE_URL")) is not None:
            kwargs["database_url"] = v
        if (v := get("DATABASE_SCHEMA")) is not None:
            kwargs["database_schema"] = v
        if (v := get("REDIS_URL")) is not None:
            kwargs["redis_url"] = v
        if (v := get("REDIS_PREFIX")) is not None:
            kwargs["redis_prefix"] = v
        if (v := get("SECRET")) is not None:
            kwargs["secret"] = v
        if (v := get("PAYMENT_TIMEOUT_S")) is not None:
            kwargs["payment_timeout_s"] = int(v)
        if (v := get("CHAT_BURST")) is not None:
            kwargs["chat_burst"] = int(v)
        if (v := get("CHAT_RATE_PER_S")) is not None:
            kwargs["chat_rate_per_s"] = float(v)
        if (v := get("LIKE_RATE_PER_S")) is not None:
            kwargs["like_rate_per_s"] = float(v)
        for name in ("SIGNIN_IP_BURST", "SIGNIN_ACCOUNT_BURST", "VIEWER_IP_BURST",
                     "ORDER_BURST"):
            if (v := get(name)) is not None:
                kwargs[name.lower()] = int(v)
        for name in ("SIGNIN_IP_RATE_PER_S", "SIGNIN_ACCOUNT_RATE_PER_S",
                     "VIEWER_IP_RATE_PER_S", "ORDER_RATE_PER_S"):
            if (v := get(name)) is not None:
                kwargs[name.lower()] = float(v)
        if (v := get("TRUSTED_PROXIES")) is not None:
            proxies = tuple(p.strip() for p in v.split(",") if p.strip())
            for p in proxies:
                ipaddress.ip_network(p, strict=False)  # a typo fails at start, not per request
            kwargs["trusted_proxies"] = proxies
        if (v := get("ALLOWED_ORIGINS")) is not None:
            kwargs["allowed_origins"] = tuple(o.strip() for o in v.split(",") if o.strip())
        if (v := get("HISTORY_MAX")) is not None:
            kwargs["history_max"] = int(v)
        if (v := get("HISTORY_MAX_AGE_S")) is not None:
            kwargs["history_max_age_s"] = float(v)
        if (v := get("WEBRTC_MAX_VIEWERS")) is not None:
            kwargs["webrtc_max_viewers"] = int(v)
        if (v := get("ICE_SERVERS")) is not None:
            kwargs["ice_servers"] = tuple(s.strip() for s in v.split(",") if s.strip())
        if (v := get("AUTO_MIGRATE")) is not None:
            kwargs["auto_migrate"] = v.lower() in ("1", "true", "yes")
        if (v := get("LOG_LEVEL")) is not None:
            kwargs["log_level"] = v
        if (v := get("LOG_FORMAT")) is not None:
            if v.lower() not in ("text", "json"):
                raise ValueError(f"LIVE_LOG_FORMAT must be text or json, not {v!r}")
            kwargs["log_format"] = v.lower()
        kwargs.update(overrides)
        return cls(**kwargs).resolved()

    def resolved(self) -> Settings:
        """Fill the defaults that depend on the data directory (and create it)."""
        out = self
        if not out.database_url or not out.secret:
            out.data_dir.mkdir(parents=True, exist_ok=True)
        if not out.database_url:
            out = replace(out, database_url=f"sqlite+aiosqlite:///{out.data_dir / 'live.db'}")
        if not out.secret:
            path = out.data_dir / "secret"
            if not path.exists():
                path.write_text(secrets.token_urlsafe(48))
                path.chmod(0o600)
            out = replace(out, secret=path.read_text().strip())
        return out

    @cached_property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def should_migrate(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate
