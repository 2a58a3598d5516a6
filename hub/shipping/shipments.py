"""Shipments: some or all lines of an order, leaving the location the routing chose, in
parcels; ship-from is the location's address, ship-to the order's shipping address."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.shipping.convert import (
    AddressIncomplete,
    address_from_json,
    address_from_location,
    address_from_order,
    address_json,
    parcel_from_json,
    parcel_json,
)
from hub.shipping.errors import ShippingError, not_found
from hub.shipping.model import Parcel, RateRequest

#: shipments whose lines no longer count against the order (their label was voided)
RELEASED_STATES = ("voided",)


@dataclass(frozen=True)
class WantedLine:
    line_external_id: str
    quantity: int


def _order_lines(session: Session, order: t.Order) -> dict[str, int]:
    """Units a shipment may take per line: what is still on the order where the channel says
    (a refunded or removed unit never ships), else the ordered quantity."""
    rows = session.execute(
        select(t.OrderLine.external_id, t.OrderLine.quantity, t.OrderLine.current_quantity)
        .where(t.OrderLine.order_id == order.id)
        .order_by(t.OrderLine.position)
    )
    return {str(ext): int(qty if current is None else current) for ext, qty, current in rows}


def _already_shipped(session: Session, order_id: int) -> dict[str, int]:
    taken: dict[str, int] = {}
    rows = session.scalars(
        select(t.Shipment.lines).where(
            t.Shipment.order_id == order_id, t.Shipment.label_state.not_in(RELEASED_STATES)
        )
    )
    for lines in rows:
        for line in lines:
            taken[line["line_external_id"]] = taken.get(line["line_external_id"], 0) + int(line["quantity"])
    return taken


def _lines(session: Session, order: t.Order, wanted: Sequence[WantedLine] | None) -> list[dict[str, Any]]:
    ordered = _order_lines(session, order)
    taken = _already_shipped(session, order.id)
    left = {ext: qty - taken.get(ext, 0) for ext, qty in ordered.items()}
    if wanted is None:
        lines = [{"line_external_id": ext, "quantity": qty} for ext, qty in left.items() if qty > 0]
        if not lines:
            raise ShippingError("lines", "every unit of the order is already in a shipment")
        return lines
    lines = []
    seen: set[str] = set()
    for index, line in enumerate(wanted):
        field = f"lines.{index}"
        if line.line_external_id not in ordered:
            raise ShippingError(
                f"{field}.line_external_id", f"the order has no line {line.line_external_id!r}"
            )
        if line.line_external_id in seen:
            raise ShippingError(f"{field}.line_external_id", "is listed twice")
        seen.add(line.line_external_id)
        if line.quantity > left[line.line_external_id]:
            raise ShippingError(
                f"{field}.quantity",
                f"is more than the {left[line.line_external_id]} unit(s) of that line not yet in a shipment",
            )
        lines.append({"line_external_id": line.line_external_id, "quantity": line.quantity})
    if not lines:
        raise ShippingError("lines", "must name at least one line")
    return lines


def _location(session: Session, order: t.Order, code: str | None, line_ids: set[str]) -> t.Location:
    """The location named, else the one the routing reserved these lines at."""
    if code is not None:
        location = session.scalar(select(t.Location).where(t.Location.code == code))
        if location is None:
            raise ShippingError("location", f"no location with code {code!r}")
        return location
    reserved = set(
        session.scalars(
            select(t.Reservation.location_id).where(
                t.Reservation.order_id == order.id,
                t.Reservation.state == "reserved",
                t.Reservation.location_id.is_not(None),
                t.Reservation.line_external_id.in_(line_ids),
            )
        )
    )
    if len(reserved) == 1:
        return session.get_one(t.Location, reserved.pop())
    if len(reserved) > 1:
        codes = sorted(session.scalars(select(t.Location.code).where(t.Location.id.in_(reserved))))
        where = ", ".join(codes)
        message = f"these lines are reserved at several locations ({where}): make one shipment per location"
        raise ShippingError("location", message)
    locations = list(session.scalars(select(t.Location).limit(2)))
    if len(locations) == 1:
        return locations[0]
    raise ShippingError("location", "is required: no reservation says where these lines ship from")


def create_shipment(
    session: Session,
    *,
    order_id: int,
    parcels: Sequence[Parcel],
    lines: Sequence[WantedLine] | None = None,
    location_code: str | None = None,
    ship_date: date | None = None,
    created_by: str | None = None,
) -> t.Shipment:
    """Validate and store a shipment; raises ``ShippingError`` (and stores nothing)."""
    order = session.get(t.Order, order_id)
    if order is None:
        raise not_found("order_id", f"no order with id {order_id}")
    if not parcels:
        raise ShippingError("parcels", "must hold at least one parcel")
    chosen = _lines(session, order, lines)
    location = _location(session, order, location_code, {line["line_external_id"] for line in chosen})
    address = session.scalar(select(t.LocationAddress).where(t.LocationAddress.location_id == location.id))
    if address is None:
        raise ShippingError("location", f"location {location.code!r} has no ship-from address: set one first")
    try:
        ship_from = address_from_location(address)
    except AddressIncomplete as exc:
        raise ShippingError("location", f"location {location.code!r}: {exc}") from None
    try:
        ship_to = address_from_order(order.canonical)
    except AddressIncomplete as exc:
        raise ShippingError("order_id", f"the order's shipping address is incomplete: {exc}") from None
    shipment = t.Shipment(
        order_id=order.id,
        location_id=location.id,
        lines=chosen,
        parcels=[parcel_json(p) for p in parcels],
        ship_from=address_json(ship_from),
        ship_to=address_json(ship_to),
        ship_date=None if ship_date is None else ship_date.isoformat(),
        label_state="none",
        tracking_active=False,
        created_by=created_by,
    )
    session.add(shipment)
    session.flush()
    return shipment


def rate_request(shipment: t.Shipment, reference: str | None = None) -> RateRequest:
    return RateRequest(
        ship_from=address_from_json(shipment.ship_from),
        ship_to=address_from_json(shipment.ship_to),
        parcels=tuple(parcel_from_json(p) for p in shipment.parcels),
        ship_date=None if not shipment.ship_date else date.fromisoformat(shipment.ship_date),
        reference=reference or f"shipment {shipment.id}",
    )


def set_location_address(session: Session, code: str, values: dict[str, Any]) -> t.LocationAddress:
    location = session.scalar(select(t.Location).where(t.Location.code == code))
    if location is None:
        raise not_found("location", f"no location with code {code!r}")
    row = session.scalar(select(t.LocationAddress).where(t.LocationAddress.location_id == location.id))
    if row is None:
        row = t.LocationAddress(location_id=location.id, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.flush()
    return row
