"""UPS Track Alert deliveries: who sent them and what makes one delivery the same as another.

UPS signs nothing. The subscription request (Track Alert v1) carries
``destination{url, credentialType, credential}``, and every event UPS then POSTs to that URL
has a ``credential`` header with that opaque string (``UPSTrackAlert.yaml``, webhooks
``TrackingEvent``), plus ``User-Agent: UPSPubSubTrackingService``. The hub checks the header
in constant time against the credential it subscribed with: the connection's own
``webhook_credential`` or, when none is set, one derived from the client secret."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import orjson

from hub.connectors import WebhookDelivery

CREDENTIAL_HEADER = "credential"
USER_AGENT = "UPSPubSubTrackingService"
TOPIC = "track_alert"


def credential_for(credentials: Mapping[str, Any]) -> str:
    """What the hub sends as ``destination.credential`` (and expects back in the header)."""
    explicit = str(credentials.get("webhook_credential") or "")
    if explicit:
        return explicit
    secret = str(credentials.get("client_secret") or "")
    if not secret:
        return ""
    message = f"ups-track-alert:{credentials.get('client_id') or ''}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def header(headers: Mapping[str, str], name: str) -> str:
    """A header by name, whatever its case (a plain dict in tests, Flask's headers in the app)."""
    wanted = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == wanted), "")


def verify(credentials: Mapping[str, Any], headers: Mapping[str, str], body: bytes) -> bool:
    expected = credential_for(credentials)
    given = header(headers, CREDENTIAL_HEADER)
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def delivery(headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
    """UPS sends no event id: an event is its number, its GMT (or local) moment and its
    status; a body that is not an event is keyed by its hash and recorded as ignored."""
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        event = None
    if not isinstance(event, dict) or not event.get("trackingNumber"):
        key = f"body:{hashlib.sha256(body).hexdigest()}"
        return WebhookDelivery(key, TOPIC, ignore="not a Track Alert event")
    status = event.get("activityStatus") if isinstance(event.get("activityStatus"), dict) else {}
    parts = (
        str(event.get("trackingNumber")).strip(),
        str(event.get("gmtActivityDate") or event.get("localActivityDate") or ""),
        str(event.get("gmtActivityTime") or event.get("localActivityTime") or ""),
        str(status.get("type") or ""),
        str(status.get("code") or ""),
        str(event.get("scheduledDeliveryDate") or ""),
    )
    return WebhookDelivery("event:" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:40], TOPIC)
