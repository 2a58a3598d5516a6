"""Varied canonical orders for tests and benchmarks (deterministic for a seed)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hub.model import Address, Customer, Line, Order, ShippingLine, Totals

STATUSES = [
    ("open", "paid", "unfulfilled"),
    ("open", "pending", "unfulfilled"),
    ("completed", "paid", "fulfilled"),
    ("cancelled", "refunded", "unfulfilled"),
    ("open", "partially_refunded", "partially_fulfilled"),
    ("on_hold", "authorized", "unfulfilled"),
]
COUNTRIES = ["US", "CA", "GB", "DE", "AU", "FR", "JP"]
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def make_order(
    i: int, rng: random.Random | None = None, *, channel: str = "shopify", lines: int | None = None
) -> Order:
    rng = rng or random.Random(i)
    n = lines if lines is not None else rng.randint(2, 20)
    order_lines = []
    for j in range(n):
        qty = rng.randint(1, 5)
        price = Decimal(rng.randint(100, 99999)) / 100
        discount = Decimal(rng.choice([0, 0, 0, 100, 250])) / 100
        order_lines.append(
            Line(
                external_id=f"{i}-{j}",
                sku=f"SKU-{rng.randint(1, 5000):05d}",
                name=f"Product {j} of order {i}",
                quantity=qty,
                unit_price=price,
                discount=min(discount, price * qty),
                tax=(price * qty * Decimal("0.08")).quantize(Decimal("0.01")),
            )
        )
    subtotal = sum((line.unit_price * line.quantity for line in order_lines), Decimal(0))
    discount = sum((line.discount for line in order_lines), Decimal(0))
    tax = sum((line.tax for line in order_lines), Decimal(0))
    shipping = Decimal(rng.choice([0, 499, 999, 1500])) / 100
    status, payment, fulfillment = rng.choice(STATUSES)
    created = BASE_TIME + timedelta(minutes=i, seconds=rng.randint(0, 59))
    country = rng.choice(COUNTRIES)
    address = Address(
        name=f"Customer {i}",
        company=None,
        line1=f"{rng.randint(1, 999)} Main Street",
        line2=None,
        city="Springfield",
        region=None,
        postal_code=f"{rng.randint(10000, 99999)}",
        country_code=country,
        phone=None,
    )
    return Order(
        channel=channel,
        external_id=str(450789469000 + i),
        number=f"#{1000 + i}",
        status=status,
        payment_status=payment,
        fulfillment_status=fulfillment,
        created_at=created,
        updated_at=created,
        cancelled_at=created + timedelta(hours=1) if status == "cancelled" else None,
        currency=rng.choice(["USD", "EUR", "GBP"]),
        taxes_included=False,
        totals=Totals(
            subtotal=subtotal,
            discount=discount,
            shipping=shipping,
            tax=tax,
            total=subtotal - discount + shipping + tax,
            refunded=Decimal("10.00") if payment == "partially_refunded" else Decimal(0),
        ),
        lines=order_lines,
        customer=Customer(
            external_id=str(i % 500), email=f"customer{i % 500}@example.com", name=f"Customer {i}", phone=None
        ),
        billing_address=address,
        shipping_address=address,
        shipping_lines=[ShippingLine(code="standard", title="Standard", amount=shipping)],
        note=None,
        tags=rng.sample(["vip", "wholesale", "gift", "b2b"], k=rng.randint(0, 2)),
    )


def newer(order: Order, seconds: int, **changes: object) -> Order:
    """A later version of ``order`` (``updated_at`` moved on by ``seconds``)."""
    return replace(order, updated_at=order.updated_at + timedelta(seconds=seconds), **changes)  # type: ignore[arg-type]
