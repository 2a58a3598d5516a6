"""Shipments as the API and the pages show them (never a carrier-side handle or a label's bytes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.pushback import pushes_of
from hub.shipping.document import utc


def _time(value: Any) -> str | None:
    return None if value is None else utc(value)


def purchase_json(row: t.LabelPurchase | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": row.id,
        "state": row.state,
        "reference": row.idempotency_key,  # what the label carries: findable in the carrier's account
        "connection_id": row.connection_id,
        "service_code": row.request.get("service_code"),
        "attempts": row.attempts,
        "tracking_number": row.tracking_number,
        "parcel_tracking_numbers": list(row.parcel_tracking_numbers or ()),
        "label_format": row.label_format,
        "has_label": bool(row.label_data),  # a label settled by hand has no file at the hub
        "amount": None if row.amount is None else format(row.amount, "f"),
        "currency": row.currency,
        "error": row.error,
        "created_at": _time(row.created_at),
        "updated_at": _time(row.updated_at),
    }


def latest_purchase(session: Session, shipment_id: int) -> t.LabelPurchase | None:
    return session.scalar(
        select(t.LabelPurchase)
        .where(t.LabelPurchase.shipment_id == shipment_id)
        .order_by(t.LabelPurchase.id.desc())
        .limit(1)
    )


def shipment_json(session: Session, shipment: t.Shipment) -> dict[str, Any]:
    location = None if shipment.location_id is None else session.get(t.Location, shipment.location_id)
    return {
        "id": shipment.id,
        "order_id": shipment.order_id,
        "location": None if location is None else location.code,
        "lines": shipment.lines,
        "parcels": shipment.parcels,
        "ship_from": shipment.ship_from,
        "ship_to": shipment.ship_to,
        "ship_date": shipment.ship_date,
        "label_state": shipment.label_state,
        "check_with_carrier": shipment.label_state == "check_with_carrier",
        "carrier_connection_id": shipment.carrier_connection_id,
        "carrier": shipment.carrier,
        "service_code": shipment.service_code,
        "tracking_number": shipment.tracking_number,
        "tracking_status": shipment.tracking_status,
        "tracking_active": shipment.tracking_active,
        "next_track_at": _time(shipment.next_track_at),
        "delivered_at": _time(shipment.delivered_at),
        "tracker": shipment.tracker,
        "label": purchase_json(latest_purchase(session, shipment.id)),
        "channel_pushes": pushes_of(session, shipment.id),
        "created_at": _time(shipment.created_at),
        "updated_at": _time(shipment.updated_at),
    }
