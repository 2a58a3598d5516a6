"""WooCommerce REST API (wc/v3) order (``GET /wp-json/wc/v3/orders/{id}`` body, or an
``order.*`` webhook body, which is the same object) -> canonical ``hub.model.Order``.

Pure: no I/O, no clock. The only side effects are log records on the ``hub.mapping``
logger (a total that does not add up, an unknown custom status, a unit price that does not
divide exactly); the order is still mapped. Anything that is not a WooCommerce order raises
``mappings.common.MappingError`` whose path is in WooCommerce's payload notation, relative
to the order object (``line_items[0].quantity: not an integer``).

Input
-----
The order object itself. WooCommerce has no wrapper: a JSON array (``GET /orders``, the
refunds or notes lists) is refused (``order: ...``), so is an object without ``id``
(``orders/batch`` responses: ``id: missing``) or without ``line_items`` (products, webhook
subscriptions, the ``{"id": 123}`` body of ``order.deleted``: ``line_items: missing``).

Status table
------------
``status`` is compared case-insensitively, with a ``wc-`` prefix (the database form) ignored.
"derived" cells are worked out as described below the table.

==================  ==========  ==================  ===================  =========================
WooCommerce         status      payment_status      fulfillment_status   note
==================  ==========  ==================  ===================  =========================
``pending``         open        pending             unfulfilled          contract
``processing``      open        paid                unfulfilled          contract
``on-hold``         on_hold     pending             unfulfilled          contract
``completed``       completed   paid                fulfilled            contract
``cancelled``       cancelled   derived (voided)    unfulfilled          contract (payment: ours)
``failed``          cancelled   failed              unfulfilled          contract
``refunded``        completed   refunded            derived              fully refunded, finished
``trash``           cancelled   derived (voided)    derived              deleted by the merchant
``checkout-draft``  open        pending             unfulfilled          block checkout in progress
``partial-shipped`` open        paid                partially_fulfilled  shipment-tracking plugins
``shipped``         completed   paid                fulfilled            plugins (a renamed
``delivered``       completed   paid                fulfilled            ``completed``)
anything else       open        derived (pending)   derived              logged as a warning
==================  ==========  ==================  ===================  =========================

* derived payment: refunds >= ``total`` (and > 0) -> refunded; some refunds ->
  partially_refunded; ``date_paid_gmt`` set -> paid; otherwise the value in brackets
  (``voided`` for a cancelled or trashed order: nothing was taken, any authorisation is
  gone; ``pending`` for an unknown status).
* derived fulfillment: ``date_completed_gmt`` set -> fulfilled (the order went through
  ``completed``, WooCommerce's "shipped"), otherwise unfulfilled.
* ``refunded`` is a finished order whose money went back: completed, not cancelled (it may
  well have been shipped; ``date_completed_gmt`` says so). ``checkout-draft`` is a checkout
  the customer has not submitted yet; for the hub it is the same as ``pending``.
* The contract rows hold whatever else the order says: a ``processing`` order with refunds
  is still ``paid`` (the refunds are in ``totals.refunded``).
* ``cancelled_at`` is always null: the order object has no cancellation time (it lives in
  the order notes, a separate endpoint).

Times
-----
Only the ``*_gmt`` fields are read (``date_created_gmt`` -> created_at,
``date_modified_gmt`` -> updated_at, both required). They carry no offset and are UTC; an
explicit ``Z``/offset is honoured. The plain ``date_created``/``date_modified`` are
shop-local time in an unknown zone and are never used.

Money
-----
The string fields only (``line_items[].price`` is a float that has already been rounded and
is never read). Amounts are WooCommerce's own decimals, unrounded.

``taxes_included`` = ``prices_include_tax``. WooCommerce *stores* every amount without tax
(``subtotal``/``total`` of lines, fees and shipping) and the tax beside it, whatever that
setting says; the canonical order follows the contract's meaning of the flag instead
("whether line prices include tax"):

* ``prices_include_tax`` false: amounts are the stored (tax-exclusive) ones.
* ``prices_include_tax`` true: every amount but ``tax`` is gross, stored amount + its tax
  (line ``subtotal + subtotal_tax`` and ``total + total_tax``, fee and shipping
  ``total + total_tax``), i.e. the prices the shop displayed, as Shopify's tax-inclusive
  orders are; then ``total`` = ``subtotal - discount + shipping``.

Lines (``line_items[]``):

* ``unit_price`` = ``subtotal / quantity`` (gross as above). When that division is not
  exact (a tax-inclusive price stored net, say ``10.00 / 3``) the quotient is rounded *up*
  at two more decimals than the amount has (``3.3334``) and the few ten-thousandths this
  adds to ``unit_price * quantity`` are put in the line's ``discount``, so the line's
  ``total`` is still WooCommerce's and every discount stays >= 0 (logged at INFO).
* ``discount`` = ``subtotal - total`` (coupons are already spread over the lines there);
  ``tax`` = ``total_tax``, else the sum of ``taxes[].total``;
  ``total`` = ``total`` (+ ``total_tax`` when gross). A line whose ``total`` exceeds its
  ``subtotal`` (edited by hand) is priced from ``total`` with no discount.
* ``sku`` empty -> null; ``name`` with HTML entities decoded (``&ndash;`` -> an en dash).
* ``quantity`` must be a whole number >= 1.

Fees (``fee_lines[]``):

* a positive fee (gift wrap, payment surcharge...) is a line of its own: ``external_id`` =
  the fee's id (WooCommerce numbers line items, fees and shipping lines from one sequence),
  ``name`` = the fee's name (entities decoded; "Fee" when empty),
  ``sku`` null, ``quantity`` 1, ``unit_price`` = ``total`` (gross as above), ``tax`` =
  ``total_tax``. The customer pays for it, so it counts in ``subtotal`` like any line;
* a negative fee is a discount: its amount (made positive, gross as above) is added to
  ``totals.discount``; no line;
* a zero fee is ignored.

Coupons (``coupon_lines[]``) are not read: their discount is already inside the lines'
``subtotal - total`` (and ``discount_total`` is its sum). Coupon codes have no canonical
field.

Totals:

* ``subtotal`` = sum of ``unit_price * quantity`` (lines and positive fees);
* ``discount`` = sum of line discounts + negative fees;
* ``shipping`` = sum of shipping line amounts;
* ``tax`` = ``total_tax`` (items, fees and shipping; WooCommerce rounds it at order level,
  so it may differ by a cent from the sum of the lines' ``total_tax``), else ``cart_tax +
  shipping_tax``, else the sum of line, fee and shipping taxes;
* ``total`` = ``total`` (required); a mismatch with ``subtotal - discount + shipping
  (+ tax unless taxes_included)`` is logged and ``total`` kept;
* ``refunded`` = sum of ``refunds[].total`` made positive (WooCommerce writes them
  negative inside the order).

Shipping lines: ``code`` = ``method_id``, ``title`` = ``method_title`` (entities decoded),
``amount`` = ``total`` (+ ``total_tax`` when gross).

Parties
-------
* customer: ``external_id`` = ``customer_id`` (0 = guest -> null); ``email``, ``phone`` =
  the billing ones; ``name`` = billing first + last name, else the shipping one.
* addresses (``billing``, ``shipping``): first + last name -> name, ``company``,
  ``address_1`` -> line1, ``address_2`` -> line2, ``city``, ``state`` -> region,
  ``postcode`` -> postal_code, ``country`` -> country_code (a name is converted), ``phone``
  (``shipping.phone`` only exists on newer stores). Empty strings become null; an address
  with nothing left is null. The billing ``email`` is the customer's, not the address's.
* ``note`` = ``customer_note`` (trimmed; empty -> null). ``tags`` = [] (WooCommerce orders
  have none). ``number`` = ``number`` (sequential-number plugins change it; ``id`` is the
  ``external_id``). ``currency`` upper case.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from hub.model import (
    ZERO,
    Address,
    Customer,
    FulfillmentStatus,
    Line,
    Order,
    PaymentStatus,
    ShippingLine,
    Status,
    Totals,
)
from mappings.common import (
    LOGGER,
    MappingError,
    as_list,
    as_object,
    boolean,
    country_code,
    currency_code,
    identifier,
    integer,
    join_name,
    join_path,
    money,
    opt_str,
    order_object,
    require,
    status_text,
    to_utc,
    unit_price,
)

__all__ = ["map_order"]

CHANNEL = "woocommerce"


@dataclass(frozen=True, slots=True)
class _Row:
    """One row of the status table; ``None`` means "derived" (see the module docstring)."""

    status: Status
    payment: PaymentStatus | None
    fulfillment: FulfillmentStatus | None
    unpaid: PaymentStatus = "pending"  # the derived payment when nothing was paid or refunded


STATUS_TABLE: dict[str, _Row] = {
    "pending": _Row("open", "pending", "unfulfilled"),
    "processing": _Row("open", "paid", "unfulfilled"),
    "on-hold": _Row("on_hold", "pending", "unfulfilled"),
    "completed": _Row("completed", "paid", "fulfilled"),
    "cancelled": _Row("cancelled", None, "unfulfilled", unpaid="voided"),
    "failed": _Row("cancelled", "failed", "unfulfilled"),
    "refunded": _Row("completed", "refunded", None),
    "trash": _Row("cancelled", None, None, unpaid="voided"),
    "checkout-draft": _Row("open", "pending", "unfulfilled"),
    "partial-shipped": _Row("open", "paid", "partially_fulfilled"),
    "shipped": _Row("completed", "paid", "fulfilled"),
    "delivered": _Row("completed", "paid", "fulfilled"),
}
UNKNOWN_STATUS = _Row("open", None, None)


def map_order(document: Any) -> Order:
    """The canonical order of one WooCommerce order object."""
    order = order_object(document)
    external_id = identifier(order.get("id"), "id")
    items = as_list(order.get("line_items"), "line_items", allow_missing=False)

    status = status_text(order.get("status"), "status").lower().removeprefix("wc-")
    row = STATUS_TABLE.get(status)
    if row is None:
        LOGGER.warning(
            "woocommerce order %s: unknown status %r mapped as open, payment and fulfilment derived",
            external_id,
            status,
        )
        row = UNKNOWN_STATUS

    currency = currency_code(order.get("currency"), "currency")
    taxes_included = boolean(order.get("prices_include_tax"), "prices_include_tax", default=False)
    created_at = _gmt(order, "date_created_gmt")
    updated_at = _gmt(order, "date_modified_gmt")
    paid_at = _optional_gmt(order, "date_paid_gmt")
    completed_at = _optional_gmt(order, "date_completed_gmt")

    lines = [
        _line(item, join_path("line_items", index), taxes_included, external_id)
        for index, item in enumerate(items)
    ]
    fee_lines, fee_discount = _fees(order, taxes_included)
    lines.extend(fee_lines)
    if not lines:
        raise MappingError("line_items", "no line items")
    shipping_lines = _shipping_lines(order, taxes_included)
    totals = _totals(order, lines, fee_discount, shipping_lines, taxes_included, external_id)

    payment = row.payment or _derived_payment(totals, paid_at, row.unpaid)
    fulfillment = row.fulfillment or ("fulfilled" if completed_at is not None else "unfulfilled")

    billing = _address(order.get("billing"), "billing")
    shipping = _address(order.get("shipping"), "shipping")
    return Order(
        channel=CHANNEL,
        external_id=external_id,
        number=opt_str(order.get("number"), "number"),
        status=row.status,
        payment_status=payment,
        fulfillment_status=fulfillment,
        created_at=created_at,
        updated_at=updated_at,
        cancelled_at=None,
        currency=currency,
        taxes_included=taxes_included,
        totals=totals,
        lines=lines,
        customer=_customer(order, billing, shipping),
        billing_address=billing,
        shipping_address=shipping,
        shipping_lines=shipping_lines,
        note=opt_str(order.get("customer_note"), "customer_note"),
        tags=[],
    )


# --------------------------------------------------------------------------- document


def _gmt(order: dict[str, Any], key: str) -> datetime:
    return to_utc(order.get(key), key, assume_utc_if_naive=True)


def _optional_gmt(order: dict[str, Any], key: str) -> datetime | None:
    value = order.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _gmt(order, key)


def _text(value: Any, path: str) -> str | None:
    """A display text: trimmed, HTML entities decoded, empty -> None."""
    text = opt_str(value, path)
    return None if text is None else (html.unescape(text).strip() or None)


# --------------------------------------------------------------------------- money


def _sum(values: list[Decimal]) -> Decimal:
    return sum(values, ZERO)


def _tax_of(obj: dict[str, Any], path: str, key: str = "total_tax", part: str = "total") -> Decimal:
    """``obj[key]``, else the sum of ``taxes[].{part}``, else 0."""
    if obj.get(key) is not None:
        return money(obj[key], join_path(path, key))
    taxes = as_list(obj.get("taxes"), join_path(path, "taxes"))
    result = ZERO
    for index, value in enumerate(taxes):
        tax_path = join_path(path, "taxes", index)
        tax = as_object(value, tax_path)
        result += money(tax.get(part), join_path(tax_path, part), default=ZERO)
    return result


def _unit_price(amount: Decimal, quantity: int, path: str, order_id: str) -> Decimal:
    """``amount / quantity``, exact when it divides, else rounded up (see the docstring)."""
    unit = unit_price(amount, quantity)
    if unit * quantity != amount:
        LOGGER.info(
            "woocommerce order %s: %s: %s / %s does not divide; unit price %s, %s added to the discount",
            order_id,
            path,
            amount,
            quantity,
            unit,
            unit * quantity - amount,
        )
    return unit


def _line(value: Any, path: str, taxes_included: bool, order_id: str) -> Line:
    item = as_object(value, path)
    line_id = identifier(item.get("id"), join_path(path, "id"))
    quantity = integer(item.get("quantity"), join_path(path, "quantity"), minimum=1)
    subtotal = money(item.get("subtotal"), join_path(path, "subtotal"))
    total = money(item.get("total"), join_path(path, "total"))
    tax = _tax_of(item, path)
    if taxes_included:
        subtotal += _tax_of(item, path, key="subtotal_tax", part="subtotal")
        total += tax
    unit_price = _unit_price(max(subtotal, total), quantity, join_path(path, "subtotal"), order_id)
    name = _text(item.get("name"), join_path(path, "name"))
    if name is None:
        raise MappingError(join_path(path, "name"), "missing")
    return Line(
        external_id=line_id,
        sku=opt_str(item.get("sku"), join_path(path, "sku")),
        name=name,
        quantity=quantity,
        unit_price=unit_price,
        discount=unit_price * quantity - total,
        tax=tax,
        total=total,
    )


def _fees(order: dict[str, Any], taxes_included: bool) -> tuple[list[Line], Decimal]:
    """Positive fees as lines; the negative ones summed (positive) as a discount."""
    lines: list[Line] = []
    discount = ZERO
    for index, value in enumerate(as_list(order.get("fee_lines"), "fee_lines")):
        path = join_path("fee_lines", index)
        fee = as_object(value, path)
        amount = money(fee.get("total"), join_path(path, "total"))
        tax = _tax_of(fee, path)
        if taxes_included:
            amount += tax
        if amount < 0:
            discount -= amount
        elif amount > 0:
            lines.append(
                Line(
                    external_id=identifier(fee.get("id"), join_path(path, "id")),
                    sku=None,
                    name=_text(fee.get("name"), join_path(path, "name")) or "Fee",
                    quantity=1,
                    unit_price=amount,
                    discount=ZERO,
                    tax=tax,
                    total=amount,
                )
            )
    return lines, discount


def _shipping_lines(order: dict[str, Any], taxes_included: bool) -> list[ShippingLine]:
    result: list[ShippingLine] = []
    for index, value in enumerate(as_list(order.get("shipping_lines"), "shipping_lines")):
        path = join_path("shipping_lines", index)
        line = as_object(value, path)
        amount = money(line.get("total"), join_path(path, "total"))
        if taxes_included:
            amount += _tax_of(line, path)
        result.append(
            ShippingLine(
                code=opt_str(line.get("method_id"), join_path(path, "method_id")),
                title=_text(line.get("method_title"), join_path(path, "method_title")),
                amount=amount,
            )
        )
    return result


def _order_tax(order: dict[str, Any], lines: list[Line]) -> Decimal:
    if order.get("total_tax") is not None:
        return money(order["total_tax"], "total_tax")
    if order.get("cart_tax") is not None and order.get("shipping_tax") is not None:
        return money(order["cart_tax"], "cart_tax") + money(order["shipping_tax"], "shipping_tax")
    shipping_tax = ZERO
    for index, value in enumerate(as_list(order.get("shipping_lines"), "shipping_lines")):
        path = join_path("shipping_lines", index)
        shipping_tax += _tax_of(as_object(value, path), path)
    negative_fee_tax = ZERO
    for index, value in enumerate(as_list(order.get("fee_lines"), "fee_lines")):
        path = join_path("fee_lines", index)
        fee = as_object(value, path)
        tax = _tax_of(fee, path)
        if tax < 0:
            negative_fee_tax += tax
    return _sum([line.tax for line in lines]) + shipping_tax + negative_fee_tax


def _refunded(order: dict[str, Any]) -> Decimal:
    total = ZERO
    for index, value in enumerate(as_list(order.get("refunds"), "refunds")):
        path = join_path("refunds", index)
        refund = as_object(value, path)
        total += abs(money(refund.get("total"), join_path(path, "total")))
    return total


def _totals(
    order: dict[str, Any],
    lines: list[Line],
    fee_discount: Decimal,
    shipping_lines: list[ShippingLine],
    taxes_included: bool,
    order_id: str,
) -> Totals:
    subtotal = _sum([line.unit_price * line.quantity for line in lines])
    discount = _sum([line.discount for line in lines]) + fee_discount
    shipping = _sum([line.amount for line in shipping_lines])
    tax = _order_tax(order, lines)
    total = money(require(order, "total"), "total")
    expected = subtotal - discount + shipping + (ZERO if taxes_included else tax)
    if expected != total:
        LOGGER.warning(
            "woocommerce order %s: subtotal - discount + shipping%s = %s but total is %s"
            " (difference %s); keeping total",
            order_id,
            "" if taxes_included else " + tax",
            expected,
            total,
            total - expected,
        )
    return Totals(
        subtotal=subtotal,
        discount=discount,
        shipping=shipping,
        tax=tax,
        total=total,
        refunded=_refunded(order),
    )


def _derived_payment(totals: Totals, paid_at: datetime | None, unpaid: PaymentStatus) -> PaymentStatus:
    if totals.refunded > 0:
        return "refunded" if totals.refunded >= totals.total > 0 else "partially_refunded"
    if paid_at is not None:
        return "paid"
    return unpaid


# --------------------------------------------------------------------------- parties


def _address(value: Any, path: str) -> Address | None:
    if value is None:
        return None
    data = as_object(value, path)

    def text(key: str) -> str | None:
        return opt_str(data.get(key), join_path(path, key))

    address = Address(
        name=join_name(text("first_name"), text("last_name")),
        company=text("company"),
        line1=text("address_1"),
        line2=text("address_2"),
        city=text("city"),
        region=text("state"),
        postal_code=text("postcode"),
        country_code=country_code(text("country")),
        phone=text("phone"),
    )
    return None if address == Address() else address


def _customer(order: dict[str, Any], billing: Address | None, shipping: Address | None) -> Customer:
    raw_id = order.get("customer_id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str | None):
        raise MappingError("customer_id", "not an id")
    customer_id = opt_str(raw_id, "customer_id")
    billing_raw = order.get("billing")
    billing_data = billing_raw if isinstance(billing_raw, dict) else {}
    return Customer(
        external_id=None if customer_id in (None, "0") else customer_id,
        email=opt_str(billing_data.get("email"), "billing.email"),
        name=(billing.name if billing else None) or (shipping.name if shipping else None),
        phone=billing.phone if billing else None,
    )
