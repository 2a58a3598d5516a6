"""Shopify webhooks: signature check and topic → action (pure, no I/O but the refetch
callback the connector passes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from hub.connectors import ConnectionGone, Ignored, OrderChanged, WebhookAction, WebhookDelivery

ORDER_TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/paid",
        "orders/partially_fulfilled",
    }
)
#: what "Register webhooks" subscribes to
TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/paid",
    "refunds/create",
    "inventory_levels/update",
    "app/uninstalled",
)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def signature_ok(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """base64(HMAC-SHA256(raw body, API secret)) against ``X-Shopify-Hmac-Sha256``, in constant time."""
    given = _header(headers, "X-Shopify-Hmac-Sha256")
    if not given or not secret:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, given.strip().encode())


def delivery(headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
    """Keyed by ``X-Shopify-Event-Id`` (the same on every duplicate of one event), else the
    webhook id, else a hash of the body."""
    topic = _header(headers, "X-Shopify-Topic") or "unknown"
    key = (
        _header(headers, "X-Shopify-Event-Id")
        or _header(headers, "X-Shopify-Webhook-Id")
        or "sha256:" + hashlib.sha256(body).hexdigest()
    )
    return WebhookDelivery(key=f"{topic}:{key}", topic=topic)


def interpret(topic: str, payload: Any, fetch_order: Callable[[Any], dict[str, Any]]) -> list[WebhookAction]:
    if topic in ORDER_TOPICS:
        return [OrderChanged(payload)]
    if topic == "refunds/create":  # a refund object: the order it changed is re-read whole
        return [OrderChanged(fetch_order(payload["order_id"]))]
    if topic == "orders/edited":  # {"order_edit": {...}}, not an order: re-read the order
        return [OrderChanged(fetch_order(payload["order_edit"]["order_id"]))]
    if topic == "app/uninstalled":
        return [
            ConnectionGone(
                "The Shopify app was uninstalled from the store; reinstall it and edit this connection."
            )
        ]
    if topic == "inventory_levels/update":
        return [Ignored("inventory levels are synced by the inventory service")]
    return [Ignored(f"topic {topic} is not handled")]
