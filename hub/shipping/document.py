"""The JSON form of the canonical shipping shapes (``contracts/canonical-shipping.md``):
what ``hub map CARRIER FILE`` prints and the REST API returns."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hub.shipping.model import RateQuote, ShippingDocument, Tracker, TrackingEvent, TrackingLocation


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def money(value: Decimal) -> str:
    return format(value, "f")


def utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{value.microsecond // 1000:03d}Z" if value.microsecond else "Z"
    )


def dump_quote(quote: RateQuote) -> dict[str, Any]:
    return {
        "carrier": quote.carrier,
        "service_code": quote.service_code,
        "service_name": quote.service_name,
        "amount": money(quote.amount),
        "list_amount": None if quote.list_amount is None else money(quote.list_amount),
        "currency": quote.currency,
        "estimated_days": quote.estimated_days,
        "estimated_delivery": day(quote.estimated_delivery),
        "guaranteed": quote.guaranteed,
    }


def dump_event(event: TrackingEvent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "at": utc(event.at),
        "status": event.status,
        "code": event.code,
        "description": event.description,
        "location": {
            "city": event.location.city,
            "region": event.location.region,
            "postal_code": event.location.postal_code,
            "country_code": event.location.country_code,
        },
    }
    if event.local_time:
        out["local_time"] = True
    return out


def dump_tracker(tracker: Tracker) -> dict[str, Any]:
    return {
        "carrier": tracker.carrier,
        "tracking_number": tracker.tracking_number,
        "status": tracker.status,
        "estimated_delivery": day(tracker.estimated_delivery),
        "delivered_at": None if tracker.delivered_at is None else utc(tracker.delivered_at),
        "events": [dump_event(e) for e in tracker.events],
    }


def dump_document(document: ShippingDocument) -> dict[str, Any]:
    if document.kind == "rates":
        return {"kind": "rates", "quotes": [dump_quote(q) for q in document.quotes]}
    return {"kind": "tracking", "trackers": [dump_tracker(t) for t in document.trackers]}


def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def load_event(data: dict[str, Any]) -> TrackingEvent:
    """An event from its JSON form (``dump_event``); the hub-only ``informational`` flag
    is kept under that name when stored."""
    loc = data.get("location") or {}
    return TrackingEvent(
        at=_parse_utc(data["at"]),
        status=data["status"],
        code=data.get("code"),
        description=data.get("description"),
        location=TrackingLocation(
            city=loc.get("city"),
            region=loc.get("region"),
            postal_code=loc.get("postal_code"),
            country_code=loc.get("country_code"),
        ),
        local_time=bool(data.get("local_time", False)),
        informational=bool(data.get("informational", False)),
    )


def store_event(event: TrackingEvent) -> dict[str, Any]:
    """``dump_event`` plus the ``informational`` flag the status rules need later."""
    out = dump_event(event)
    if event.informational:
        out["informational"] = True
    return out


def store_tracker(tracker: Tracker) -> dict[str, Any]:
    out = dump_tracker(tracker)
    out["events"] = [store_event(e) for e in tracker.events]
    return out


def load_tracker(data: dict[str, Any]) -> Tracker:
    delivered = data.get("delivered_at")
    estimated = data.get("estimated_delivery")
    return Tracker(
        carrier=data["carrier"],
        tracking_number=data["tracking_number"],
        status=data["status"],
        estimated_delivery=None if not estimated else date.fromisoformat(estimated),
        delivered_at=None if not delivered else _parse_utc(delivered),
        events=tuple(load_event(e) for e in data.get("events") or ()),
    )
