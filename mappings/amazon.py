"""Amazon Selling Partner API order -> canonical ``hub.model.Order``.

Pure: no I/O, no clock. The only side effects are log records on the ``hub.mapping``
logger (a total that does not add up, an unknown status, a unit price that does not divide
exactly, a skipped cancelled item); the order is still mapped. Anything that is not an
Amazon order raises ``mappings.common.MappingError`` whose path is in Amazon's payload
notation (``OrderItems[0].QuantityOrdered: not an integer``).

Input
-----
Two shapes, told apart by their keys:

* **v0** (Orders API v0, deprecated for reads): ``{"Order": <the Order of getOrder, or one
  element of getOrders' Orders>, "OrderItems": [<every OrderItem of getOrderItems>]}``.
  The connector builds this pair (getOrderItems is a separate, paginated call); paths are
  relative to the pair (``Order.OrderStatus``, ``OrderItems[1].ItemPrice.Amount``).
* **v2026** (Orders API v2026-01-01): one order object, the ``order`` of ``getOrder`` or an
  element of ``orders`` of ``searchOrders``; items are inside (``orderItems``). The whole
  ``getOrder`` body ``{"order": {...}}`` is accepted too. Paths are relative to the order
  object (``orderItems[0].quantityOrdered``). The connector must ask for
  ``includedData=FULFILLMENT`` (the status lives there) and should ask for ``PROCEEDS``
  (prices), ``BUYER`` and ``RECIPIENT``.

Anything else is ``MappingError("order", ...)``: a JSON array, a ``searchOrders`` response
(``{"orders": [...]}``), a v0 response envelope (``{"payload": ...}``), a bare v0 Order
without its items, or any other object.

Status table
------------
v0 ``Order.OrderStatus`` and v2026 ``fulfillment.fulfillmentStatus`` share one table: a
status is compared without case and without ``_``, so ``PARTIALLY_SHIPPED`` is
``PartiallyShipped`` and both spellings of cancelled are known.

========================  ========================  ==========  =======  ===================  ========
v0                        v2026                     status      payment  fulfillment          note
========================  ========================  ==========  =======  ===================  ========
``PendingAvailability``   ``PENDING_AVAILABILITY``  open        pending  unfulfilled          ours
``Pending``               ``PENDING``               open        pending  unfulfilled          contract
``Unshipped``             ``UNSHIPPED``             open        paid     unfulfilled          contract
``PartiallyShipped``      ``PARTIALLY_SHIPPED``     open        paid     partially_fulfilled  contract
``Shipped``               ``SHIPPED``               completed   paid     fulfilled            contract
``InvoiceUnconfirmed``    (none)                    completed   paid     fulfilled            ours
``Canceled``              ``CANCELLED``             cancelled   voided   unfulfilled          contract
``Unfulfillable``         ``UNFULFILLABLE``         cancelled   voided   unfulfilled          ours
anything else                                       open        pending  unfulfilled          warning
========================  ========================  ==========  =======  ===================  ========

* ``PendingAvailability`` is a pre-order whose payment is not authorised yet: like
  ``Pending`` (nothing to ship, nothing paid); it becomes ``Pending`` then ``Unshipped``.
* ``InvoiceUnconfirmed``: every item shipped, the seller has not yet confirmed the invoice
  (e-invoicing marketplaces): the goods are gone, so it is ``Shipped``.
* ``Canceled``: Amazon charges the buyer when the order ships, so a cancelled order took no
  money; any authorisation is released: ``voided`` (the contract leaves payment open).
* ``Unfulfillable`` only happens to Multi-Channel Fulfillment orders placed elsewhere that
  Amazon cannot fulfil; it is final, nothing ships and Amazon took no money: cancelled.
* An unknown status is logged as a warning and mapped like ``Pending`` (the safest reading:
  not paid, nothing to ship) so a new Amazon status does not stop every order; a missing
  or non-string status is an error.
* ``cancelled_at`` is always null and ``refunded`` always 0: neither version of the Orders
  API carries a cancellation time or refunds (refunds live in the Finances API).

Money
-----
Amounts are Amazon's decimal strings, exact (``money`` objects ``{"CurrencyCode",
"Amount"}`` in v0, ``{"currencyCode", "amount"}`` in v2026). Every amount of an order must
be in one currency: another currency anywhere is ``MappingError`` at its currency code
(the v0 doc example's GBP gift wrap in a JPY order is refused, not mixed in).

``currency``: v0 ``Order.OrderTotal.CurrencyCode``, v2026 ``proceeds.grandTotal.currencyCode``;
else the first currency of an item amount; else, for orders with no amount at all
(``Pending``), the currency of the marketplace (``MarketplaceId`` / ``salesChannel.
marketplaceId``, table ``MARKETPLACES``); an order with no amount from an unknown
marketplace is an error.

Discounts are read as magnitudes (``abs``): Amazon documents v0 promotions as positive
amounts, and the sign of v2026 ``DISCOUNT`` proceeds is not documented.

**v0 items** (``OrderItems[]``). ``ItemPrice`` is the price of the *whole quantity*:

* ``unit_price`` = ``ItemPrice / QuantityOrdered``, exact when it divides (``17.95 / 2`` =
  ``8.975``); otherwise rounded up at two more decimals than the amount has (``10.00 / 3``
  -> ``3.3334``) and the excess (``0.0002``) added to the line's ``discount``, so the line's
  ``total`` is still ``ItemPrice - PromotionDiscount`` (logged at INFO;
  ``mappings.common.unit_price``).
* ``discount`` = ``PromotionDiscount``; ``tax`` = ``ItemTax - PromotionDiscountTax`` (the tax
  actually charged on the discounted line); ``total`` = ``ItemPrice - PromotionDiscount``.
* ``ShippingPrice - ShippingDiscount`` goes to ``totals.shipping`` and
  ``ShippingTax - ShippingDiscountTax`` to ``totals.tax``: shipping and its tax are never on
  a line.
* charges the customer pays besides the item become lines of their own (quantity 1, no
  SKU, ``external_id`` = the item's id + a suffix), as WooCommerce fees do, so they count
  in ``subtotal`` like the goods: gift wrap (``BuyerInfo.GiftWrapPrice``, tax
  ``BuyerInfo.GiftWrapTax``; ``:gift-wrap``, "Gift wrap (<GiftWrapLevel>)") and the
  cash-on-delivery fee (``CODFee``, discount ``CODFeeDiscount``; ``:cod-fee``).
* ``PointsGranted`` (Amazon points, paid by the seller) is not a charge and is ignored.

**v2026 items** (``orderItems[]``). ``product.price.unitPrice`` is the price of *one* unit
and is the ``unit_price`` (when it is absent, the ``ITEM`` proceeds / quantity as in v0;
when both are present and ``ITEM`` differs from unit price x quantity, that is logged and
the unit price kept). ``proceeds.breakdowns[]`` by ``type``:

* ``DISCOUNT``: the line's ``discount``, except the part whose ``detailedBreakdowns``
  ``subtype`` is ``SHIPPING`` (it lowers shipping) or names a charge line below (that
  line's discount);
* ``TAX``: ``totals.tax``; on the line except the parts with ``subtype`` ``SHIPPING`` (only in
  ``totals.tax``) or a charge line's type (that line's tax). Without ``detailedBreakdowns``
  the whole tax is the line's.
* ``SHIPPING``: ``totals.shipping`` (less its discount);
* ``GIFT_WRAP``, ``COD_FEE``, ``OTHER``: charge lines as in v0 (``:gift-wrap``, ``:cod-fee``,
  ``:other``); the wrap level comes from ``fulfillment.packing.giftOption.giftWrapLevel``;
* any other type is logged and ignored.

**Pending orders** have no prices yet (v0 getOrderItems returns none until the order is
``Unshipped``; ``OrderTotal`` is absent) and usually no address. They map without error:
an item without a price has ``unit_price`` 0, every absent amount is 0, the address is
null, and the ``total`` is computed. The hub re-reads the order when it changes
(ORDER_CHANGE / ``LastUpdateDate``) and the priced version replaces this one.

**Cancelled items**: an item with quantity 0 (Amazon reports the items of a cancelled
order, or a cancelled item, so -- unconfirmed) cannot be a canonical line: it is skipped
(logged). When *every* item has quantity 0 and the order is cancelled, each becomes a line
of quantity 1 with every amount 0 so the cancellation still reaches the hub; a
non-cancelled order without any quantity is an error.

Totals:

* ``subtotal`` = sum of ``unit_price x quantity`` over all lines (charges included);
* ``discount`` = sum of line discounts (promotions, rounding excess, fee discounts);
* ``shipping`` = sum of shipping prices less shipping discounts;
* ``tax`` = line taxes + shipping taxes;
* ``total`` = the channel's figure: v0 ``OrderTotal``, v2026 ``proceeds.grandTotal``. When it
  is absent (``Pending``, or v2026 without ``PROCEEDS``) it is computed as ``subtotal -
  discount + shipping (+ tax unless taxes_included)`` plus delivery tips. A channel total
  that differs from that is logged and kept. v2026 ``DELIVERY_TIP`` proceeds (order level)
  are part of what the customer pays: in the computed total and in the comparison.
* ``refunded`` = 0.

``taxes_included``: Amazon states no flag, and its amounts are the ones the buyer saw:
net of tax where sales tax is added at checkout (US, CA), gross elsewhere (VAT, GST,
consumption tax). When the order has tax and a channel total, the total decides: equal to
``subtotal - discount + shipping + tax`` -> false, to ``subtotal - discount + shipping`` ->
true. Otherwise (no tax, no total, or neither formula matches) the marketplace decides:
false for US and CA (and unknown marketplaces), true for the others (``MARKETPLACES``).

Shipping lines: one, ``code`` = v0 ``ShipmentServiceLevelCategory`` / v2026
``fulfillment.fulfillmentServiceLevel``, ``title`` = v0 ``ShipServiceLevel`` (v2026 has no
title: null), ``amount`` = ``totals.shipping``; none when there is neither a level nor a
shipping amount.

Times
-----
v0 ``PurchaseDate`` / ``LastUpdateDate``, v2026 ``createdTime`` / ``lastUpdatedTime`` ->
``created_at`` / ``updated_at`` (ISO 8601 with ``Z`` or an offset; both required).

Parties
-------
* ``customer``: ``email`` = v0 ``BuyerInfo.BuyerEmail`` (also the older top-level
  ``BuyerEmail``) / v2026 ``buyer.buyerEmail`` -- an anonymised relay address;
  ``name`` = ``BuyerName`` / ``buyer.buyerName``. ``external_id`` and ``phone`` are null:
  Amazon gives no stable buyer id, and the address phone is the recipient's.
* ``shipping_address`` = v0 ``ShippingAddress`` / v2026 ``recipient.deliveryAddress``:
  ``Name``, ``CompanyName``, ``AddressLine1`` -> line1, ``AddressLine2`` and ``AddressLine3``
  -> line2 (joined by ", "), ``City``, ``StateOrRegion`` -> region, ``PostalCode``,
  ``CountryCode``, ``Phone`` (v2026: the same names in camelCase). Without the PII role only
  city, region, postal code and country arrive: the rest is null. Empty strings become
  null; an address with nothing left (or none, e.g. ``Pending``) is null.
  ``DefaultShipFromLocationAddress`` is the seller's and is not read.
* ``billing_address`` is null: the Orders API has no billing address.
* ``note`` = v2026 ``recipient.deliveryPreference.addressInstruction`` (the buyer's delivery
  instructions), null in v0.

Identity and tags
-----------------
``external_id`` = ``number`` = ``AmazonOrderId`` / ``orderId``. The canonical order has no
field for the marketplace or the fulfilment channel, so they are kept as ``tags``:
``marketplace:<MarketplaceId>`` and ``fulfillment:MFN`` / ``fulfillment:AFN`` (v0
``FulfillmentChannel``; v2026 ``fulfilledBy`` ``MERCHANT`` -> MFN, ``AMAZON`` -> AFN, any other
value kept as sent), each only when present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    join_path,
    opt_money,
    opt_str,
    status_text,
    to_utc,
    unit_price,
)

__all__ = ["MARKETPLACES", "STATUS_TABLE", "map_order"]

CHANNEL = "amazon"


@dataclass(frozen=True, slots=True)
class _Row:
    status: Status
    payment: PaymentStatus
    fulfillment: FulfillmentStatus


_PENDING = _Row("open", "pending", "unfulfilled")
_CANCELLED = _Row("cancelled", "voided", "unfulfilled")

# Keyed by the status lower-cased without "_": v0 and v2026 spellings meet.
STATUS_TABLE: dict[str, _Row] = {
    "pendingavailability": _PENDING,
    "pending": _PENDING,
    "unshipped": _Row("open", "paid", "unfulfilled"),
    "partiallyshipped": _Row("open", "paid", "partially_fulfilled"),
    "shipped": _Row("completed", "paid", "fulfilled"),
    "invoiceunconfirmed": _Row("completed", "paid", "fulfilled"),
    "canceled": _CANCELLED,
    "cancelled": _CANCELLED,
    "unfulfillable": _CANCELLED,
}


@dataclass(frozen=True, slots=True)
class Marketplace:
    country: str
    currency: str
    taxes_included: bool  # whether buyers see prices with tax (see the module docstring)
    region: str  # the SP-API endpoint region: na, eu or fe


# Amazon's marketplace ids (SP-API "Marketplace IDs").
MARKETPLACES: dict[str, Marketplace] = {
    "ATVPDKIKX0DER": Marketplace("US", "USD", False, "na"),
    "A2EUQ1WTGCTBG2": Marketplace("CA", "CAD", False, "na"),
    "A1AM78C64UM0Y8": Marketplace("MX", "MXN", True, "na"),
    "A2Q3Y263D00KWC": Marketplace("BR", "BRL", True, "na"),
    "A1F83G8C2ARO7P": Marketplace("GB", "GBP", True, "eu"),
    "A1PA6795UKMFR9": Marketplace("DE", "EUR", True, "eu"),
    "A13V1IB3VIYZZH": Marketplace("FR", "EUR", True, "eu"),
    "APJ6JRA9NG5V4": Marketplace("IT", "EUR", True, "eu"),
    "A1RKKUPIHCS9HS": Marketplace("ES", "EUR", True, "eu"),
    "A1805IZSGTT6HS": Marketplace("NL", "EUR", True, "eu"),
    "AMEN7PMS3EDWL": Marketplace("BE", "EUR", True, "eu"),
    "A28R8C7NBKEWEA": Marketplace("IE", "EUR", True, "eu"),
    "A2NODRKZP88ZB9": Marketplace("SE", "SEK", True, "eu"),
    "A1C3SOZRARQ6R3": Marketplace("PL", "PLN", True, "eu"),
    "A33AVAJ2PDY3EV": Marketplace("TR", "TRY", True, "eu"),
    "ARBP9OOSHTCHU": Marketplace("EG", "EGP", True, "eu"),
    "A2VIGQ35RCS4UG": Marketplace("AE", "AED", True, "eu"),
    "A17E79C6D8DWNP": Marketplace("SA", "SAR", True, "eu"),
    "A21TJRUUN4KGV": Marketplace("IN", "INR", True, "eu"),
    "AE08WJ6YKNBMC": Marketplace("ZA", "ZAR", True, "eu"),
    "A1VC38T7YXB528": Marketplace("JP", "JPY", True, "fe"),
    "A39IBJ37TRP1C6": Marketplace("AU", "AUD", True, "fe"),
    "A19VAU5U5O7RUS": Marketplace("SG", "SGD", True, "fe"),
}

_FULFILLED_BY = {"MERCHANT": "MFN", "AMAZON": "AFN"}
# v2026 proceeds types that are charges of their own: (line id suffix, line name).
_CHARGES = {
    "GIFT_WRAP": ("gift-wrap", "Gift wrap"),
    "COD_FEE": ("cod-fee", "Cash on delivery fee"),
    "OTHER": ("other", "Other charge"),
}
_ITEM_PROCEEDS = frozenset({"ITEM", "SHIPPING", "TAX", "DISCOUNT", *_CHARGES})


# --------------------------------------------------------------------------- intermediate form


@dataclass(slots=True)
class _Charge:
    suffix: str
    name: str
    amount: Decimal
    discount: Decimal = ZERO
    tax: Decimal = ZERO


@dataclass(slots=True)
class _Item:
    """One item of either version, in amounts the canonical order understands."""

    path: str
    external_id: str
    sku: str | None
    name: str
    quantity: int  # 0 for a cancelled item
    unit: Decimal | None  # the price of one unit (v2026), when stated
    amount: Decimal | None  # the price of the whole quantity, when stated
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    shipping: Decimal = ZERO  # after shipping discounts
    shipping_tax: Decimal = ZERO
    charges: list[_Charge] = field(default_factory=list)


@dataclass(slots=True)
class _Head:
    """What the order says besides its items."""

    external_id: str
    status_text: str
    created_at: datetime
    updated_at: datetime
    marketplace: str | None
    marketplace_path: str
    fulfillment_channel: str | None
    channel_total: Decimal | None
    tip: Decimal
    service_code: str | None
    service_title: str | None
    customer: Customer
    shipping_address: Address | None
    note: str | None
    items_path: str


class _Money:
    """Reads money objects, checking that every amount is in one currency."""

    def __init__(self, amount_key: str, currency_key: str) -> None:
        self.amount_key = amount_key
        self.currency_key = currency_key
        self.currency: str | None = None

    def read(self, value: Any, path: str) -> Decimal | None:
        """The amount of a money object; ``None`` when the object or its amount is absent."""
        if value is None:
            return None
        obj = as_object(value, path)
        amount = opt_money(obj.get(self.amount_key), join_path(path, self.amount_key))
        if amount is None:
            return None
        if obj.get(self.currency_key) is not None:
            code_path = join_path(path, self.currency_key)
            code = currency_code(obj[self.currency_key], code_path)
            if self.currency is None:
                self.currency = code
            elif code != self.currency:
                raise MappingError(code_path, f"{code}, but the order's amounts are in {self.currency}")
        return amount

    def amount(self, obj: dict[str, Any], path: str, *keys: str) -> Decimal:
        """``read`` of ``obj`` at ``keys``, 0 when absent."""
        value = self.read(get_path(obj, *keys), join_path(path, *keys))
        return ZERO if value is None else value


# --------------------------------------------------------------------------- entry point


def map_order(document: Any) -> Order:
    """The canonical order of one Amazon order (v0 pair or v2026 order object)."""
    if isinstance(document, list):
        raise MappingError("order", "a JSON array (a list of orders?), not one order")
    if not isinstance(document, dict):
        raise MappingError("order", "not a JSON object")
    if "Order" in document or "OrderItems" in document:
        return _map_v0(document)
    if "orderId" in document:
        return _map_v2026(document)
    if isinstance(document.get("order"), dict):
        return _map_v2026(document["order"])
    if "orders" in document:
        raise MappingError("order", "a searchOrders response (a list of orders), not one order")
    if "payload" in document:
        raise MappingError("order", 'a v0 response envelope, not {"Order": ..., "OrderItems": [...]}')
    if "AmazonOrderId" in document:
        raise MappingError("order", 'a v0 Order without its items: give {"Order": ..., "OrderItems": [...]}')
    raise MappingError("order", "not an Amazon order (neither a v0 Order with its items nor a v2026 order)")


# --------------------------------------------------------------------------- v0


def _map_v0(document: dict[str, Any]) -> Order:
    if document.get("Order") is None:
        raise MappingError("Order", "missing")
    order = as_object(document["Order"], "Order")
    raw_items = as_list(document.get("OrderItems"), "OrderItems", allow_missing=False)
    money = _Money("Amount", "CurrencyCode")

    buyer = order.get("BuyerInfo")
    buyer_path = "Order.BuyerInfo" if buyer is not None else "Order"
    buyer_info = as_object(buyer, buyer_path) if buyer is not None else order
    channel = _opt_text(order, "Order", "FulfillmentChannel")
    head = _Head(
        external_id=identifier(order.get("AmazonOrderId"), "Order.AmazonOrderId"),
        status_text=status_text(order.get("OrderStatus"), "Order.OrderStatus"),
        created_at=to_utc(order.get("PurchaseDate"), "Order.PurchaseDate"),
        updated_at=to_utc(order.get("LastUpdateDate"), "Order.LastUpdateDate"),
        marketplace=_opt_text(order, "Order", "MarketplaceId"),
        marketplace_path="Order.MarketplaceId",
        fulfillment_channel=channel.upper() if channel else None,
        channel_total=money.read(order.get("OrderTotal"), "Order.OrderTotal"),
        tip=ZERO,
        service_code=_opt_text(order, "Order", "ShipmentServiceLevelCategory"),
        service_title=_opt_text(order, "Order", "ShipServiceLevel"),
        customer=Customer(
            email=_opt_text(buyer_info, buyer_path, "BuyerEmail"),
            name=_opt_text(buyer_info, buyer_path, "BuyerName"),
        ),
        shipping_address=_address(order.get("ShippingAddress"), "Order.ShippingAddress", _V0_ADDRESS),
        note=None,
        items_path="OrderItems",
    )
    items = [_v0_item(value, join_path("OrderItems", index), money) for index, value in enumerate(raw_items)]
    return _assemble(head, items, money)


def _v0_item(value: Any, path: str, money: _Money) -> _Item:
    item = as_object(value, path)
    item_id = identifier(item.get("OrderItemId"), join_path(path, "OrderItemId"))

    def amount(*keys: str) -> Decimal:
        return money.amount(item, path, *keys)

    charges: list[_Charge] = []
    gift_wrap = money.amount(item, path, "BuyerInfo", "GiftWrapPrice")
    gift_wrap_tax = money.amount(item, path, "BuyerInfo", "GiftWrapTax")
    if gift_wrap or gift_wrap_tax:
        level = _opt_text(item, path, "BuyerInfo", "GiftWrapLevel")
        charges.append(_Charge("gift-wrap", _charge_name("Gift wrap", level), gift_wrap, tax=gift_wrap_tax))
    cod_fee = money.amount(item, path, "CODFee")
    if cod_fee:
        discount = abs(money.amount(item, path, "CODFeeDiscount"))
        charges.append(_Charge("cod-fee", "Cash on delivery fee", cod_fee, discount=discount))
    return _Item(
        path=path,
        external_id=item_id,
        sku=_opt_text(item, path, "SellerSKU"),
        name=_name(item, path, "Title", "ASIN"),
        quantity=integer(item.get("QuantityOrdered"), join_path(path, "QuantityOrdered"), minimum=0),
        unit=None,
        amount=money.read(item.get("ItemPrice"), join_path(path, "ItemPrice")),
        discount=abs(amount("PromotionDiscount")),
        tax=amount("ItemTax") - abs(amount("PromotionDiscountTax")),
        shipping=amount("ShippingPrice") - abs(amount("ShippingDiscount")),
        shipping_tax=amount("ShippingTax") - abs(amount("ShippingDiscountTax")),
        charges=charges,
    )


_V0_ADDRESS = ("Name", "CompanyName", "AddressLine1", "AddressLine2", "AddressLine3", "City")
_V0_ADDRESS += ("StateOrRegion", "PostalCode", "CountryCode", "Phone")


# --------------------------------------------------------------------------- v2026


def _map_v2026(order: dict[str, Any]) -> Order:
    money = _Money("amount", "currencyCode")
    fulfillment = _object(order, "fulfillment", "")
    sales_channel = _object(order, "salesChannel", "")
    buyer = _object(order, "buyer", "")
    recipient = _object(order, "recipient", "")
    proceeds = _object(order, "proceeds", "")
    fulfilled_by = _opt_text(fulfillment, "fulfillment", "fulfilledBy")
    raw_items = as_list(order.get("orderItems"), "orderItems", allow_missing=False)

    channel_total = money.read(proceeds.get("grandTotal"), "proceeds.grandTotal")
    tip = ZERO
    for index, value in enumerate(as_list(proceeds.get("breakdowns"), "proceeds.breakdowns")):
        path = join_path("proceeds.breakdowns", index)
        breakdown = as_object(value, path)
        if (opt_str(breakdown.get("type"), join_path(path, "type")) or "").upper() == "DELIVERY_TIP":
            tip += money.amount(breakdown, path, "subtotal")

    head = _Head(
        external_id=identifier(order.get("orderId"), "orderId"),
        status_text=status_text(fulfillment.get("fulfillmentStatus"), "fulfillment.fulfillmentStatus"),
        created_at=to_utc(order.get("createdTime"), "createdTime"),
        updated_at=to_utc(order.get("lastUpdatedTime"), "lastUpdatedTime"),
        marketplace=_opt_text(sales_channel, "salesChannel", "marketplaceId"),
        marketplace_path="salesChannel.marketplaceId",
        fulfillment_channel=_FULFILLED_BY.get(fulfilled_by.upper(), fulfilled_by) if fulfilled_by else None,
        channel_total=channel_total,
        tip=tip,
        service_code=_opt_text(fulfillment, "fulfillment", "fulfillmentServiceLevel"),
        service_title=None,
        customer=Customer(
            email=_opt_text(buyer, "buyer", "buyerEmail"),
            name=_opt_text(buyer, "buyer", "buyerName"),
        ),
        shipping_address=_address(
            recipient.get("deliveryAddress"), "recipient.deliveryAddress", _V2026_ADDRESS
        ),
        note=_opt_text(recipient, "recipient", "deliveryPreference", "addressInstruction"),
        items_path="orderItems",
    )
    items = [_v2026_item(raw, join_path("orderItems", index), money) for index, raw in enumerate(raw_items)]
    return _assemble(head, items, money)


def _v2026_item(value: Any, path: str, money: _Money) -> _Item:
    item = as_object(value, path)
    product_path = join_path(path, "product")
    product = _object(item, "product", path)
    proceeds_path = join_path(path, "proceeds")
    proceeds = _object(item, "proceeds", path)

    parts: dict[str, Decimal] = {}  # proceeds by type
    details: dict[str, dict[str, Decimal]] = {"TAX": {}, "DISCOUNT": {}}  # detailed by subtype
    for index, raw in enumerate(as_list(proceeds.get("breakdowns"), join_path(proceeds_path, "breakdowns"))):
        bpath = join_path(proceeds_path, "breakdowns", index)
        breakdown = as_object(raw, bpath)
        kind = (opt_str(breakdown.get("type"), join_path(bpath, "type")) or "").upper()
        if kind not in _ITEM_PROCEEDS:
            LOGGER.warning("amazon order item at %s: proceeds type %r ignored", bpath, kind)
            continue
        parts[kind] = parts.get(kind, ZERO) + money.amount(breakdown, bpath, "subtotal")
        if kind in details:
            detailed_path = join_path(bpath, "detailedBreakdowns")
            for number, detail_raw in enumerate(as_list(breakdown.get("detailedBreakdowns"), detailed_path)):
                dpath = join_path(detailed_path, number)
                detail = as_object(detail_raw, dpath)
                subtype = (opt_str(detail.get("subtype"), join_path(dpath, "subtype")) or "").upper()
                detail_amount = money.amount(detail, dpath, "value")
                details[kind][subtype] = details[kind].get(subtype, ZERO) + detail_amount

    taxes, discounts = details["TAX"], details["DISCOUNT"]
    charges: list[_Charge] = []
    for kind, (suffix, label) in _CHARGES.items():
        if parts.get(kind):
            if kind == "GIFT_WRAP":
                level = _opt_text(item, path, "fulfillment", "packing", "giftOption", "giftWrapLevel")
                label = _charge_name(label, level)
            charges.append(
                _Charge(suffix, label, parts[kind], abs(discounts.get(kind, ZERO)), taxes.get(kind, ZERO))
            )
    shipping_discount = abs(discounts.get("SHIPPING", ZERO))
    shipping_tax = taxes.get("SHIPPING", ZERO)
    return _Item(
        path=path,
        external_id=identifier(item.get("orderItemId"), join_path(path, "orderItemId")),
        sku=_opt_text(product, product_path, "sellerSku"),
        name=_name(product, product_path, "title", "asin"),
        quantity=integer(item.get("quantityOrdered"), join_path(path, "quantityOrdered"), minimum=0),
        unit=money.read(get_path(product, "price", "unitPrice"), join_path(product_path, "price.unitPrice")),
        amount=parts.get("ITEM"),
        discount=abs(parts.get("DISCOUNT", ZERO)) - shipping_discount - sum(c.discount for c in charges),
        tax=parts.get("TAX", ZERO) - shipping_tax - sum(c.tax for c in charges),
        shipping=parts.get("SHIPPING", ZERO) - shipping_discount,
        shipping_tax=shipping_tax,
        charges=charges,
    )


_V2026_ADDRESS = ("name", "companyName", "addressLine1", "addressLine2", "addressLine3", "city")
_V2026_ADDRESS += ("stateOrRegion", "postalCode", "countryCode", "phone")


# --------------------------------------------------------------------------- both versions


def _assemble(head: _Head, items: list[_Item], money: _Money) -> Order:
    row = STATUS_TABLE.get(head.status_text.replace("_", "").lower())
    if row is None:
        LOGGER.warning(
            "amazon order %s: unknown status %r mapped like Pending", head.external_id, head.status_text
        )
        row = _PENDING
    items = _live_items(head, items, row)
    lines = [line for item in items for line in _lines(item, head.external_id)]
    shipping = sum((item.shipping for item in items), ZERO)

    subtotal = sum((line.unit_price * line.quantity for line in lines), ZERO)
    discount = sum((line.discount for line in lines), ZERO)
    tax = sum((line.tax for line in lines), ZERO) + sum((item.shipping_tax for item in items), ZERO)
    net = subtotal - discount + shipping + head.tip
    marketplace = MARKETPLACES.get(head.marketplace or "")
    taxes_included = _taxes_included(head.channel_total, net, tax, marketplace)
    expected = net if taxes_included else net + tax
    total = expected if head.channel_total is None else head.channel_total
    if total != expected:
        LOGGER.warning(
            "amazon order %s: subtotal - discount + shipping%s%s = %s but the order total is %s"
            " (difference %s); keeping the order total",
            head.external_id,
            "" if taxes_included else " + tax",
            " + tips" if head.tip else "",
            expected,
            total,
            total - expected,
        )

    currency = money.currency
    if currency is None:
        if marketplace is None:
            what = "unknown" if head.marketplace else "missing"
            raise MappingError(head.marketplace_path, f"{what}, and no amount states the currency")
        currency = marketplace.currency

    shipping_lines = []
    if head.service_code or head.service_title or shipping:
        shipping_lines.append(ShippingLine(code=head.service_code, title=head.service_title, amount=shipping))
    tags = []
    if head.marketplace:
        tags.append(f"marketplace:{head.marketplace}")
    if head.fulfillment_channel:
        tags.append(f"fulfillment:{head.fulfillment_channel}")

    return Order(
        channel=CHANNEL,
        external_id=head.external_id,
        number=head.external_id,
        status=row.status,
        payment_status=row.payment,
        fulfillment_status=row.fulfillment,
        created_at=head.created_at,
        updated_at=head.updated_at,
        cancelled_at=None,
        currency=currency,
        taxes_included=taxes_included,
        totals=Totals(subtotal=subtotal, discount=discount, shipping=shipping, tax=tax, total=total),
        lines=lines,
        customer=head.customer,
        billing_address=None,
        shipping_address=head.shipping_address,
        shipping_lines=shipping_lines,
        note=head.note,
        tags=tags,
    )


def _live_items(head: _Head, items: list[_Item], row: _Row) -> list[_Item]:
    """The items with a quantity; see "Cancelled items" in the module docstring."""
    if not items:
        raise MappingError(head.items_path, "no items")
    live = [item for item in items if item.quantity > 0]
    if live:
        for item in items:
            if item.quantity == 0:
                LOGGER.info(
                    "amazon order %s: %s: quantity 0 (cancelled), skipped", head.external_id, item.path
                )
        return live
    if row.status != "cancelled":
        raise MappingError(head.items_path, "no item has a quantity ordered")
    LOGGER.info(
        "amazon order %s: cancelled, every item has quantity 0; kept as lines of quantity 1 at 0",
        head.external_id,
    )
    return [
        _Item(item.path, item.external_id, item.sku, item.name, quantity=1, unit=ZERO, amount=None)
        for item in items
    ]


def _lines(item: _Item, order_id: str) -> list[Line]:
    """The item's line, then a line for each of its charges (gift wrap, COD fee...)."""
    quantity = item.quantity
    discount = item.discount
    if item.unit is not None:
        unit = item.unit
        if item.amount is not None and item.amount != unit * quantity:
            LOGGER.warning(
                "amazon order %s: %s: ITEM proceeds %s differ from unit price %s x %s; unit price kept",
                order_id,
                item.path,
                item.amount,
                unit,
                quantity,
            )
    elif item.amount is not None:
        unit = unit_price(item.amount, quantity)
        excess = unit * quantity - item.amount
        if excess:
            LOGGER.info(
                "amazon order %s: %s: %s / %s does not divide; unit price %s, %s added to the discount",
                order_id,
                item.path,
                item.amount,
                quantity,
                unit,
                excess,
            )
            discount += excess
    else:
        unit = ZERO  # not priced yet (Pending)
    lines = [
        Line(
            external_id=item.external_id,
            sku=item.sku,
            name=item.name,
            quantity=quantity,
            unit_price=unit,
            discount=discount,
            tax=item.tax,
            total=unit * quantity - discount,
        )
    ]
    for charge in item.charges:
        lines.append(
            Line(
                external_id=f"{item.external_id}:{charge.suffix}",
                sku=None,
                name=charge.name,
                quantity=1,
                unit_price=charge.amount,
                discount=charge.discount,
                tax=charge.tax,
                total=charge.amount - charge.discount,
            )
        )
    return lines


def _taxes_included(
    channel_total: Decimal | None, net: Decimal, tax: Decimal, marketplace: Marketplace | None
) -> bool:
    """See ``taxes_included`` in the module docstring."""
    if channel_total is not None and tax:
        if channel_total == net + tax:
            return False
        if channel_total == net:
            return True
    return marketplace.taxes_included if marketplace is not None else False


# --------------------------------------------------------------------------- small readers


def _object(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    """``parent[key]`` when it is an object, ``{}`` when absent or null."""
    value = parent.get(key)
    return {} if value is None else as_object(value, join_path(path, key))


def _opt_text(obj: dict[str, Any], path: str, *keys: str) -> str | None:
    """The trimmed text at ``keys`` under ``obj`` (at ``path``), ``None`` when absent or empty."""
    return opt_str(get_path(obj, *keys), join_path(path, *keys))


def _name(obj: dict[str, Any], path: str, key: str, fallback: str) -> str:
    """The text at ``key``, else at ``fallback`` (the ASIN); both absent is ``{key}: missing``."""
    text = _opt_text(obj, path, key) or _opt_text(obj, path, fallback)
    if text is None:
        raise MappingError(join_path(path, key), "missing")
    return text


def _charge_name(name: str, level: str | None) -> str:
    return f"{name} ({level})" if level else name


def _address(value: Any, path: str, keys: tuple[str, ...]) -> Address | None:
    """An address from the v0 or v2026 key names, in ``_V0_ADDRESS`` order."""
    if value is None:
        return None
    data = as_object(value, path)
    name, company, line1, line2, line3, city, region, postal, country, phone = (
        _opt_text(data, path, key) for key in keys
    )
    address = Address(
        name=name,
        company=company,
        line1=line1,
        line2=", ".join(part for part in (line2, line3) if part) or None,
        city=city,
        region=region,
        postal_code=postal,
        country_code=country_code(country),
        phone=phone,
    )
    return None if address == Address() else address
