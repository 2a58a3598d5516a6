"""Pure conversions between the canonical shipping shapes and their stored JSON form
(shipment rows, label purchase requests), and from a canonical order's address."""

from __future__ import annotations

from datetime import date
from typing import Any

from hub.shipping.model import Address, LabelRequest, Parcel, RateRequest

ADDRESS_FIELDS = (
    "name",
    "company",
    "street1",
    "street2",
    "city",
    "region",
    "postal_code",
    "country_code",
    "phone",
    "email",
)


class AddressIncomplete(ValueError):
    """An address a carrier cannot ship to or from; ``missing`` names the fields."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"the address has no {', '.join(missing)}")


def address_json(address: Address) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(address, name) for name in ADDRESS_FIELDS}
    out["residential"] = address.residential
    return out


def address_from_json(data: dict[str, Any]) -> Address:
    return Address(
        name=data.get("name"),
        street1=data["street1"],
        city=data["city"],
        postal_code=data.get("postal_code"),
        country_code=data["country_code"],
        company=data.get("company"),
        street2=data.get("street2"),
        region=data.get("region"),
        phone=data.get("phone"),
        email=data.get("email"),
        residential=bool(data.get("residential", False)),
    )


def _missing(values: dict[str, Any]) -> list[str]:
    return [name for name in ("street1", "city", "country_code") if not values.get(name)]


def address_from_order(canonical: dict[str, Any]) -> Address:
    """The ship-to of a canonical order (``shipping_address``, with the customer's e-mail)."""
    src = canonical.get("shipping_address") or {}
    values = {
        "name": src.get("name"),
        "company": src.get("company"),
        "street1": src.get("line1"),
        "street2": src.get("line2"),
        "city": src.get("city"),
        "region": src.get("region"),
        "postal_code": src.get("postal_code"),
        "country_code": (src.get("country_code") or "").upper() or None,
        "phone": src.get("phone"),
        "email": (canonical.get("customer") or {}).get("email"),
        # a consumer order with no company is delivered to a home (residential surcharges)
        "residential": not src.get("company"),
    }
    if missing := _missing(values):
        raise AddressIncomplete(missing)
    return address_from_json(values)


def address_from_location(row: Any) -> Address:
    """The ship-from of a ``tables.LocationAddress`` row."""
    values = {
        "name": row.name,
        "company": row.company,
        "street1": row.line1,
        "street2": row.line2,
        "city": row.city,
        "region": row.region,
        "postal_code": row.postal_code,
        "country_code": row.country_code,
        "phone": row.phone,
        "email": row.email,
    }
    if missing := _missing(values):
        raise AddressIncomplete(missing)
    return address_from_json(values)


def parcel_json(parcel: Parcel) -> dict[str, Any]:
    return {
        "weight_g": parcel.weight_g,
        "length_mm": parcel.length_mm,
        "width_mm": parcel.width_mm,
        "height_mm": parcel.height_mm,
    }


def parcel_from_json(data: dict[str, Any]) -> Parcel:
    return Parcel(
        weight_g=int(data["weight_g"]),
        length_mm=data.get("length_mm"),
        width_mm=data.get("width_mm"),
        height_mm=data.get("height_mm"),
    )


def rate_request_json(request: RateRequest) -> dict[str, Any]:
    return {
        "ship_from": address_json(request.ship_from),
        "ship_to": address_json(request.ship_to),
        "parcels": [parcel_json(p) for p in request.parcels],
        "ship_date": None if request.ship_date is None else request.ship_date.isoformat(),
        "reference": request.reference,
    }


def rate_request_from_json(data: dict[str, Any]) -> RateRequest:
    ship_date = data.get("ship_date")
    return RateRequest(
        ship_from=address_from_json(data["ship_from"]),
        ship_to=address_from_json(data["ship_to"]),
        parcels=tuple(parcel_from_json(p) for p in data["parcels"]),
        ship_date=None if not ship_date else date.fromisoformat(ship_date),
        reference=data.get("reference"),
    )


def label_request_json(request: LabelRequest) -> dict[str, Any]:
    return {
        "shipment": rate_request_json(request.shipment),
        "service_code": request.service_code,
        "idempotency_key": request.idempotency_key,
        "label_format": request.label_format,
        "carrier_ref": request.carrier_ref,
    }


def label_request_from_json(data: dict[str, Any]) -> LabelRequest:
    return LabelRequest(
        shipment=rate_request_from_json(data["shipment"]),
        service_code=data["service_code"],
        idempotency_key=data["idempotency_key"],
        label_format=data.get("label_format") or "PDF",
        carrier_ref=data.get("carrier_ref"),
    )
