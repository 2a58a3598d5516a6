"""The optional inbound webhook for Magento stores that add a webhook module.

Magento Open Source sends no webhooks; a module (third-party or the store's own) may POST to
``/webhooks/magento/<webhook key>``. Its payload format is the module's, so a delivery is only a
trigger: the order id is taken from it and the order is read again from the REST API.
The body must be signed: HMAC-SHA256 of the raw body with the connection's webhook secret, in
the header named on the connection, as hex (optionally ``sha256=``-prefixed) or base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from hub.connectors import WebhookDelivery

DEFAULT_SIGNATURE_HEADER = "X-Magento-Hmac-Sha256"
TOPIC_HEADERS = ("X-Magento-Event", "X-Magento-Topic", "X-Webhook-Event", "X-Event-Name")
ID_HEADERS = ("X-Magento-Event-Id", "X-Magento-Webhook-Id", "X-Webhook-Id", "X-Event-Id")


def header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def signature_ok(secret: str, header_name: str, headers: Mapping[str, str], body: bytes) -> bool:
    """The header's HMAC-SHA256 of the raw body, compared in constant time; never without a secret."""
    given = (header(headers, header_name or DEFAULT_SIGNATURE_HEADER) or "").strip()
    if not secret or not given:
        return False
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if given.lower().startswith("sha256="):
        given = given[len("sha256=") :]
    raw = given.encode("utf-8", "replace")
    as_hex = hmac.compare_digest(raw.lower(), digest.hex().encode())
    as_base64 = hmac.compare_digest(raw, base64.b64encode(digest))
    return as_hex | as_base64  # both compared: the time does not tell which form came close


def _body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def delivery(headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
    """Keyed by the module's event id (a header, else ``event_id`` in the body), else a hash of
    the body; the topic is the module's event name, else ``order``."""
    data = _body(body)
    topic = next((v for v in (header(headers, h) for h in TOPIC_HEADERS) if v), None)
    topic = topic or str(data.get("event") or data.get("topic") or "order")
    key = next((v for v in (header(headers, h) for h in ID_HEADERS) if v), None)
    key = key or (str(data["event_id"]) if data.get("event_id") else None)
    key = key or "sha256:" + hashlib.sha256(body).hexdigest()
    return WebhookDelivery(key=f"{topic}:{key}", topic=topic)


def order_id(payload: Any) -> str | None:
    """The order's ``entity_id`` in a module's payload: ``order_id`` (orders, shipments,
    invoices), an order object (bare, or under ``order`` / ``data`` / ``data.order``)."""
    if not isinstance(payload, dict):
        return None
    if payload.get("order_id") not in (None, ""):
        return str(payload["order_id"])
    for key in ("order", "data"):
        found = order_id(payload.get(key))
        if found:
            return found
    is_order = "increment_id" in payload and ("items" in payload or "state" in payload)
    if is_order and payload.get("entity_id") not in (None, ""):
        return str(payload["entity_id"])
    return None
