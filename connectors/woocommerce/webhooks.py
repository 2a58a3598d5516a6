"""WooCommerce webhooks: the ping, signatures, delivery keys and topic → action (pure, but for the
order re-read the connector passes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any

from hub.connectors import Ignored, OrderChanged, WebhookAction, WebhookDelivery

#: what "Register webhooks" subscribes to
TOPICS = ("order.created", "order.updated", "order.deleted", "product.updated")
IGNORED = {"ping": "ping", "product.updated": "stock is read by the inventory sync"}
_PING = re.compile(rb"webhook_id=(\d+)")


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def secret_for(credentials: Mapping[str, Any]) -> str:
    """The subscriptions' secret, derived from the consumer secret: nothing more to store."""
    key = str(credentials.get("consumer_secret") or "").encode()
    return hmac.new(key, b"hub webhooks", hashlib.sha256).hexdigest() if key else ""


def ping_id(headers: Mapping[str, str], body: bytes) -> str | None:
    """The webhook id of WooCommerce's ping: form body ``webhook_id=<n>``, no ``X-WC-Webhook-*``."""
    match = _PING.fullmatch(body.strip())
    unsigned = not any(k.startswith("x-wc-webhook-") for k in _lower(headers))
    return match.group(1).decode() if match and unsigned else None


def signature_ok(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """base64(HMAC-SHA256(raw body, secret)) against ``X-WC-Webhook-Signature`` in constant time;
    the unsigned ping passes as a ping only."""
    given = _lower(headers).get("x-wc-webhook-signature")
    if given is None:
        return ping_id(headers, body) is not None
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return bool(secret) and hmac.compare_digest(expected, given.strip().encode())


def delivery(headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
    """Keyed by ``X-WC-Webhook-Delivery-ID`` plus a hash of the body: WooCommerce makes that id
    from the webhook id and the current second, so two orders sent in one second share it."""
    if (webhook := ping_id(headers, body)) is not None:
        return WebhookDelivery(f"ping:{webhook}", "ping", ignore="ping")
    lower = _lower(headers)
    topic = lower.get("x-wc-webhook-topic") or "unknown"
    digest = hashlib.sha256(body).hexdigest()
    return WebhookDelivery(f"{topic}:{lower.get('x-wc-webhook-delivery-id', 'none')}:{digest[:16]}", topic)


def interpret(topic: str, payload: Any, fetch_order: Callable[[Any], Any]) -> list[WebhookAction]:
    if topic in ("order.created", "order.updated", "order.restored"):
        return [OrderChanged(payload)]
    if topic == "order.deleted":  # only {"id": n}: a trashed order is still there, in status trash
        order = fetch_order(payload["id"])
        return [OrderChanged(order)] if order else [Ignored(f"order {payload['id']} was deleted for good")]
    return [Ignored(IGNORED.get(topic, f"topic {topic} is not handled"))]
