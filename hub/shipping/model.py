"""The canonical shipping shapes: what every carrier connector's mapping produces.

Plain typed classes. Money is ``Decimal``; times are aware UTC ``datetime``; weights and
dimensions are metric integers (grams, millimetres) and each carrier converts to its own
units at its mapping boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, get_args

CarrierName = Literal["ups", "fedex", "usps", "dhl_express", "easypost"]
CARRIERS: tuple[str, ...] = get_args(CarrierName)

TrackingStatus = Literal[
    "pending",
    "picked_up",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "ready_for_pickup",
    "on_hold",
    "delivery_delayed",
    "delivery_failed",
    "return_to_sender",
    "cancelled",
    "unknown",
]
TRACKING_STATUSES: tuple[str, ...] = get_args(TrackingStatus)

LabelFormat = Literal["PDF", "PNG", "GIF", "ZPL"]


@dataclass(frozen=True)
class Address:
    name: str | None
    street1: str
    city: str
    postal_code: str | None
    country_code: str  # ISO 3166-1 alpha-2
    company: str | None = None
    street2: str | None = None
    region: str | None = None  # state / province code where the country has them
    phone: str | None = None
    email: str | None = None
    residential: bool = False


@dataclass(frozen=True)
class Parcel:
    weight_g: int
    length_mm: int | None = None
    width_mm: int | None = None
    height_mm: int | None = None


@dataclass(frozen=True)
class RateRequest:
    ship_from: Address
    ship_to: Address
    parcels: tuple[Parcel, ...]
    ship_date: date | None = None
    reference: str | None = None  # the hub's shipment reference, shown on the label where possible


@dataclass(frozen=True)
class RateQuote:
    carrier: str
    service_code: str
    service_name: str
    amount: Decimal
    list_amount: Decimal | None
    currency: str
    estimated_days: int | None
    estimated_delivery: date | None
    guaranteed: bool
    #: a carrier-side handle some carriers need to buy this quote (EasyPost rate id); never shown
    carrier_ref: str | None = None


@dataclass(frozen=True)
class LabelRequest:
    """Buy one label. ``idempotency_key`` is recorded by the hub before the call and sent
    wherever the carrier takes one; the same key must never buy a second label."""

    shipment: RateRequest
    service_code: str
    idempotency_key: str
    label_format: LabelFormat = "PDF"
    carrier_ref: str | None = None  # from the chosen RateQuote


@dataclass(frozen=True)
class Label:
    tracking_number: str
    label_format: LabelFormat
    label_data: bytes
    #: what the carrier needs to void it or find it again (shipment id, label id)
    carrier_ref: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    #: one per parcel where the carrier numbers parcels separately (first = tracking_number)
    parcel_tracking_numbers: tuple[str, ...] = ()
    #: the carrier that moves the parcel, as channels name it, where an aggregator (EasyPost) sold the label
    carrier_name: str | None = None


@dataclass(frozen=True)
class TrackingLocation:
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country_code: str | None = None


@dataclass(frozen=True)
class TrackingEvent:
    at: datetime  # aware UTC; a carrier-local time with no offset is kept as if UTC, local_time=True
    status: TrackingStatus
    code: str | None
    description: str | None
    location: TrackingLocation = field(default_factory=TrackingLocation)
    local_time: bool = False
    #: an event that must not set the tracker's status (UPS type U, FedEx AO): not in the contract
    informational: bool = False


@dataclass(frozen=True)
class Tracker:
    carrier: str
    tracking_number: str
    status: TrackingStatus
    estimated_delivery: date | None
    delivered_at: datetime | None
    events: tuple[TrackingEvent, ...]  # newest first


@dataclass(frozen=True)
class ShippingDocument:
    """What a carrier mapping makes of one response: rate quotes or trackers, plus a line
    for each thing it left out (a tracking number the carrier does not know)."""

    kind: Literal["rates", "tracking"]
    quotes: tuple[RateQuote, ...] = ()
    trackers: tuple[Tracker, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrackersChanged:
    """A carrier webhook brought these trackers (the inbox merges them into the shipments)."""

    trackers: tuple[Tracker, ...]
