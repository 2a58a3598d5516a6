"""EasyPost webhook Events: the ``X-Hmac-Signature`` check and who a delivery is.

EasyPost signs the raw body: ``X-Hmac-Signature: hmac-sha256-hex=<hex>`` where the hex is
HMAC-SHA256 keyed with the webhook secret normalised to Unicode NFKD and UTF-8 encoded (as the
official client libraries' ``validate_webhook`` computes it). No header, no secret: rejected."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping

import orjson

from hub.connectors import WebhookDelivery

SIGNATURE_HEADER = "X-Hmac-Signature"
PREFIX = "hmac-sha256-hex="
#: events that carry a Tracker; every other event of the account is recorded and ignored
TRACKER_EVENTS = frozenset({"tracker.created", "tracker.updated"})


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (a plain dict or werkzeug's Headers)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def signature(secret: str, body: bytes) -> str:
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    return PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_ok(secret: str | None, headers: Mapping[str, str], body: bytes) -> bool:
    given = header(headers, SIGNATURE_HEADER)
    if not secret or not given:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), given.strip().encode())


def delivery(headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
    """The event id is the delivery key: EasyPost re-sends the same Event when a delivery failed."""
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        event = None
    if not isinstance(event, dict):
        return WebhookDelivery(hashlib.sha256(body).hexdigest(), "unknown", ignore="not a JSON object")
    key = str(event.get("id") or hashlib.sha256(body).hexdigest())
    topic = str(event.get("description") or "unknown")
    ignore = None if topic in TRACKER_EVENTS else f"{topic} carries no tracker"
    return WebhookDelivery(key, topic, ignore=ignore)
