"""Shipment confirmation through Orders v0 ``confirmShipment`` (not deprecated), idempotent.

One call per package: the order's marketplace, a ``packageReferenceId`` derived from the hub's
shipment key (Amazon wants a positive number, unique per package in the order; the same
shipment always gets the same one), Amazon's carrier code, the tracking number, the ship date
and the order item ids with their quantities.

Looking first: the order is read (v2026 ``getOrder`` with ``PACKAGES``, or v0 ``getOrder``).
A package with this tracking number already on it, or an order Amazon already shows as shipped
(v0, which lists no packages), is not confirmed again (``unchanged``). A 400 whose message says
the order or package was already shipped or confirmed counts as done too; any other 400 is an
error the operator sees.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from connectors.amazon.client import AmazonClient, error_messages
from connectors.amazon.orders import V0, Orders
from hub.connectors import PushResult, ShipmentPush
from hub.http import HttpError

#: the hub's carrier code -> Amazon's ``carrierCode`` (Amazon's spelling, case-sensitive)
HUB_CARRIERS: dict[str, str] = {"ups": "UPS", "fedex": "FedEx", "usps": "USPS", "dhl_express": "DHL"}
#: Amazon ``CarrierCode`` values (the feeds ``amzn-base.xsd`` enumeration as the project reference
#: gives it; the full current list is unconfirmed); a carrier name matching one of them
#: (case and spaces aside) is sent as that code, anything else as ``Other`` + ``carrierName``
AMAZON_CARRIERS: tuple[str, ...] = (
    "USPS", "UPS", "UPSMI", "FedEx", "FedEx SmartPost", "DHL", "DHL Global Mail", "Royal Mail",
    "Parcelforce", "DPD", "GLS", "Hermes Logistik Gruppe", "Canada Post", "OnTrac", "Lasership",
    "Yodel", "TNT", "Deutsche Post", "La Poste", "Chronopost", "Poste Italiane", "SDA", "India Post",
    "BlueDart", "Delhivery", "DTDC", "Aramex", "YamatoTransport", "SagawaExpress", "NipponExpress",
    "FEDEX_JP", "JP_EXPRESS", "Amazon Shipping", "Hermes", "Hermes UK", "Japan Post", "Correos", "Seur",
    "Australia Post",
)  # fmt: skip
OTHER = "Other"
#: spellings people use for a code whose own spelling differs
ALIASES = {"yamato": "YamatoTransport", "sagawa": "SagawaExpress", "fedexsmartpost": "FedEx SmartPost"}
SHIPPED = frozenset({"shipped", "invoiceunconfirmed"})
_ALREADY = re.compile(r"already\s+(been\s+)?(shipped|confirmed)|already\s+has\s+(a\s+)?shipment", re.I)


class ShipmentError(ValueError):
    """The shipment cannot be confirmed as it is (no lines, no tracking number, Amazon said no)."""


def _fold(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name).lower()


_BY_FOLD = {_fold(code): code for code in AMAZON_CARRIERS} | ALIASES


def carrier_fields(shipment: ShipmentPush) -> dict[str, str]:
    """``carrierCode`` (and ``carrierName`` when it is ``Other``)."""
    code = HUB_CARRIERS.get(shipment.carrier)
    name = shipment.carrier_name.strip()
    if code is None and name:
        code = _BY_FOLD.get(_fold(name))
    if code is None:
        return {"carrierCode": OTHER, "carrierName": name or shipment.carrier or "Other"}
    return {"carrierCode": code}


def package_reference(key: str) -> str:
    """A positive number for the hub's shipment key: the key itself when it is one, else a
    stable number from its hash (the same shipment always gets the same reference)."""
    text = str(key).strip()
    if text.isdigit() and int(text) > 0 and len(text) <= 18:
        return str(int(text))
    return str(int(hashlib.sha256(text.encode()).hexdigest()[:12], 16) % 10**12 + 1)


def ship_date(moment: datetime | None = None) -> str:
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def order_items(shipment: ShipmentPush) -> list[dict[str, Any]]:
    """Amazon order item ids with quantities; the mapping's charge lines (``<id>:gift-wrap``) are
    not items of their own and are left out."""
    wanted: Counter[str] = Counter()
    for line in shipment.lines:
        if line.quantity < 0:
            raise ShipmentError(f"line {line.line_external_id}: quantity {line.quantity} is negative")
        item = str(line.line_external_id)
        if ":" in item:
            continue
        wanted[item] += line.quantity
    wanted = +wanted
    if not wanted:
        raise ShipmentError(f"shipment {shipment.key} has no Amazon order items")
    if not shipment.tracking_number.strip():
        raise ShipmentError(f"shipment {shipment.key} has no tracking number")
    return [{"orderItemId": item, "quantity": quantity} for item, quantity in wanted.items()]


def confirm(
    client: AmazonClient, orders: Orders, shipment: ShipmentPush, default_marketplace: str
) -> PushResult:
    items = order_items(shipment)
    order_id = shipment.order_external_id
    reference = package_reference(shipment.key)
    ref = f"{order_id}:{reference}"
    marketplace, state = _look(orders, order_id, reference, shipment.tracking_number.strip())
    if state == "same":
        return PushResult("unchanged", ref)
    body = {
        "marketplaceId": marketplace or default_marketplace,
        "packageDetail": {
            "packageReferenceId": reference,
            **carrier_fields(shipment),
            "trackingNumber": shipment.tracking_number.strip(),
            "shipDate": ship_date(),
            "orderItems": items,
        },
    }
    try:
        # safe to repeat: the same package reference re-sent edits, never adds, a package
        client.call("confirmShipment", path={"orderId": order_id}, json=body, idempotent=True)
    except HttpError as exc:
        messages = error_messages(exc.body)
        if exc.status == 400 and any(_ALREADY.search(m) for m in messages):
            return PushResult("unchanged", ref)
        if exc.status in (400, 404):
            raise ShipmentError(f"Amazon refused the shipment of {order_id}: {'; '.join(messages)}") from exc
        raise
    return PushResult("updated" if state == "changed" else "created", ref)


def _look(orders: Orders, order_id: str, reference: str, tracking: str) -> tuple[str | None, str]:
    """The order's marketplace, and whether this shipment is on it: ``same`` (nothing to do),
    ``changed`` (our package, another tracking number: re-sent, Amazon edits it) or ``new``."""
    if orders.api == V0:
        order = orders.client.call("v0.getOrder", path={"orderId": order_id}).json().get("payload") or {}
        shipped = _fold(str(order.get("OrderStatus") or "")) in SHIPPED
        return order.get("MarketplaceId"), "same" if shipped else "new"
    order = orders.get(order_id, included=("FULFILLMENT", "PACKAGES"))
    marketplace = (order.get("salesChannel") or {}).get("marketplaceId")
    packages = [p for p in order.get("packages") or [] if isinstance(p, dict)]
    if any(str(p.get("trackingNumber") or "").strip() == tracking for p in packages):
        return marketplace, "same"
    if any(str(p.get("packageReferenceId") or "") == reference for p in packages):
        return marketplace, "changed"
    return marketplace, "new"
