"""A payment adapter confirms through an HMAC-SHA256 signed webhook."""

from __future__ import annotations

import json

from live.cart.payments import SIGNATURE_HEADER, sign_webhook
from tests.commerce_helpers import order
from tests.helpers import Api

SECRET = "test-secret-0123456789abcdef"  # conftest's LIVE_SECRET


async def test_signed_webhook_pays_and_forged_is_refused(api: Api) -> None:
    host = await api.host()
    room = await api.room(host, products=1)
    viewer = await api.viewer()
    o = (await order(api, viewer, room["id"], [(room["shelf"][0]["id"], 1)])).body
    raw = json.dumps({"order_id": o["id"], "status": "paid", "provider": "wechat",
                      "payment_ref": "wx-4200001"}).encode()
    hdr = {"Content-Type": "application/json"}
    forged = await api.post("/api/v1/payments/webhook", raw=raw,
                            headers={**hdr, SIGNATURE_HEADER: "sha256=" + "0" * 64})
    assert forged.status == 401 and forged.code == "unauthorized"
    unsigned = await api.post("/api/v1/payments/webhook", raw=raw, headers=hdr)
    assert unsigned.status == 401
    other_key = await api.post("/api/v1/payments/webhook", raw=raw,
                               headers={**hdr, SIGNATURE_HEADER: sign_webhook("x", raw)})
    assert other_key.status == 401
    tampered = raw.replace(b"wx-4200001", b"wx-4200002")
    r = await api.post("/api/v1/payments/webhook", raw=tampered,
                       headers={**hdr, SIGNATURE_HEADER: sign_webhook(SECRET, raw)})
    assert r.status == 401
    assert (await api.get(f"/api/v1/orders/{o['id']}", token=viewer.token))["status"] == \
        "pending_payment"

    signed = {**hdr, SIGNATURE_HEADER: sign_webhook(SECRET, raw)}
    r = await api.post("/api/v1/payments/webhook", raw=raw, headers=signed)
    assert r.status == 200 and r["ok"] is True and r["order"]["status"] == "paid"
    # providers retry: the same confirmation again is harmless
    r = await api.post("/api/v1/payments/webhook", raw=raw, headers=signed)
    assert r.status == 200 and r["order"]["status"] == "paid"
    # a signed confirmation of a cancelled order is a conflict
    o2 = (await order(api, viewer, room["id"], [(room["shelf"][0]["id"], 1)])).body
    await api.post(f"/api/v1/orders/{o2['id']}/cancel", token=viewer.token)
    raw2 = json.dumps({"order_id": o2["id"], "status": "paid"}).encode()
    r = await api.post("/api/v1/payments/webhook", raw=raw2,
                       headers={**hdr, SIGNATURE_HEADER: sign_webhook(SECRET, raw2)})
    assert r.status == 409 and r.code == "conflict"
    raw3 = json.dumps({"order_id": "nope", "status": "paid"}).encode()
    r = await api.post("/api/v1/payments/webhook", raw=raw3,
                       headers={**hdr, SIGNATURE_HEADER: sign_webhook(SECRET, raw3)})
    assert r.status == 404
    raw4 = b"{not json"
    r = await api.post("/api/v1/payments/webhook", raw=raw4,
                       headers={**hdr, SIGNATURE_HEADER: sign_webhook(SECRET, raw4)})
    assert r.status == 422
