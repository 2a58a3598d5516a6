"""Magento 2 / Adobe Commerce REST order (``GET /rest/V1/orders/{id}`` body) -> canonical
``hub.model.Order``.

Pure: no I/O, no clock. The only side effects are warnings on the ``hub.mapping`` logger
when the channel's figures do not add up (the order is still mapped). Anything that is not
a Magento order raises ``mappings.common.MappingError`` whose path is in Magento's payload
notation, relative to the order object (``items[0].qty_ordered: not an integer``).

Input
-----
The order object itself. A search result (``GET /V1/orders?searchCriteria...``:
``{"items": [...], "search_criteria": ..., "total_count": n}``) is refused
(``items: a search result ...``): map each of its ``items``. Anything else without
``entity_id`` is ``entity_id: missing``.

Status table
------------
Mapped on ``state`` (Magento's fixed set); ``status`` is a merchant-configurable label of
the state (``pending``, ``fraud``, ``suspected_fraud``, custom ones...) and has no place in
the canonical order: it stays in the raw payload the hub keeps beside the order. "derived"
cells are worked out as described below the table.

===================  ==========  ==================  ==================  ========================
``state``            status      payment_status      fulfillment_status  note
===================  ==========  ==================  ==================  ========================
``new``              open        derived             derived             placed, not invoiced
``pending_payment``  open        derived             derived             awaiting a gateway
``payment_review``   on_hold     derived             derived             payment under review:
                                                                         do not ship yet
``processing``       open        paid                derived             contract
``complete``         completed   paid                fulfilled           contract
``closed``           completed   derived (refunded)  derived             credit memo for all
``canceled``         cancelled   derived (voided)    derived             contract
``holded``           on_hold     derived             derived             contract
anything else        MappingError (``state: unknown value ...``)
===================  ==========  ==================  ==================  ========================

* derived payment, from the order's own figures (``total_paid``, ``total_refunded``,
  ``grand_total``; absent = 0): refunded > 0 -> ``refunded`` when it reaches the amount
  paid, else ``partially_refunded``; otherwise paid >= ``grand_total`` (paid > 0) ->
  ``paid``; 0 < paid < ``grand_total`` -> ``partially_paid``; nothing paid -> ``pending``,
  except for ``canceled`` where nothing paid is ``voided`` (the order was cancelled before
  any invoice, so no money moved and any authorisation is released).
* derived fulfillment, from the items (``qty_ordered``, ``qty_shipped``, ``qty_refunded``,
  ``qty_canceled``; virtual items never ship and are left out): per item, what is still to
  ship is ``qty_ordered - max(qty_shipped, qty_refunded) - qty_canceled`` (Magento's own
  ``getSimpleQtyToShip``). Nothing shipped anywhere -> ``unfulfilled``; something shipped
  and nothing left to ship -> ``fulfilled``; otherwise ``partially_fulfilled``. A line
  made of a parent row and child rows counts the parent, unless only its children have
  shipments (bundles shipped separately), then the children.
* ``processing`` and ``complete`` are ``paid`` as the contract says, whatever refunds the
  order has (they are in ``totals.refunded``; a fully refunded order is ``closed``).
* ``closed`` is a finished order whose money went back: completed, not cancelled.
* ``cancelled_at`` = the ``created_at`` of the latest ``status_histories`` entry with status
  ``canceled`` when the state is ``canceled``; otherwise (or without such an entry) null.

Times
-----
``created_at``/``updated_at`` (``"2020-04-24 15:50:17"``, no zone) are read as UTC, as
Magento stores them; an explicit offset is honoured.

Money
-----
Every amount is in the *order* currency (``order_currency_code``): ``grand_total``,
``subtotal``, ``shipping_amount``, ``tax_amount``, ``discount_amount``, item ``price``...
never the ``base_*`` twins (the website's base currency). Magento sends JSON numbers
(floats); each becomes a ``Decimal`` through ``mappings.common.rounded_money`` with four
places (Magento's DECIMAL(20,4) columns), so ``253.74`` is exactly ``253.74`` and float
noise such as ``0.30000000000000004`` is ``0.3``.

``taxes_included`` is always false: Magento's ``price``, ``subtotal`` and
``shipping_amount`` exclude tax whatever the catalog setting (the ``*_incl_tax`` twins
carry the gross figures), and those are what is mapped.

Lines (``items[]``):

* A row with ``parent_item_id`` (or a ``parent_item`` object) is a child; every other row
  is a line. A child whose parent is not in ``items`` is an error.
* Configurable product (parent ``product_type`` ``configurable`` + one ``simple`` child):
  ONE line: ``external_id`` = the parent's ``item_id`` (the row Magento ships and
  invoices), ``sku`` = the child's ``sku`` (the variant actually sold), ``name`` = the
  parent's ``name`` (the product as ordered; the child's adds the option values),
  ``quantity``/price/discount/tax from the parent (the child's are zero or copies).
* Bundle (parent ``product_type`` ``bundle``, or any other parent with children): ONE line
  for the bundle as sold, with the parent's ``item_id``, ``sku``, ``name`` and
  ``qty_ordered``; the children (the bundle's components) are not lines. Money: each of
  price, discount and tax is the parent's when it is not zero (a fixed-price bundle, or
  a dynamic one whose parent Magento fills with the sums), else the children's
  (``price`` = sum of child ``price * qty_ordered`` / parent quantity; discount and tax
  summed). Never both, so nothing is counted twice.
* ``unit_price`` = ``price``; ``discount`` = ``discount_amount`` (positive at item level)
  minus ``discount_tax_compensation_amount`` (the tax part of a discount applied to
  tax-inclusive prices, which Magento adds back into the grand total); ``tax`` =
  ``tax_amount``; ``total`` = ``unit_price * quantity - discount``. ``row_total`` is not
  used (in the recorded samples it is already net of the discount, in Magento's schema it
  is not).
* ``quantity`` = ``qty_ordered`` (a float; ``2.0`` is 2; ``1.5`` is an error).

Shipping: one shipping line when the order has a shipping method
(``extension_attributes.shipping_assignments[0].shipping.method``) or a shipping amount:
``code`` = that method (``flatrate_flatrate``), ``title`` = ``shipping_description``,
``amount`` = ``totals.shipping``.

Totals:

* ``subtotal`` = sum of ``unit_price * quantity`` (checked against ``subtotal``);
* ``discount`` = ``-discount_amount`` (negative at order level, made positive) minus the
  part of it that is on shipping (``shipping_discount_amount``) minus
  ``discount_tax_compensation_amount``: the item discount, without tax;
* ``shipping`` = ``shipping_amount - shipping_discount_amount +
  shipping_discount_tax_compensation_amount``: what the customer pays for shipping, before
  tax;
* ``tax`` = ``tax_amount``; ``total`` = ``grand_total`` (required);
  ``refunded`` = ``total_refunded`` (0 when absent);
* ``subtotal - discount + shipping + tax != total`` is logged, ``total`` kept; so is a
  difference between ``subtotal`` or the line discounts and the order's own figures.

Parties
-------
* customer: ``external_id`` = ``customer_id`` (null for guests); ``email`` =
  ``customer_email``; ``name`` = ``customer_firstname`` (+ ``customer_middlename``) +
  ``customer_lastname``, else the billing address's name; ``phone`` = the billing
  ``telephone`` (Magento orders have no customer phone).
* ``billing_address``; ``shipping_address`` from
  ``extension_attributes.shipping_assignments[0].shipping.address`` (null for virtual
  orders). ``firstname`` (+ ``middlename``) + ``lastname`` -> name, ``company``,
  ``street[0]`` -> line1, the other street lines joined with ", " -> line2 (a string street
  is split on new lines), ``city``, ``region_code`` (else ``region``) -> region,
  ``postcode``, ``country_id`` -> country_code, ``telephone`` -> phone. Empty strings
  become null; an address with nothing left is null.
* ``number`` = ``increment_id``; ``external_id`` = ``entity_id``; ``note`` =
  ``customer_note``; ``tags`` = [] (Magento orders have none); ``currency`` =
  ``order_currency_code`` upper case.
"""

from __future__ import annotations

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
    country_code,
    currency_code,
    get_path,
    identifier,
    integer,
    join_name,
    join_path,
    opt_str,
    order_object,
    rounded_money,
    status_text,
    to_utc,
)

__all__ = ["map_order"]

CHANNEL = "magento"
PLACES = 4  # Magento keeps amounts as DECIMAL(20,4)


@dataclass(frozen=True, slots=True)
class _Row:
    """One row of the status table; ``None`` means "derived" (see the module docstring)."""

    status: Status
    payment: PaymentStatus | None
    fulfillment: FulfillmentStatus | None
    unpaid: PaymentStatus = "pending"


STATE_TABLE: dict[str, _Row] = {
    "new": _Row("open", None, None),
    "pending_payment": _Row("open", None, None),
    "payment_review": _Row("on_hold", None, None),
    "processing": _Row("open", "paid", None),
    "complete": _Row("completed", "paid", "fulfilled"),
    "closed": _Row("completed", None, None),
    "canceled": _Row("cancelled", None, None, unpaid="voided"),
    "holded": _Row("on_hold", None, None),
}


def map_order(document: Any) -> Order:
    """The canonical order of one Magento order object."""
    order = _order_object(document)
    external_id = identifier(order.get("entity_id"), "entity_id")
    state = _state(order.get("state"))
    row = STATE_TABLE[state]

    groups = _groups(order)
    lines = [_line(group) for group in groups]
    totals = _totals(order, lines, external_id)

    created_at = _time(order.get("created_at"), "created_at")
    billing = _address(order.get("billing_address"), "billing_address")
    shipping_path = "extension_attributes.shipping_assignments[0].shipping"
    shipping = _address(
        get_path(order, "extension_attributes", "shipping_assignments", 0, "shipping", "address"),
        join_path(shipping_path, "address"),
    )
    return Order(
        channel=CHANNEL,
        external_id=external_id,
        number=opt_str(order.get("increment_id"), "increment_id"),
        status=row.status,
        payment_status=row.payment or _derived_payment(order, totals, row.unpaid),
        fulfillment_status=row.fulfillment or _derived_fulfillment(groups),
        created_at=created_at,
        updated_at=_time(order.get("updated_at"), "updated_at"),
        cancelled_at=_cancelled_at(order) if state == "canceled" else None,
        currency=currency_code(order.get("order_currency_code"), "order_currency_code"),
        taxes_included=False,
        totals=totals,
        lines=lines,
        customer=_customer(order, billing),
        billing_address=billing,
        shipping_address=shipping,
        shipping_lines=_shipping_lines(order, totals.shipping, shipping_path),
        note=opt_str(order.get("customer_note"), "customer_note"),
        tags=[],
    )


# --------------------------------------------------------------------------- document


def _order_object(document: Any) -> dict[str, Any]:
    order = order_object(document)
    if "entity_id" not in order and "total_count" in order and isinstance(order.get("items"), list):
        raise MappingError("items", "a search result (a list of orders), not one order")
    return order


def _state(value: Any) -> str:
    text = status_text(value, "state").lower()
    if text not in STATE_TABLE:
        raise MappingError("state", f"unknown value {value!r}")
    return text


def _time(value: Any, path: str) -> datetime:
    return to_utc(value, path, assume_utc_if_naive=True)


def _cancelled_at(order: dict[str, Any]) -> datetime | None:
    latest: datetime | None = None
    for index, value in enumerate(as_list(order.get("status_histories"), "status_histories")):
        path = join_path("status_histories", index)
        entry = as_object(value, path)
        if opt_str(entry.get("status"), join_path(path, "status")) != "canceled":
            continue
        when = _time(entry.get("created_at"), join_path(path, "created_at"))
        latest = when if latest is None or when > latest else latest
    return latest


def _amount(obj: dict[str, Any], key: str, path: str, *, default: Decimal | None = ZERO) -> Decimal:
    return rounded_money(obj.get(key), join_path(path, key), places=PLACES, default=default)


def _sum(values: list[Decimal]) -> Decimal:
    return sum(values, ZERO)


# --------------------------------------------------------------------------- lines


@dataclass(frozen=True, slots=True)
class _Item:
    path: str
    data: dict[str, Any]

    def amount(self, key: str, *, default: Decimal | None = ZERO) -> Decimal:
        return _amount(self.data, key, self.path, default=default)

    def qty(self, key: str) -> Decimal:
        return self.amount(key)

    @property
    def product_type(self) -> str | None:
        text = opt_str(self.data.get("product_type"), join_path(self.path, "product_type"))
        return None if text is None else text.lower()


@dataclass(slots=True)
class _Group:
    """A line of the canonical order: a parent row and its child rows (often none)."""

    parent: _Item
    children: list[_Item]


def _groups(order: dict[str, Any]) -> list[_Group]:
    items = as_list(order.get("items"), "items", allow_missing=False)
    if not items:
        raise MappingError("items", "no items")
    groups: list[_Group] = []
    by_id: dict[str, _Group] = {}
    children: list[tuple[str, _Item]] = []
    for index, value in enumerate(items):
        path = join_path("items", index)
        item = _Item(path, as_object(value, path))
        item_id = identifier(item.data.get("item_id"), join_path(path, "item_id"))
        parent_id = _parent_id(item)
        if parent_id is None:
            group = _Group(item, [])
            groups.append(group)
            by_id[item_id] = group
        else:
            children.append((parent_id, item))
    for parent_id, child in children:
        group = by_id.get(parent_id)
        if group is None:
            raise MappingError(join_path(child.path, "parent_item_id"), f"no item {parent_id} in items")
        group.children.append(child)
    return groups


def _parent_id(item: _Item) -> str | None:
    value = item.data.get("parent_item_id")
    if value is not None:
        return identifier(value, join_path(item.path, "parent_item_id"))
    parent = item.data.get("parent_item")
    if parent is not None:
        path = join_path(item.path, "parent_item")
        return identifier(as_object(parent, path).get("item_id"), join_path(path, "item_id"))
    return None


def _quantity(item: _Item) -> int:
    return integer(item.data.get("qty_ordered"), join_path(item.path, "qty_ordered"), minimum=1)


def _name(item: _Item) -> str:
    name = opt_str(item.data.get("name"), join_path(item.path, "name"))
    if name is None:
        raise MappingError(join_path(item.path, "name"), "missing")
    return name


def _net_discount(item: _Item) -> Decimal:
    return item.amount("discount_amount") - item.amount("discount_tax_compensation_amount")


def _line(group: _Group) -> Line:
    parent = group.parent
    quantity = _quantity(parent)
    unit_price = parent.amount("price", default=None)
    discount = _net_discount(parent)
    tax = parent.amount("tax_amount")
    sku = opt_str(parent.data.get("sku"), join_path(parent.path, "sku"))

    if group.children and parent.product_type == "configurable":
        child = group.children[0]
        sku = opt_str(child.data.get("sku"), join_path(child.path, "sku")) or sku
    elif group.children:
        if unit_price == 0:
            children_row = _sum(
                [child.amount("price", default=None) * _quantity(child) for child in group.children]
            )
            unit_price = children_row / quantity
        if discount == 0:
            discount = _sum([_net_discount(child) for child in group.children])
        if tax == 0:
            tax = _sum([child.amount("tax_amount") for child in group.children])

    return Line(
        external_id=identifier(parent.data.get("item_id"), join_path(parent.path, "item_id")),
        sku=sku,
        name=_name(parent),
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
        tax=tax,
        total=unit_price * quantity - discount,
        current_quantity=max(0, quantity - int(parent.qty("qty_canceled"))),  # cancelled units never ship
    )


# --------------------------------------------------------------------------- totals


def _totals(order: dict[str, Any], lines: list[Line], order_id: str) -> Totals:
    subtotal = _sum([line.unit_price * line.quantity for line in lines])
    line_discount = _sum([line.discount for line in lines])
    shipping_discount = _amount(order, "shipping_discount_amount", "")
    discount = (
        abs(_amount(order, "discount_amount", ""))
        - shipping_discount
        - _amount(order, "discount_tax_compensation_amount", "")
    )
    shipping = (
        _amount(order, "shipping_amount", "")
        - shipping_discount
        + _amount(order, "shipping_discount_tax_compensation_amount", "")
    )
    tax = _amount(order, "tax_amount", "")
    total = _amount(order, "grand_total", "", default=None)

    checks = [
        ("subtotal", _amount(order, "subtotal", "", default=subtotal), subtotal),
        ("discount (order level, items only)", discount, line_discount),
        ("grand_total", total, subtotal - discount + shipping + tax),
    ]
    for what, channel, computed in checks:
        if channel != computed:
            LOGGER.warning(
                "magento order %s: %s is %s but the mapping computes %s (difference %s); keeping %s",
                order_id,
                what,
                channel,
                computed,
                channel - computed,
                "the order's figure" if what != "subtotal" else "the lines' sum",
            )
    return Totals(
        subtotal=subtotal,
        discount=discount,
        shipping=shipping,
        tax=tax,
        total=total,
        refunded=_amount(order, "total_refunded", ""),
    )


def _shipping_lines(order: dict[str, Any], amount: Decimal, path: str) -> list[ShippingLine]:
    method = get_path(order, "extension_attributes", "shipping_assignments", 0, "shipping", "method")
    code = opt_str(method, join_path(path, "method"))
    title = opt_str(order.get("shipping_description"), "shipping_description")
    if code is None and title is None and _amount(order, "shipping_amount", "") == 0:
        return []
    return [ShippingLine(code=code, title=title, amount=amount)]


def _derived_payment(order: dict[str, Any], totals: Totals, unpaid: PaymentStatus) -> PaymentStatus:
    paid = _amount(order, "total_paid", "")
    refunded = totals.refunded
    if refunded > 0:
        return "refunded" if refunded >= paid else "partially_refunded"
    if paid > 0:
        return "paid" if paid >= totals.total else "partially_paid"
    return unpaid


def _derived_fulfillment(groups: list[_Group]) -> FulfillmentStatus:
    shipped_any = False
    outstanding = False
    for group in groups:
        rows = [group.parent]
        children_shipped = any(child.qty("qty_shipped") > 0 for child in group.children)
        if children_shipped and group.parent.qty("qty_shipped") == 0:
            rows = group.children
        for item in rows:
            if item.data.get("is_virtual") in (1, True, "1"):
                continue
            shipped = item.qty("qty_shipped")
            to_ship = (
                item.qty("qty_ordered") - max(shipped, item.qty("qty_refunded")) - item.qty("qty_canceled")
            )
            shipped_any = shipped_any or shipped > 0
            outstanding = outstanding or to_ship > 0
    if not shipped_any:
        return "unfulfilled"
    return "partially_fulfilled" if outstanding else "fulfilled"


# --------------------------------------------------------------------------- parties


def _street(value: Any, path: str) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, str):
        parts: list[Any] = value.splitlines()
    elif isinstance(value, list):
        parts = value
    else:
        raise MappingError(path, "not a string or an array of strings")
    lines = [text for i, part in enumerate(parts) if (text := opt_str(part, join_path(path, i)))]
    if not lines:
        return None, None
    return lines[0], ", ".join(lines[1:]) or None


def _address(value: Any, path: str) -> Address | None:
    if value is None:
        return None
    data = as_object(value, path)

    def text(key: str) -> str | None:
        return opt_str(data.get(key), join_path(path, key))

    line1, line2 = _street(data.get("street"), join_path(path, "street"))
    address = Address(
        name=join_name(text("firstname"), text("middlename"), text("lastname")),
        company=text("company"),
        line1=line1,
        line2=line2,
        city=text("city"),
        region=text("region_code") or text("region"),
        postal_code=text("postcode"),
        country_code=country_code(text("country_id")),
        phone=text("telephone"),
    )
    return None if address == Address() else address


def _customer(order: dict[str, Any], billing: Address | None) -> Customer:
    def text(key: str) -> str | None:
        return opt_str(order.get(key), key)

    raw_id = order.get("customer_id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str | None):
        raise MappingError("customer_id", "not an id")
    name = join_name(text("customer_firstname"), text("customer_middlename"), text("customer_lastname"))
    return Customer(
        external_id=text("customer_id"),
        email=text("customer_email"),
        name=name or (billing.name if billing else None),
        phone=billing.phone if billing else None,
    )
