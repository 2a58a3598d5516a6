"""The canonical order: the one shape every channel's order becomes.

Plain typed classes with no behaviour beyond a few derived values. Money is
``Decimal``; times are timezone-aware UTC ``datetime``. The JSON form lives in
``hub.schemas``; the contract is ``contracts/canonical-order.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

Channel = Literal["shopify", "woocommerce", "magento", "amazon"]
Status = Literal["open", "on_hold", "cancelled", "completed"]
PaymentStatus = Literal[
    "pending", "authorized", "paid", "partially_paid", "partially_refunded", "refunded", "voided", "failed"
]
FulfillmentStatus = Literal["unfulfilled", "partially_fulfilled", "fulfilled"]

CHANNELS: tuple[str, ...] = ("shopify", "woocommerce", "magento", "amazon")
STATUSES: tuple[str, ...] = ("open", "on_hold", "cancelled", "completed")
PAYMENT_STATUSES: tuple[str, ...] = (
    "pending",
    "authorized",
    "paid",
    "partially_paid",
    "partially_refunded",
    "refunded",
    "voided",
    "failed",
)
FULFILLMENT_STATUSES: tuple[str, ...] = ("unfulfilled", "partially_fulfilled", "fulfilled")

ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class Address:
    name: str | None = None
    company: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country_code: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Customer:
    external_id: str | None = None
    email: str | None = None
    name: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal
    total: Decimal
    refunded: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Line:
    """One order line. ``discount`` and ``tax`` are for the whole line;
    ``total`` is ``unit_price * quantity - discount``, before tax."""

    external_id: str
    sku: str | None
    name: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    total: Decimal | None = None
    #: units still on the order after removals, refunds and cancellations, where the channel
    #: says (what a shipment may still take); the hub's own, not part of the contract's JSON
    current_quantity: int | None = field(default=None, metadata={"contract": False}, compare=False)

    def __post_init__(self) -> None:
        if self.total is None:
            object.__setattr__(self, "total", self.unit_price * self.quantity - self.discount)


@dataclass(frozen=True, slots=True)
class ShippingLine:
    code: str | None
    title: str | None
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Order:
    channel: Channel
    external_id: str
    number: str | None
    status: Status
    payment_status: PaymentStatus
    fulfillment_status: FulfillmentStatus
    created_at: datetime
    updated_at: datetime
    currency: str
    taxes_included: bool
    totals: Totals
    lines: list[Line]
    cancelled_at: datetime | None = None
    customer: Customer = field(default_factory=Customer)
    billing_address: Address | None = None
    shipping_address: Address | None = None
    shipping_lines: list[ShippingLine] = field(default_factory=list)
    note: str | None = None
    tags: list[str] = field(default_factory=list)
