"""Payment providers: the built-in sandbox, and an adapter for a real provider that
confirms through an HMAC-signed webhook.

A real provider (WeChat Pay, Alipay, Stripe...) is wrapped by an adapter that
turns its callback into our webhook body and signs it, or the provider's own
notification is verified by an adapter with the same `verify()` shape. The
webhook (`POST /api/v1/payments/webhook`) carries:

    X-Live-Signature: sha256=<lowercase hex HMAC-SHA256(key, raw body)>
    {"order_id": "...", "status": "paid", "provider": "...", "payment_ref": "..."}

where `key = HMAC-SHA256(LIVE_SECRET, "live/payments/webhook/v1")`, so the
webhook key can be handed to a payment bridge without revealing `LIVE_SECRET`
itself (it signs share links too). Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol

SIGNATURE_HEADER = "X-Live-Signature"
_KEY_LABEL = b"live/payments/webhook/v1"


class PaymentProvider(Protocol):
    """Starts a payment for an order; `confirms_at_once` providers (the sandbox)
    mark it paid in the same request, others confirm later through the webhook."""

    name: str
    confirms_at_once: bool

    def payment_ref(self, order_id: str) -> str | None: ...


@dataclass(frozen=True)
class SandboxProvider:
    """The built-in provider: paying succeeds at once. For demos and tests."""

    name: str = "sandbox"
    confirms_at_once: bool = True

    def payment_ref(self, order_id: str) -> str | None:
        return f"sandbox-{order_id}"


def webhook_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def sign_webhook(secret: str, raw_body: bytes) -> str:
    """The signature header value for `raw_body` (what a provider bridge sends)."""
    return "sha256=" + hmac.new(webhook_key(secret), raw_body, hashlib.sha256).hexdigest()


def verify_webhook(secret: str, raw_body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = sign_webhook(secret, raw_body)
    return hmac.compare_digest(expected.encode(), header.strip().encode())
