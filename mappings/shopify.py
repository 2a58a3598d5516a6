"""Shopify REST Admin order (``GET /orders/{id}.json`` body, or an ``orders/*`` webhook body)
-> canonical ``hub.model.Order``.

Pure: no I/O, no clock. The only side effect is a warning on the ``hub.mapping`` logger
when the channel's figures do not add up (the order is still mapped). Anything that is not
a Shopify order raises ``mappings.common.MappingError`` whose path is in Shopify's payload
notation, relative to the order object (``line_items[0].quantity: not an integer``).

Input
-----
The order object bare (webhook body) or wrapped as ``{"order": {...}}`` (REST response; the
wrapper may carry siblings, e.g. the ``notice`` of ``POST /orders/{id}/cancel.json``).
``{"orders": [...]}`` (a list response) is refused: one order per document.

Status table (``status``)
-------------------------
==================  ===============  ==========================  ===========
``cancelled_at``    ``closed_at``    ``fulfillment_status``      status
==================  ===============  ==========================  ===========
set                 any              any                         cancelled
null                set              ``fulfilled``               completed
null                set              anything else               open
null                null             ``on_hold`` (GraphQL form)  on_hold
null                null             anything else               open
==================  ===============  ==========================  ===========

``closed_at`` is Shopify's "archived", which is not "done": a merchant can archive an order
that still has goods to ship, so only an archived *and* fully fulfilled order is completed;
an archived order with goods outstanding stays open so nothing downstream forgets it.
Shopify REST has no order-level hold (holds live on fulfillment orders); ``on_hold`` only
appears if a payload carries the GraphQL ``ON_HOLD`` display status.

Payment (``financial_status`` -> ``payment_status``)
----------------------------------------------------
The eight shared values map one to one: ``pending``, ``authorized``, ``paid``,
``partially_paid``, ``partially_refunded``, ``refunded``, ``voided``, ``failed``.
Choices for the others:

* ``expired`` (GraphQL; an authorization that lapsed uncaptured) -> ``voided``: the
  authorization is gone and no money moved, which is exactly what a void leaves.
* ``unpaid`` (a REST *filter* value: pending + authorized + partially paid) -> ``pending``.
* null or absent -> ``pending``.
* any other value -> ``MappingError("financial_status", "unknown value ...")``: money
  state is not guessed.

Values are compared case-insensitively, so GraphQL's ``PARTIALLY_REFUNDED`` also works.

Fulfillment (``fulfillment_status`` -> ``fulfillment_status``)
--------------------------------------------------------------
======================================================================  ====================
Shopify (REST, or GraphQL display status in any case)                   canonical
======================================================================  ====================
null, ``unfulfilled``, ``unshipped``                                    unfulfilled
``partial``, ``partially_fulfilled``                                    partially_fulfilled
``fulfilled``, ``shipped``                                              fulfilled
``restocked`` (every item refunded and restocked; Shopify documents     unfulfilled
GraphQL ``RESTOCKED`` as replaced by ``UNFULFILLED``)
``open``, ``pending_fulfillment``, ``in_progress``, ``scheduled``,      unfulfilled
``on_hold``, ``request_declined`` (GraphQL; nothing has shipped)
anything else                                                           MappingError
======================================================================  ====================

Currency
--------
``currency`` of the canonical order is what the customer paid in: ``presentment_currency``
(falling back to ``currency``). When it differs from the shop's ``currency`` every amount is
read from the ``presentment_money`` of the field's ``*_set`` twin (``price_set``,
``amount_set``, ``total_price_set``...) and a missing twin is an error (the plain fields are
in shop currency and must not be mixed in). Otherwise the plain string fields are read,
falling back to ``shop_money`` of the ``*_set`` twin. Refund transactions have no ``*_set``
twin: their ``amount`` is used, and a transaction whose ``currency`` differs from the order's
is logged.

Lines
-----
* ``quantity`` is the *original* ``quantity``, not ``current_quantity``: the canonical order
  is the order as placed, so its lines add up to ``total_line_items_price`` and its total is
  ``total_price`` (both original figures); later removals and refunds show in
  ``totals.refunded``. ``current_quantity`` may be 0, which a canonical line cannot be.
* ``name`` = ``name``, else ``title - variant_title``, else ``title``.
* ``unit_price`` = ``price``; ``discount`` = sum of ``discount_allocations[].amount`` when
  the array is present (it already holds the line's share of order-level discounts), else
  the deprecated ``total_discount`` (never both: apps have been seen filling both);
  ``tax`` = sum of ``tax_lines[].price``; ``total`` = ``unit_price * quantity - discount``.
* ``sku`` empty -> null.

Shipping lines and totals
-------------------------
* A shipping line's ``amount`` is what the customer pays for it before tax:
  ``discounted_price`` when present, else ``price`` minus its ``discount_allocations``.
  Removed lines (``is_removed``) are kept, like removed items: the order as placed.
* ``subtotal`` = sum of ``unit_price * quantity``.
* ``discount`` = sum of line discounts, plus any part of ``total_discounts`` that is neither
  on lines nor on shipping (``max(0, total_discounts - line discounts - shipping
  discounts)``; normally 0 because Shopify allocates every line-item discount to lines).
  Shipping discounts (``discount_applications`` with ``target_type`` ``shipping_line``,
  allocated to shipping lines) lower ``shipping`` and are not in ``discount``.
* ``shipping`` = sum of shipping line amounts.
* ``tax`` = ``total_tax`` (items and shipping; falls back to the sum of line and shipping
  tax lines when absent).
* ``total`` = ``total_price``, the channel's own figure (required).
* ``refunded`` = sum of ``refunds[].transactions[].amount`` with ``kind`` ``refund`` and
  ``status`` ``success``.
* With ``taxes_included`` false, ``subtotal - discount + shipping + tax != total`` is
  logged (duties, tips and Shopify's rounding are the usual causes) and ``total`` kept.

Parties
-------
* customer: ``external_id`` = ``customer.id``; ``email`` = ``customer.email``, else the
  order's ``email``, else ``contact_email``; ``name`` = customer first + last name, else the
  billing address's name; ``phone`` = ``customer.phone``, else the order's ``phone``.
* addresses: ``name`` (else first + last), ``company``, ``address1`` -> line1, ``address2``
  -> line2, ``city``, ``province_code`` (else ``province``) -> region, ``zip`` ->
  postal_code, ``country_code`` (else the ``country`` name converted) -> country_code,
  ``phone``. Empty strings become null; an address with nothing left is null.
* ``note``: trimmed, empty -> null. ``tags``: the comma-separated string split, trimmed,
  empties dropped.
"""

from __future__ import annotations

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
    get_path,
    identifier,
    integer,
    join_name,
    join_path,
    money,
    opt_str,
    order_object,
    split_tags,
    to_utc,
)

__all__ = ["map_order"]

CHANNEL = "shopify"

PAYMENT_STATUS: dict[str, PaymentStatus] = {
    "pending": "pending",
    "authorized": "authorized",
    "paid": "paid",
    "partially_paid": "partially_paid",
    "partially_refunded": "partially_refunded",
    "refunded": "refunded",
    "voided": "voided",
    "failed": "failed",
    "expired": "voided",
    "unpaid": "pending",
}

FULFILLMENT_STATUS: dict[str, FulfillmentStatus] = {
    "unfulfilled": "unfulfilled",
    "unshipped": "unfulfilled",
    "partial": "partially_fulfilled",
    "partially_fulfilled": "partially_fulfilled",
    "fulfilled": "fulfilled",
    "shipped": "fulfilled",
    "restocked": "unfulfilled",
    "open": "unfulfilled",
    "pending_fulfillment": "unfulfilled",
    "in_progress": "unfulfilled",
    "scheduled": "unfulfilled",
    "on_hold": "unfulfilled",
    "request_declined": "unfulfilled",
}


def map_order(document: Any) -> Order:
    """The canonical order of one Shopify order (bare, or wrapped as ``{"order": {...}}``)."""
    order = _unwrap(document)
    external_id = _order_id(order.get("id"))

    currency = currency_code(order.get("currency"), "currency")
    presentment = order.get("presentment_currency")
    paid_currency = currency if presentment is None else currency_code(presentment, "presentment_currency")
    amounts = _Amounts(use_presentment=paid_currency != currency)

    cancelled_at = (
        None if order.get("cancelled_at") is None else to_utc(order["cancelled_at"], "cancelled_at")
    )
    fulfillment_raw = _enum_text(order.get("fulfillment_status"), "fulfillment_status")
    payment_status = _payment_status(order.get("financial_status"))
    fulfillment_status = _fulfillment_status(fulfillment_raw)
    status = _status(
        cancelled=cancelled_at is not None,
        closed=order.get("closed_at") is not None,
        fulfillment_raw=fulfillment_raw,
        fulfillment_status=fulfillment_status,
    )

    lines = _lines(order, amounts)
    shipping_lines, shipping_discount = _shipping_lines(order, amounts)
    taxes_included = boolean(order.get("taxes_included"), "taxes_included", default=False)
    totals = _totals(order, amounts, lines, shipping_lines, shipping_discount, paid_currency, taxes_included)

    billing = _address(order.get("billing_address"), "billing_address")
    return Order(
        channel=CHANNEL,
        external_id=external_id,
        number=opt_str(order.get("name"), "name"),
        status=status,
        payment_status=payment_status,
        fulfillment_status=fulfillment_status,
        created_at=to_utc(order.get("created_at"), "created_at"),
        updated_at=to_utc(order.get("updated_at"), "updated_at"),
        cancelled_at=cancelled_at,
        currency=paid_currency,
        taxes_included=taxes_included,
        totals=totals,
        lines=lines,
        customer=_customer(order, billing),
        billing_address=billing,
        shipping_address=_address(order.get("shipping_address"), "shipping_address"),
        shipping_lines=shipping_lines,
        note=opt_str(order.get("note"), "note"),
        tags=split_tags(order.get("tags"), "tags"),
    )


# --------------------------------------------------------------------------- document


def _unwrap(document: Any) -> dict[str, Any]:
    document = order_object(document)
    if "id" not in document:
        if "order" in document:
            return as_object(document["order"], "order")
        if isinstance(document.get("orders"), list):
            raise MappingError("orders", "a list of orders, not one order")
    return document


def _order_id(value: Any) -> str:
    text = identifier(value, "id")
    # A GraphQL id of the same order (gid://shopify/Order/450789469) keys the same order.
    prefix = "gid://shopify/Order/"
    return text[len(prefix) :] if text.startswith(prefix) and text[len(prefix) :].isdigit() else text


def _enum_text(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MappingError(path, "not a string")
    return value.strip().lower() or None


def _payment_status(value: Any) -> PaymentStatus:
    text = _enum_text(value, "financial_status")
    if text is None:
        return "pending"
    try:
        return PAYMENT_STATUS[text]
    except KeyError:
        raise MappingError("financial_status", f"unknown value {value!r}") from None


def _fulfillment_status(text: str | None) -> FulfillmentStatus:
    if text is None:
        return "unfulfilled"
    try:
        return FULFILLMENT_STATUS[text]
    except KeyError:
        raise MappingError("fulfillment_status", f"unknown value {text!r}") from None


def _status(
    *, cancelled: bool, closed: bool, fulfillment_raw: str | None, fulfillment_status: FulfillmentStatus
) -> Status:
    if cancelled:
        return "cancelled"
    if closed:
        return "completed" if fulfillment_status == "fulfilled" else "open"
    if fulfillment_raw == "on_hold":
        return "on_hold"
    return "open"


# --------------------------------------------------------------------------- money


class _Amounts:
    """Reads an amount in the currency the customer paid in (see the module docstring)."""

    def __init__(self, *, use_presentment: bool) -> None:
        self.use_presentment = use_presentment

    def read(self, obj: dict[str, Any], key: str, path: str, *, default: Decimal | None = None) -> Decimal:
        set_key = f"{key}_set"
        if self.use_presentment:
            amount = get_path(obj, set_key, "presentment_money", "amount")
            if amount is None and default is not None and obj.get(key) is None and obj.get(set_key) is None:
                return default
            return money(amount, join_path(path, set_key, "presentment_money", "amount"))
        if obj.get(key) is not None:
            return money(obj[key], join_path(path, key), default=default)
        shop = get_path(obj, set_key, "shop_money", "amount")
        if shop is not None:
            return money(shop, join_path(path, set_key, "shop_money", "amount"), default=default)
        if default is not None:
            return default
        raise MappingError(join_path(path, key), "missing")

    def has(self, obj: dict[str, Any], key: str) -> bool:
        return obj.get(key) is not None or obj.get(f"{key}_set") is not None


def _sum(values: list[Decimal]) -> Decimal:
    return sum(values, ZERO)


# --------------------------------------------------------------------------- lines


def _lines(order: dict[str, Any], amounts: _Amounts) -> list[Line]:
    items = as_list(order.get("line_items"), "line_items", allow_missing=False)
    if not items:
        raise MappingError("line_items", "no line items")
    return [_line(item, join_path("line_items", index), amounts) for index, item in enumerate(items)]


def _line(value: Any, path: str, amounts: _Amounts) -> Line:
    item = as_object(value, path)
    quantity = integer(item.get("quantity"), join_path(path, "quantity"), minimum=1)
    unit_price = amounts.read(item, "price", path)

    allocations = item.get("discount_allocations")
    if allocations is not None:
        discount = _sum(
            [
                amounts.read(
                    as_object(alloc, join_path(path, "discount_allocations", i)),
                    "amount",
                    join_path(path, "discount_allocations", i),
                )
                for i, alloc in enumerate(as_list(allocations, join_path(path, "discount_allocations")))
            ]
        )
    else:
        discount = amounts.read(item, "total_discount", path, default=ZERO)

    tax = _sum(
        [
            amounts.read(
                as_object(tax_line, join_path(path, "tax_lines", i)), "price", join_path(path, "tax_lines", i)
            )
            for i, tax_line in enumerate(as_list(item.get("tax_lines"), join_path(path, "tax_lines")))
        ]
    )

    title = opt_str(item.get("title"), join_path(path, "title"))
    name = opt_str(item.get("name"), join_path(path, "name"))
    if name is None and title is not None:
        variant = opt_str(item.get("variant_title"), join_path(path, "variant_title"))
        name = f"{title} - {variant}" if variant else title
    if name is None:
        raise MappingError(join_path(path, "name"), "missing (and no title)")

    return Line(
        external_id=identifier(item.get("id"), join_path(path, "id")),
        sku=opt_str(item.get("sku"), join_path(path, "sku")),
        name=name,
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
        tax=tax,
        total=unit_price * quantity - discount,
        current_quantity=_current_quantity(item, path, quantity),
    )


def _current_quantity(item: dict[str, Any], path: str, quantity: int) -> int | None:
    """Shopify's ``current_quantity`` (after removals and refunds), where it sends one."""
    if item.get("current_quantity") is None:
        return None
    current = integer(item.get("current_quantity"), join_path(path, "current_quantity"), minimum=0)
    return min(quantity, current)


def _shipping_lines(order: dict[str, Any], amounts: _Amounts) -> tuple[list[ShippingLine], Decimal]:
    """The shipping lines, and the total of shipping discounts (price - amount)."""
    result: list[ShippingLine] = []
    discount = ZERO
    for index, value in enumerate(as_list(order.get("shipping_lines"), "shipping_lines")):
        path = join_path("shipping_lines", index)
        line = as_object(value, path)
        price = amounts.read(line, "price", path)
        if amounts.has(line, "discounted_price"):
            amount = amounts.read(line, "discounted_price", path)
        else:
            allocations = as_list(line.get("discount_allocations"), join_path(path, "discount_allocations"))
            amount = price - _sum(
                [
                    amounts.read(
                        as_object(alloc, join_path(path, "discount_allocations", i)),
                        "amount",
                        join_path(path, "discount_allocations", i),
                    )
                    for i, alloc in enumerate(allocations)
                ]
            )
        discount += price - amount
        result.append(
            ShippingLine(
                code=opt_str(line.get("code"), join_path(path, "code")),
                title=opt_str(line.get("title"), join_path(path, "title")),
                amount=amount,
            )
        )
    return result, discount


def _shipping_tax(order: dict[str, Any], amounts: _Amounts) -> Decimal:
    total = ZERO
    for index, value in enumerate(as_list(order.get("shipping_lines"), "shipping_lines")):
        path = join_path("shipping_lines", index)
        for i, tax_line in enumerate(as_list(get_path(value, "tax_lines"), join_path(path, "tax_lines"))):
            tax_path = join_path(path, "tax_lines", i)
            total += amounts.read(as_object(tax_line, tax_path), "price", tax_path)
    return total


def _refunded(order: dict[str, Any], currency: str) -> Decimal:
    total = ZERO
    for r_index, refund_value in enumerate(as_list(order.get("refunds"), "refunds")):
        refund_path = join_path("refunds", r_index)
        refund = as_object(refund_value, refund_path)
        transactions = as_list(refund.get("transactions"), join_path(refund_path, "transactions"))
        for t_index, value in enumerate(transactions):
            path = join_path(refund_path, "transactions", t_index)
            transaction = as_object(value, path)
            if transaction.get("kind") != "refund" or transaction.get("status") != "success":
                continue
            amount = money(transaction.get("amount"), join_path(path, "amount"))
            sent_currency = transaction.get("currency")
            if isinstance(sent_currency, str) and sent_currency.strip().upper() != currency:
                LOGGER.warning(
                    "shopify order: %s: refund in %s, order in %s; amount %s counted as is",
                    path,
                    sent_currency,
                    currency,
                    amount,
                )
            total += amount
    return total


def _totals(
    order: dict[str, Any],
    amounts: _Amounts,
    lines: list[Line],
    shipping_lines: list[ShippingLine],
    shipping_discount: Decimal,
    currency: str,
    taxes_included: bool,
) -> Totals:
    subtotal = _sum([line.unit_price * line.quantity for line in lines])
    line_discount = _sum([line.discount for line in lines])
    discount = line_discount
    if amounts.has(order, "total_discounts"):
        channel_discount = amounts.read(order, "total_discounts", "")
        unallocated = channel_discount - line_discount - shipping_discount
        if unallocated > 0:
            LOGGER.warning(
                "shopify order %s: total_discounts %s exceeds line (%s) and shipping (%s) discounts;"
                " %s counted as an order discount",
                order.get("id"),
                channel_discount,
                line_discount,
                shipping_discount,
                unallocated,
            )
            discount += unallocated
    shipping = _sum([line.amount for line in shipping_lines])
    if amounts.has(order, "total_tax"):
        tax = amounts.read(order, "total_tax", "")
    else:
        tax = _sum([line.tax for line in lines]) + _shipping_tax(order, amounts)
    total = amounts.read(order, "total_price", "")
    if not taxes_included:
        expected = subtotal - discount + shipping + tax
        if expected != total:
            LOGGER.warning(
                "shopify order %s: subtotal - discount + shipping + tax = %s but total_price is %s"
                " (difference %s); keeping total_price",
                order.get("id"),
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
        refunded=_refunded(order, currency),
    )


# --------------------------------------------------------------------------- parties


def _address(value: Any, path: str) -> Address | None:
    if value is None:
        return None
    data = as_object(value, path)

    def text(key: str) -> str | None:
        return opt_str(data.get(key), join_path(path, key))

    country = country_code(text("country_code")) or country_code(text("country"))
    address = Address(
        name=text("name") or join_name(text("first_name"), text("last_name")),
        company=text("company"),
        line1=text("address1"),
        line2=text("address2"),
        city=text("city"),
        region=text("province_code") or text("province"),
        postal_code=text("zip"),
        country_code=country,
        phone=text("phone"),
    )
    return None if address == Address() else address


def _customer(order: dict[str, Any], billing: Address | None) -> Customer:
    raw = order.get("customer")
    customer = {} if raw is None else as_object(raw, "customer")

    def text(obj: dict[str, Any], key: str, path: str) -> str | None:
        return opt_str(obj.get(key), join_path(path, key))

    email = (
        text(customer, "email", "customer") or text(order, "email", "") or text(order, "contact_email", "")
    )
    name = join_name(text(customer, "first_name", "customer"), text(customer, "last_name", "customer"))
    return Customer(
        external_id=text(customer, "id", "customer"),
        email=email,
        name=name or (billing.name if billing else None),
        phone=text(customer, "phone", "customer") or text(order, "phone", ""),
    )
