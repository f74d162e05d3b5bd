"""Signed share-link tokens: `<payload><signature>`, URL-safe, no padding.

The payload names the room and the 团长 (`room_id` + NUL + `leader_id`,
base64url); the signature is the first 16 bytes of HMAC-SHA256 over the
payload under a key derived from the server secret, base64url (22 chars). A
token is therefore stateless, the same for the same 团长 and room, and any
change to it fails the constant-time comparison. Only `A-Z a-z 0-9 - _`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

SIG_BYTES = 16
SIG_CHARS = 22  # base64url of 16 bytes without padding
ALPHABET = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_TOKEN_CHARS = 300


@dataclass(frozen=True)
class LinkClaims:
    room_id: str
    leader_id: str


def _key(secret: str) -> bytes:
    # A key of its own, so a share token can never double as another signature.
    return hmac.new(secret.encode(), b"live/share-link/v1", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: bytes) -> bytes:
    return hmac.new(_key(secret), payload, hashlib.sha256).digest()[:SIG_BYTES]


def make_token(secret: str, *, room_id: str, leader_id: str) -> str:
    payload = f"{room_id}\x00{leader_id}".encode()
    return _b64(payload) + _b64(_sign(secret, payload))


def read_token(secret: str, token: str) -> LinkClaims | None:
    """The claims of a genuine token, or None for anything else."""
    if (not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS
            or len(token) <= SIG_CHARS or not ALPHABET.match(token)):
        return None
    body, sig = token[:-SIG_CHARS], token[-SIG_CHARS:]
    try:
        payload = _unb64(body)
        given = _unb64(sig)
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(given, _sign(secret, payload)):
        return None
    # Re-encoding must give back the very text: base64 has a few spellings of
    # the same bytes (trailing bits), and a changed token is refused.
    if _b64(payload) != body or _b64(given) != sig:
        return None
    try:
        room_id, leader_id = payload.decode().split("\x00")
    except (UnicodeDecodeError, ValueError):
        return None
    if not room_id or not leader_id:
        return None
    return LinkClaims(room_id=room_id, leader_id=leader_id)
