"""Shopify webhooks: signature check and topic → action (pure, no I/O but the callbacks the
connector passes: re-read an order, find the SKU of an inventory item)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from hub.connectors import (
    ConnectionGone,
    Ignored,
    OrderChanged,
    StockChanged,
    StockLevel,
    WebhookAction,
    WebhookDelivery,
)

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


def _no_items(item_id: str) -> str | None:
    return None


def level_update(payload: Any, sku_of: Callable[[str], str | None]) -> WebhookAction:
    """An ``inventory_levels/update`` body (an InventoryLevel: ``inventory_item_id``,
    ``location_id``, ``available``, ``updated_at``) as the stock of one SKU at one location,
    read at ``updated_at``. ``available`` is null for an untracked item: nothing to take in.
    Raises ``ValueError`` naming the field that is missing or malformed."""
    if not isinstance(payload, dict):
        raise ValueError("inventory_levels/update: the body is not an object")
    item = _numeric_id(payload, "inventory_item_id")
    location = _numeric_id(payload, "location_id")
    at = _aware_utc(payload, "updated_at")
    available = payload.get("available")
    if available is None:
        return Ignored(f"inventory item {item} is not tracked at location {location}")
    if isinstance(available, bool) or not isinstance(available, int):
        raise ValueError(f"inventory_levels/update: available is not an integer: {available!r}")
    sku = sku_of(f"gid://shopify/InventoryItem/{item}")
    if sku is None:
        return Ignored(f"inventory item {item} is not a SKU the hub writes to")
    return StockChanged((StockLevel(sku, location, available),), at)


def _numeric_id(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise ValueError(f"inventory_levels/update: {name} is not a numeric id: {value!r}")
    return text


def _aware_utc(payload: dict[str, Any], name: str) -> datetime:
    value = payload.get(name)
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise ValueError(f"inventory_levels/update: {name} is not a time with an offset: {value!r}")
    return moment.astimezone(UTC)


def interpret(
    topic: str,
    payload: Any,
    fetch_order: Callable[[Any], dict[str, Any]],
    sku_of: Callable[[str], str | None] = _no_items,
) -> list[WebhookAction]:
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
    if topic == "inventory_levels/update":  # a merchant's edit, a sale, or the echo of a push
        return [level_update(payload, sku_of)]
    return [Ignored(f"topic {topic} is not handled")]
