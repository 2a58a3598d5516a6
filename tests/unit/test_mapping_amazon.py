"""Amazon SP-API order -> canonical order (``mappings.amazon.map_order``).

Samples in ``tests/fixtures/amazon/`` (``SOURCES.md`` says where the official ones come from):

* ``searchOrders_2026-01-01_doc_example.json`` -- its one order (an element of ``orders``) is
  a v2026 order; the whole response is refused (a list of orders).
* v0 orders need their items (``{"Order", "OrderItems"}``). The ``getOrders_*`` samples hold
  orders without items, and ``getOrderItems_doc_example.json`` holds the items of order
  ``903-1671087-0812628``, which none of the ``getOrders_*`` orders is. So no official order
  and items pair up, and each v0 case is an ``edge_v0_*`` fixture that keeps the official
  order verbatim and adds hand-made items in the official ``OrderItem`` shape:

  * ``edge_v0_pending_doc_example.json`` -- the ``Pending`` order of
    ``getOrders_doc_example.json`` (which carries an address and ``BuyerInfo``, though
    Amazon says Pending orders have none) + one unpriced item of quantity 3;
  * ``edge_v0_pending_sandbox.json`` -- the ``Pending`` order of
    ``getOrders_sandbox_page1_with_NextToken.json`` (no address, no buyer) + an unpriced item;
  * ``edge_v0_sandbox_unshipped_with_address.json`` -- ``getOrders_sandbox.json`` order 1 with
    the ``ShippingAddress`` of ``getOrderAddress_sandbox.json`` (same ``AmazonOrderId``, which
    is how the connector merges them) + an item with item and shipping tax making 11.01;
  * ``edge_v0_sandbox_unshipped_three_units.json`` -- ``getOrders_sandbox.json`` order 2 + one
    item of quantity 3 (``ItemPrice`` 9.00) making its 11.01;
  * ``edge_v0_getOrderItems_doc_example.json`` -- the other way round: the doc example's
    items verbatim (gift wrap, COD fee, a quantity-2 ``ItemPrice`` of 17.95) with a hand-made
    JPY order of their ``AmazonOrderId``; one change: item 0's ``GiftWrapPrice`` is GBP in the
    doc example (in a JPY order) and JPY here -- the verbatim items are refused, see below;

  and hand-made orders in the same shape:

  * ``edge_v0_promotions_afn.json`` -- Shipped, AFN, US: a promotion with its tax, a
    free-shipping promotion with its tax, shipping tax; a PII-less address (city, state,
    postal code, country); ``LastUpdateDate`` with an offset;
  * ``edge_v0_eu_vat_included.json`` -- Amazon.de, EUR, VAT inside the prices (``OrderTotal``
    = items + shipping); a quantity-3 item whose ``ItemPrice`` 10.00 does not divide;
  * ``edge_v0_canceled.json`` -- a ``Canceled`` order as Amazon reports one: no
    ``OrderTotal``, items with ``QuantityOrdered`` 0 and no prices.

* v2026:

  * ``edge_v2026_getOrder_doc_example.json`` -- the ``getOrder`` 200 example of
    ``models/orders-api-model/orders_2026-01-01.json`` (amzn/selling-partner-api-models,
    commit 3677bb9d96f4450e6843f1f8207005e925d5c867), verbatim as the whole response
    ``{"order": ...}``: UK, quantity 3, shipping proceeds, tax detailed into item and shipping;
  * ``edge_v2026_pending.json`` -- hand-made ``PENDING`` order: no proceeds, recipient, buyer
    or prices; Amazon.de (the currency comes from the marketplace);
  * ``edge_v2026_discounts_afn.json`` -- the searchOrders example reworked: fulfilled by
    Amazon, ``PARTIALLY_SHIPPED``, ``DISCOUNT`` proceeds (negative, detailed into item and
    shipping), gift wrap, taxes detailed by subtype, a PII-less address.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from hub.model import Order
from hub.schemas import dump_order
from mappings.amazon import MARKETPLACES, STATUS_TABLE, map_order
from mappings.common import MappingError, unit_price
from tests.contracts import FIXTURES, validate_order

AMAZON = FIXTURES / "amazon"
SEARCH_SAMPLE = "searchOrders_2026-01-01_doc_example.json"
V0_FILES = [
    "edge_v0_pending_doc_example.json",
    "edge_v0_pending_sandbox.json",
    "edge_v0_sandbox_unshipped_with_address.json",
    "edge_v0_sandbox_unshipped_three_units.json",
    "edge_v0_getOrderItems_doc_example.json",
    "edge_v0_promotions_afn.json",
    "edge_v0_eu_vat_included.json",
    "edge_v0_canceled.json",
]
V2026_FILES = [
    "edge_v2026_getOrder_doc_example.json",
    "edge_v2026_pending.json",
    "edge_v2026_discounts_afn.json",
]
NOT_ORDER_FILES = [
    SEARCH_SAMPLE,  # the whole response: a list of orders
    "getOrders_doc_example.json",
    "getOrders_sandbox.json",
    "getOrders_sandbox_page1_with_NextToken.json",
    "getOrderItems_doc_example.json",
    "getOrderAddress_sandbox.json",
    "confirmShipment_400_error_sandbox.json",
    "confirmShipment_request_sandbox.json",
    "order_change_notification.json",
    "json_listings_feed_inventory_example.json",
]
D = Decimal


def load(name: str) -> Any:
    return json.loads((AMAZON / name).read_text())


def search_order() -> dict[str, Any]:
    return load(SEARCH_SAMPLE)["orders"][0]


def bare(name: str) -> dict[str, Any]:
    """The v0 pair, or the v2026 order object, of a sample (a fresh copy)."""
    if name == SEARCH_SAMPLE:
        return search_order()
    doc = load(name)
    return doc.get("order", doc)


ORDER_SAMPLES = [SEARCH_SAMPLE, *V0_FILES, *V2026_FILES]


def document(name: str) -> Any:
    return search_order() if name == SEARCH_SAMPLE else load(name)


def order_id(raw: dict[str, Any]) -> str:
    return raw["Order"]["AmazonOrderId"] if "Order" in raw else raw["orderId"]


def tips(raw: dict[str, Any]) -> Decimal:
    breakdowns = raw.get("proceeds", {}).get("breakdowns", []) if "orderId" in raw else []
    return sum((D(b["subtotal"]["amount"]) for b in breakdowns if b["type"] == "DELIVERY_TIP"), D(0))


# --------------------------------------------------------------------------- the fixture set


def test_the_fixture_lists_are_every_amazon_file() -> None:
    files = {path.name for path in AMAZON.glob("*.json")}
    assert files == set(V0_FILES) | set(V2026_FILES) | set(NOT_ORDER_FILES)


def test_no_official_v0_order_has_official_items() -> None:
    items_of = load("getOrderItems_doc_example.json")["payload"]["AmazonOrderId"]
    official = [
        order["AmazonOrderId"]
        for name in ("getOrders_doc_example.json", "getOrders_sandbox.json")
        for order in load(name)["payload"]["Orders"]
    ]
    assert items_of not in official
    assert load("edge_v0_getOrderItems_doc_example.json")["Order"]["AmazonOrderId"] == items_of


def test_every_official_v0_order_is_paired_verbatim_in_an_edge_fixture() -> None:
    address = load("getOrderAddress_sandbox.json")["payload"]
    edge_orders = [load(name)["Order"] for name in V0_FILES]
    for name in (
        "getOrders_doc_example.json",
        "getOrders_sandbox.json",
        "getOrders_sandbox_page1_with_NextToken.json",
    ):
        for official in load(name)["payload"]["Orders"]:
            expected = copy.deepcopy(official)
            if official["AmazonOrderId"] == address["AmazonOrderId"]:
                expected["ShippingAddress"] = address["ShippingAddress"]  # getOrderAddress merged in
            assert expected in edge_orders, official["AmazonOrderId"]


def test_the_edge_items_are_the_doc_examples_but_for_the_gbp_gift_wrap() -> None:
    official = load("getOrderItems_doc_example.json")["payload"]["OrderItems"]
    edge = load("edge_v0_getOrderItems_doc_example.json")["OrderItems"]
    official[0]["BuyerInfo"]["GiftWrapPrice"]["CurrencyCode"] = "JPY"
    assert edge == official


@pytest.mark.parametrize("name", ORDER_SAMPLES)
def test_every_order_sample_maps_to_a_valid_canonical_order(name: str) -> None:
    order = map_order(document(name))
    assert isinstance(order, Order)
    result = dump_order(order)
    validate_order(result)
    assert result["channel"] == "amazon"
    assert result["external_id"] == result["number"] == order_id(bare(name))
    assert result["billing_address"] is None
    assert result["cancelled_at"] is None
    assert result["totals"]["refunded"] == "0"


@pytest.mark.parametrize("name", NOT_ORDER_FILES)
def test_files_that_are_not_one_order_are_refused(name: str) -> None:
    with pytest.raises(MappingError) as info:
        map_order(load(name))
    assert info.value.path == "order"


@pytest.mark.parametrize("name", ORDER_SAMPLES)
def test_the_samples_add_up(name: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hub.mapping"):
        order = map_order(document(name))
    assert not caplog.records  # no sample has figures that do not add up
    totals = order.totals
    for line in order.lines:
        assert line.total == line.unit_price * line.quantity - line.discount
    assert totals.subtotal == sum((line.unit_price * line.quantity for line in order.lines), D(0))
    assert totals.discount == sum((line.discount for line in order.lines), D(0))
    net = totals.subtotal - totals.discount + totals.shipping + tips(bare(name))
    assert totals.total == (net if order.taxes_included else net + totals.tax)
    assert [line.amount for line in order.shipping_lines] in ([], [totals.shipping])


@pytest.mark.parametrize("name", ORDER_SAMPLES)
def test_the_channel_total_is_kept(name: str) -> None:
    raw = bare(name)
    total = order_total = map_order(document(name)).totals.total
    if "Order" in raw and "OrderTotal" in raw["Order"]:
        order_total = D(raw["Order"]["OrderTotal"]["Amount"])
    elif "proceeds" in raw:
        order_total = D(raw["proceeds"]["grandTotal"]["amount"])
    assert total == order_total


def test_mapping_does_not_touch_its_input() -> None:
    for name in ORDER_SAMPLES:
        doc = document(name)
        before = copy.deepcopy(doc)
        map_order(doc)
        assert doc == before


# --------------------------------------------------------------------------- v2026 sample


def test_search_orders_sample_in_full() -> None:
    result = dump_order(map_order(search_order()))
    assert {k: v for k, v in result.items() if k not in ("lines", "shipping_address")} == {
        "channel": "amazon",
        "external_id": "123-4567890-1234567",
        "number": "123-4567890-1234567",
        "status": "completed",
        "payment_status": "paid",
        "fulfillment_status": "fulfilled",
        "created_at": "2024-12-25T10:30:00Z",
        "updated_at": "2024-12-25T14:45:00Z",
        "cancelled_at": None,
        "currency": "USD",
        "taxes_included": False,
        # grandTotal 154.99 = ITEM 149.97 + TAX 0.02 + DELIVERY_TIP 5.00
        "totals": {
            "subtotal": "149.97",
            "discount": "0",
            "shipping": "0",
            "tax": "0.02",
            "total": "154.99",
            "refunded": "0",
        },
        "customer": {
            "external_id": None,
            "email": "buyer-email@marketplace.amazon.com",
            "name": "John Smith",
            "phone": None,
        },
        "billing_address": None,
        "shipping_lines": [{"code": "STANDARD", "title": None, "amount": "0"}],
        "note": "Enter through main lobby, ask for John Smith at reception",
        "tags": ["marketplace:ATVPDKIKX0DER", "fulfillment:MFN"],
    }
    assert result["lines"] == [
        {
            "external_id": "12345678901234",
            "sku": "ECHO-DOT-4-CHARCOAL",
            "name": "Echo Dot (4th Gen) | Smart speaker with Alexa | Charcoal",
            "quantity": 2,
            "unit_price": "49.99",
            "discount": "0",
            "tax": "0.02",
            "total": "99.98",
        },
        {
            "external_id": "12345678901235",
            "sku": "FIRE-TV-4K-2021",
            "name": "Fire TV Stick 4K with Alexa Voice Remote",
            "quantity": 1,
            "unit_price": "49.99",
            "discount": "0",
            "tax": "0",
            "total": "49.99",
        },
    ]
    assert result["shipping_address"] == {
        "name": "John Smith",
        "company": "Smith Industries LLC",
        "line1": "123 Main Street",
        "line2": "Suite 456",  # addressLine3 "" dropped
        "city": "Seattle",
        "region": "WA",
        "postal_code": "98101",
        "country_code": "US",
        "phone": "555-123-4567",
    }


def test_get_order_response_and_its_order_map_the_same() -> None:
    wrapped = load("edge_v2026_getOrder_doc_example.json")
    assert set(wrapped) == {"order"}
    assert map_order(wrapped) == map_order(wrapped["order"])


def test_v2026_unit_price_is_the_unit_price() -> None:
    order = map_order(load("edge_v2026_getOrder_doc_example.json"))
    (line,) = order.lines
    assert (line.quantity, line.unit_price, line.total) == (3, D("29.99"), D("89.97"))


def test_v2026_item_proceeds_that_disagree_with_the_unit_price_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = search_order()
    raw["orderItems"][1]["product"]["price"]["unitPrice"]["amount"] = "45.00"
    with caplog.at_level(logging.WARNING, logger="hub.mapping"):
        order = map_order(raw)
    assert order.lines[1].unit_price == D("45.00")
    assert "orderItems[1]: ITEM proceeds 49.99 differ from unit price 45.00 x 1" in caplog.text


def test_v2026_without_unit_price_divides_the_item_proceeds() -> None:
    raw = search_order()
    del raw["orderItems"][0]["product"]["price"]
    assert map_order(raw).lines[0].unit_price == D("49.99")  # ITEM 99.98 / 2


def test_v2026_delivery_tip_is_in_the_computed_total() -> None:
    raw = search_order()
    del raw["proceeds"]["grandTotal"]
    assert map_order(raw).totals.total == D("154.99")


def test_v2026_unknown_proceeds_type_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    raw = search_order()
    breakdowns = raw["orderItems"][1]["proceeds"]["breakdowns"]
    breakdowns.append({"type": "SURPRISE", "subtotal": {"amount": "1.00", "currencyCode": "USD"}})
    with caplog.at_level(logging.WARNING, logger="hub.mapping"):
        order = map_order(raw)
    assert order.totals.subtotal == D("149.97")
    assert "orderItems[1].proceeds.breakdowns[1]: proceeds type 'SURPRISE' ignored" in caplog.text


# --------------------------------------------------------------------------- v0 prices


def test_v0_unit_price_is_item_price_over_quantity() -> None:
    raw = load("edge_v0_sandbox_unshipped_three_units.json")
    (item,) = raw["OrderItems"]
    assert item["QuantityOrdered"] == 3
    (line,) = map_order(raw).lines
    assert line.quantity == 3
    assert line.unit_price == D(item["ItemPrice"]["Amount"]) / 3 == D("3.00")
    assert line.unit_price * line.quantity == D(item["ItemPrice"]["Amount"])
    assert line.total == D("9.00")


def test_v0_unit_price_is_exact_when_it_divides() -> None:
    order = map_order(load("edge_v0_getOrderItems_doc_example.json"))
    line = next(line for line in order.lines if line.external_id == "79039765272157")
    assert (line.quantity, line.unit_price, line.discount, line.total) == (2, D("8.975"), 0, D("17.95"))


def test_v0_unit_price_that_does_not_divide(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="hub.mapping"):
        order = map_order(load("edge_v0_eu_vat_included.json"))
    line = order.lines[1]
    assert (line.quantity, line.unit_price, line.discount, line.total) == (
        3,
        D("3.3334"),
        D("0.0002"),
        D("10"),
    )
    assert "OrderItems[1]: 10.00 / 3 does not divide; unit price 3.3334, 0.0002 added" in caplog.text
    # the excess is in both subtotal and discount: the order still adds up to OrderTotal
    assert order.totals.subtotal - order.totals.discount == D("49.98")


def test_v0_price_that_does_not_divide_keeps_the_promotion() -> None:
    raw = load("edge_v0_sandbox_unshipped_three_units.json")
    raw["OrderItems"][0]["ItemPrice"]["Amount"] = "10.00"
    raw["OrderItems"][0]["PromotionDiscount"] = {"CurrencyCode": "USD", "Amount": "1.00"}
    (line,) = map_order(raw).lines
    assert (line.unit_price, line.discount, line.total) == (D("3.3334"), D("1.0002"), D("9.00"))


@pytest.mark.parametrize(
    ("amount", "quantity", "expected"),
    [("9.00", 3, "3.00"), ("17.95", 2, "8.975"), ("10.00", 3, "3.3334"), ("10", 3, "3.34"), ("0", 4, "0")],
)
def test_unit_price_helper(amount: str, quantity: int, expected: str) -> None:
    result = unit_price(D(amount), quantity)
    assert result == D(expected) and str(result) == expected
    assert result * quantity >= D(amount)


def test_unit_price_helper_needs_a_quantity() -> None:
    with pytest.raises(ValueError):
        unit_price(D("1.00"), 0)


# --------------------------------------------------------------------------- statuses


def v0_with_status(status: str) -> dict[str, Any]:
    raw = load("edge_v0_sandbox_unshipped_with_address.json")
    raw["Order"]["OrderStatus"] = status
    return raw


def v2026_with_status(status: str) -> dict[str, Any]:
    raw = search_order()
    raw["fulfillment"]["fulfillmentStatus"] = status
    return raw


CONTRACT_ROWS = [
    ("Pending", "PENDING", ("open", "pending", "unfulfilled")),
    ("Unshipped", "UNSHIPPED", ("open", "paid", "unfulfilled")),
    ("PartiallyShipped", "PARTIALLY_SHIPPED", ("open", "paid", "partially_fulfilled")),
    ("Shipped", "SHIPPED", ("completed", "paid", "fulfilled")),
    ("Canceled", "CANCELLED", ("cancelled", None, "unfulfilled")),  # payment: the mapping's choice
]
OWN_ROWS = [
    ("PendingAvailability", "PENDING_AVAILABILITY", ("open", "pending", "unfulfilled")),
    ("InvoiceUnconfirmed", None, ("completed", "paid", "fulfilled")),
    ("Canceled", "CANCELLED", ("cancelled", "voided", "unfulfilled")),
    ("Unfulfillable", "UNFULFILLABLE", ("cancelled", "voided", "unfulfilled")),
]


def triple(order: Order) -> tuple[str, str, str]:
    return (order.status, order.payment_status, order.fulfillment_status)


def matches(order: Order, expected: tuple[str | None, ...]) -> bool:
    return all(want is None or got == want for got, want in zip(triple(order), expected, strict=True))


@pytest.mark.parametrize(("v0", "v2026", "expected"), CONTRACT_ROWS)
def test_contract_status_rows_v0(v0: str, v2026: str, expected: tuple[str | None, ...]) -> None:
    assert matches(map_order(v0_with_status(v0)), expected)


@pytest.mark.parametrize(("v0", "v2026", "expected"), CONTRACT_ROWS)
def test_contract_status_rows_v2026(v0: str, v2026: str, expected: tuple[str | None, ...]) -> None:
    assert matches(map_order(v2026_with_status(v2026)), expected)


@pytest.mark.parametrize(("v0", "v2026", "expected"), OWN_ROWS)
def test_the_modules_own_status_rows(v0: str, v2026: str | None, expected: tuple[str, ...]) -> None:
    assert triple(map_order(v0_with_status(v0))) == expected
    if v2026 is not None:
        assert triple(map_order(v2026_with_status(v2026))) == expected


@pytest.mark.parametrize("spelling", ["shipped", "SHIPPED", " Shipped ", "Partially_Shipped", "CANCELED"])
def test_statuses_compare_without_case_or_underscores(spelling: str) -> None:
    expected = STATUS_TABLE[spelling.strip().replace("_", "").lower()]
    order = map_order(v0_with_status(spelling))
    assert triple(order) == (expected.status, expected.payment, expected.fulfillment)


def test_an_unknown_status_is_pending_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hub.mapping"):
        order = map_order(v2026_with_status("ON_THE_MOON"))
    assert triple(order) == ("open", "pending", "unfulfilled")
    assert "unknown status 'ON_THE_MOON'" in caplog.text


@pytest.mark.parametrize(("value", "message"), [(None, "missing"), ("", "missing"), (3, "not a string")])
def test_a_missing_status_is_an_error(value: Any, message: str) -> None:
    with pytest.raises(MappingError, match=f"^Order.OrderStatus: {message}$"):
        map_order(v0_with_status(value))
    with pytest.raises(MappingError, match=f"^fulfillment.fulfillmentStatus: {message}$"):
        map_order(v2026_with_status(value))


def test_v2026_without_fulfillment_data_is_an_error() -> None:
    raw = search_order()
    del raw["fulfillment"]
    with pytest.raises(MappingError, match=r"^fulfillment.fulfillmentStatus: missing$"):
        map_order(raw)


# --------------------------------------------------------------------------- pending and cancelled


def test_v0_pending_without_prices_or_address_maps() -> None:
    raw = load("edge_v0_pending_sandbox.json")
    assert "OrderTotal" not in raw["Order"] and "ShippingAddress" not in raw["Order"]
    assert "ItemPrice" not in raw["OrderItems"][0]
    order = map_order(raw)
    assert triple(order) == ("open", "pending", "unfulfilled")
    assert order.currency == "USD"  # no amount anywhere: the marketplace's currency
    assert order.shipping_address is None
    assert [(line.quantity, line.unit_price, line.total) for line in order.lines] == [(2, 0, 0)]
    assert order.totals.subtotal == order.totals.tax == order.totals.shipping == order.totals.total == 0


def test_v0_pending_doc_example_keeps_what_it_carries() -> None:
    order = map_order(load("edge_v0_pending_doc_example.json"))
    assert order.totals.total == 0 and order.lines[0].unit_price == 0 and order.lines[0].quantity == 3
    assert order.shipping_address is not None and order.shipping_address.city == "Canton"
    assert (order.customer.email, order.customer.name) == ("user@example.com", "John Doe")


def test_v2026_pending_without_prices_or_address_maps() -> None:
    order = map_order(load("edge_v2026_pending.json"))
    assert triple(order) == ("open", "pending", "unfulfilled")
    assert order.currency == "EUR"  # Amazon.de
    assert order.taxes_included is True  # VAT marketplace, nothing to tell otherwise
    assert order.shipping_address is None and order.customer.email is None
    assert [(line.quantity, line.unit_price) for line in order.lines] == [(3, 0)]
    assert order.totals.total == 0


def test_pending_without_amounts_from_an_unknown_marketplace_is_an_error() -> None:
    raw = load("edge_v0_pending_sandbox.json")
    raw["Order"]["MarketplaceId"] = "A0NOTAMARKET"
    with pytest.raises(
        MappingError, match=r"^Order.MarketplaceId: unknown, and no amount states the currency$"
    ):
        map_order(raw)
    del raw["Order"]["MarketplaceId"]
    with pytest.raises(MappingError, match=r"^Order.MarketplaceId: missing, and no amount"):
        map_order(raw)


def test_a_cancelled_order_whose_items_have_no_quantity_keeps_them(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="hub.mapping"):
        order = map_order(load("edge_v0_canceled.json"))
    assert triple(order) == ("cancelled", "voided", "unfulfilled")
    assert [(line.external_id, line.quantity, line.unit_price) for line in order.lines] == [
        ("41225376271219", 1, 0)
    ]
    assert order.totals.total == 0
    assert "every item has quantity 0" in caplog.text


def test_an_item_without_quantity_is_skipped_when_others_have_one() -> None:
    raw = load("edge_v0_promotions_afn.json")
    raw["OrderItems"][1]["QuantityOrdered"] = 0
    order = map_order(raw)
    assert [line.external_id for line in order.lines] == ["13918224703811"]
    assert order.totals.shipping == 0  # the skipped item's shipping went with it


def test_an_open_order_without_any_quantity_is_an_error() -> None:
    raw = load("edge_v0_canceled.json")
    raw["Order"]["OrderStatus"] = "Unshipped"
    with pytest.raises(MappingError, match=r"^OrderItems: no item has a quantity ordered$"):
        map_order(raw)


# --------------------------------------------------------------------------- discounts, shipping, tax


def test_v0_promotions_are_discounts_and_shipping_discounts_lower_shipping() -> None:
    order = map_order(load("edge_v0_promotions_afn.json"))
    tee, socks = order.lines
    assert (tee.unit_price, tee.discount, tee.total) == (D("20.00"), D("5.00"), D("35.00"))
    assert tee.tax == D("2.80")  # ItemTax 3.20 - PromotionDiscountTax 0.40
    assert socks.discount == 0
    assert order.totals.discount == D("5.00")  # the 6.00 shipping discount is not in it
    assert order.totals.shipping == D("3.99")  # 6.00 - 6.00 + 3.99
    assert order.totals.tax == D("4.40")  # 2.80 + 1.28 + (0.48 - 0.48) + 0.32
    assert order.totals.total == D("59.38")
    assert order.shipping_lines[0].amount == D("3.99")


def test_v0_shipping_tax_goes_to_totals_not_lines() -> None:
    order = map_order(load("edge_v0_sandbox_unshipped_with_address.json"))
    (line,) = order.lines
    assert line.tax == D("0.76")
    assert order.totals.tax == D("0.81")  # + ShippingTax 0.05
    assert order.totals.shipping == D("0.70")


def test_v2026_shipping_tax_goes_to_totals_not_lines() -> None:
    order = map_order(load("edge_v2026_getOrder_doc_example.json"))
    (line,) = order.lines
    assert line.tax == D("3.00")  # TAX detailed: ITEM 3.00, SHIPPING 1.00
    assert (order.totals.tax, order.totals.shipping) == (D("4.00"), D("10.00"))


def test_v2026_discounts_charges_and_detailed_taxes() -> None:
    order = map_order(load("edge_v2026_discounts_afn.json"))
    echo, wrap, stick = order.lines
    assert (echo.unit_price, echo.quantity, echo.discount, echo.total) == (
        D("25.00"),
        2,
        D("5.00"),
        D("45.00"),
    )
    assert echo.tax == D("3.60")  # ITEM 4.00 + DISCOUNT -0.40
    assert (wrap.external_id, wrap.name, wrap.sku) == (
        "12345678901234:gift-wrap",
        "Gift wrap (PREMIUM)",
        None,
    )
    assert (wrap.unit_price, wrap.tax, wrap.total) == (D("3.99"), D("0.32"), D("3.99"))
    assert (stick.unit_price, stick.tax) == (D("19.99"), D("1.60"))  # TAX without details
    assert order.totals.discount == D("5.00")  # the -7.00 SHIPPING part lowers shipping
    assert order.totals.shipping == D("0.00")  # SHIPPING 7.00 - 7.00
    assert order.totals.tax == D("5.52")
    assert order.totals.total == D("74.50")


def test_v2026_discount_sign_does_not_matter() -> None:
    raw = load("edge_v2026_discounts_afn.json")
    for breakdown in raw["orderItems"][0]["proceeds"]["breakdowns"]:
        if breakdown["type"] == "DISCOUNT":
            breakdown["subtotal"]["amount"] = "12.00"
            for detail in breakdown["detailedBreakdowns"]:
                detail["value"]["amount"] = detail["value"]["amount"].lstrip("-")
    assert map_order(raw) == map_order(load("edge_v2026_discounts_afn.json"))


def test_v0_gift_wrap_and_cod_fee_are_lines_of_their_own() -> None:
    order = map_order(load("edge_v0_getOrderItems_doc_example.json"))
    assert [(line.external_id, line.name, line.unit_price, line.discount) for line in order.lines] == [
        ("68828574383266", "Example item name", D("25.99"), 0),
        ("68828574383266:gift-wrap", "Gift wrap (Classic)", D("41.99"), 0),
        ("68828574383266:cod-fee", "Cash on delivery fee", D("10.00"), D("1.00")),
        ("79039765272157", "Example item name", D("8.975"), 0),
        ("79039765272157:gift-wrap", "Gift wrap (Classic)", D("1.99"), 0),
    ]
    assert order.totals.shipping == D("1.26")
    assert order.totals.total == D("98.18")
    assert triple(order) == ("open", "paid", "partially_fulfilled")


def test_a_channel_total_that_does_not_add_up_is_kept_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    raw = load("edge_v0_promotions_afn.json")
    raw["Order"]["OrderTotal"]["Amount"] = "60.00"
    with caplog.at_level(logging.WARNING, logger="hub.mapping"):
        order = map_order(raw)
    assert order.totals.total == D("60.00")
    assert "= 59.38 but the order total is 60.00 (difference 0.62)" in caplog.text


# --------------------------------------------------------------------------- taxes included


def test_vat_inside_the_prices_is_taxes_included() -> None:
    order = map_order(load("edge_v0_eu_vat_included.json"))
    assert order.taxes_included is True
    assert order.totals.tax == D("8.78")  # 6.38 + 1.60 + shipping 0.80, all inside the prices
    assert order.totals.subtotal - order.totals.discount + order.totals.shipping == order.totals.total


def test_the_total_decides_over_the_marketplace() -> None:
    # A UK order (VAT marketplace) whose total adds its tax on top: taxes not included.
    assert map_order(load("edge_v2026_getOrder_doc_example.json")).taxes_included is False
    # A US order whose total has the tax inside: included.
    raw = load("edge_v0_sandbox_unshipped_with_address.json")
    raw["Order"]["OrderTotal"]["Amount"] = "10.20"
    assert map_order(raw).taxes_included is True


@pytest.mark.parametrize(
    ("marketplace", "expected"), [("ATVPDKIKX0DER", False), ("A1PA6795UKMFR9", True), ("A0UNKNOWN", False)]
)
def test_without_tax_the_marketplace_decides(marketplace: str, expected: bool) -> None:
    raw = load("edge_v0_sandbox_unshipped_three_units.json")
    raw["Order"]["MarketplaceId"] = marketplace
    raw["OrderItems"][0]["ItemTax"]["Amount"] = "0.00"
    raw["Order"]["OrderTotal"]["Amount"] = "10.29"
    assert map_order(raw).taxes_included is expected


def test_marketplace_table() -> None:
    assert MARKETPLACES["ATVPDKIKX0DER"].currency == "USD"
    assert MARKETPLACES["A1F83G8C2ARO7P"].country == "GB"
    assert {m.currency for m in MARKETPLACES.values()} >= {"EUR", "JPY", "GBP", "CAD"}
    assert len(MARKETPLACES) == 23


# --------------------------------------------------------------------------- currency


def test_v0_items_in_another_currency_are_refused() -> None:
    raw = load("edge_v0_getOrderItems_doc_example.json")
    raw["OrderItems"] = load("getOrderItems_doc_example.json")["payload"]["OrderItems"]  # verbatim: GBP wrap
    with pytest.raises(MappingError) as info:
        map_order(raw)
    assert (
        str(info.value)
        == "OrderItems[0].BuyerInfo.GiftWrapPrice.CurrencyCode: GBP, but the order's amounts are in JPY"
    )


def test_v2026_amounts_in_another_currency_are_refused() -> None:
    raw = search_order()
    raw["orderItems"][1]["product"]["price"]["unitPrice"]["currencyCode"] = "eur"
    with pytest.raises(
        MappingError, match=r"^orderItems\[1\]\.product\.price\.unitPrice\.currencyCode: EUR, but"
    ):
        map_order(raw)


def test_currency_comes_from_the_items_without_an_order_total() -> None:
    raw = load("edge_v0_eu_vat_included.json")
    del raw["Order"]["OrderTotal"]
    assert map_order(raw).totals.total == D("54.97")  # computed, VAT inside (Amazon.de)
    raw["Order"]["MarketplaceId"] = "ATVPDKIKX0DER"
    order = map_order(raw)
    assert order.currency == "EUR"  # the amounts say EUR, whatever the marketplace
    # no channel total to tell: the marketplace (US) decides that tax comes on top
    assert (order.taxes_included, order.totals.total) == (False, D("63.75"))


# --------------------------------------------------------------------------- tags, parties, times


@pytest.mark.parametrize(
    ("name", "tags"),
    [
        ("edge_v0_promotions_afn.json", ["marketplace:ATVPDKIKX0DER", "fulfillment:AFN"]),
        ("edge_v0_eu_vat_included.json", ["marketplace:A1PA6795UKMFR9", "fulfillment:MFN"]),
        ("edge_v2026_discounts_afn.json", ["marketplace:ATVPDKIKX0DER", "fulfillment:AFN"]),
        ("edge_v2026_getOrder_doc_example.json", ["marketplace:A1F83G8C2ARO7P", "fulfillment:MFN"]),
    ],
)
def test_marketplace_and_fulfilment_channel_are_tags(name: str, tags: list[str]) -> None:
    assert map_order(load(name)).tags == tags


def test_tags_are_only_what_is_present() -> None:
    raw = load("edge_v0_promotions_afn.json")
    del raw["Order"]["FulfillmentChannel"]
    assert map_order(raw).tags == ["marketplace:ATVPDKIKX0DER"]
    raw2026 = search_order()
    raw2026["fulfillment"]["fulfilledBy"] = "PARTNER"
    del raw2026["salesChannel"]["marketplaceId"]
    assert map_order(raw2026).tags == ["fulfillment:PARTNER"]


@pytest.mark.parametrize("name", ["edge_v0_promotions_afn.json", "edge_v2026_discounts_afn.json"])
def test_address_without_pii(name: str) -> None:
    result = dump_order(map_order(load(name)))
    address = result["shipping_address"]
    assert {k: v for k, v in address.items() if v is not None}.keys() == {
        "city",
        "region",
        "postal_code",
        "country_code",
    }
    assert address["country_code"] == "US"
    assert result["customer"]["name"] is None and result["customer"]["email"].endswith(
        "@marketplace.amazon.com"
    )


def test_address_from_get_order_address() -> None:
    order = map_order(load("edge_v0_sandbox_unshipped_with_address.json"))
    address = order.shipping_address
    assert address is not None
    assert (address.name, address.line1, address.city, address.region) == (
        "MFNIntegrationTestMerchant",
        "2201 WESTLAKE AVE",
        "SEATTLE",
        "WA",
    )
    assert (address.postal_code, address.country_code, address.phone) == (
        "98121-2778",
        "US",
        "+1 480-386-0930 ext. 73824",
    )


def test_empty_address_strings_become_null_and_lines_join() -> None:
    raw = load("edge_v0_eu_vat_included.json")
    raw["Order"]["ShippingAddress"].update(AddressLine2="Hinterhaus", AddressLine3="3. OG")
    address = map_order(raw).shipping_address
    assert address is not None
    assert (address.line2, address.region, address.phone) == ("Hinterhaus, 3. OG", None, None)
    raw["Order"]["ShippingAddress"] = {"City": "", "CountryCode": " "}
    assert map_order(raw).shipping_address is None


def test_buyer_info_at_the_top_of_an_older_v0_order() -> None:
    raw = load("edge_v0_pending_sandbox.json")
    raw["Order"].update(BuyerEmail="x@marketplace.amazon.com", BuyerName="Ann Buyer")
    customer = map_order(raw).customer
    assert (customer.email, customer.name, customer.external_id) == (
        "x@marketplace.amazon.com",
        "Ann Buyer",
        None,
    )


def test_times_are_utc() -> None:
    v0 = map_order(load("edge_v0_promotions_afn.json"))
    assert v0.created_at == datetime(2025, 11, 28, 23, 41, 9, tzinfo=UTC)
    assert dump_order(v0)["updated_at"] == "2025-12-01T16:02:51Z"  # 08:02:51 at -08:00
    v2026 = map_order(load("edge_v2026_discounts_afn.json"))
    assert dump_order(v2026)["created_at"] == "2025-11-28T23:00:00Z"  # 15:00 at -08:00


# --------------------------------------------------------------------------- shapes and errors


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "a JSON array"),
        ("order", "not a JSON object"),
        ({"orders": []}, "a searchOrders response"),
        ({"payload": {"Orders": []}}, "a v0 response envelope"),
        ({"AmazonOrderId": "902-3159896-1390916"}, "a v0 Order without its items"),
        ({}, "not an Amazon order"),
    ],
)
def test_documents_that_are_not_one_order(doc: Any, message: str) -> None:
    with pytest.raises(MappingError) as info:
        map_order(doc)
    assert info.value.path == "order"
    assert info.value.message.startswith(message)


def test_a_bare_v0_order_from_the_samples_is_refused() -> None:
    with pytest.raises(MappingError, match=r"^order: a v0 Order without its items"):
        map_order(load("getOrders_sandbox.json")["payload"]["Orders"][0])


def v0_sample() -> dict[str, Any]:
    return load("edge_v0_promotions_afn.json")


def v0_set(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    raw = v0_sample()
    target = raw
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (("OrderItems", 0, "QuantityOrdered"), "two", "OrderItems[0].QuantityOrdered: not an integer"),
        (("OrderItems", 0, "QuantityOrdered"), 1.5, "OrderItems[0].QuantityOrdered: not an integer"),
        (("OrderItems", 1, "QuantityOrdered"), -1, "OrderItems[1].QuantityOrdered: must be at least 0"),
        (("OrderItems", 1, "QuantityOrdered"), KeyError, "OrderItems[1].QuantityOrdered: missing"),
        (("OrderItems", 0, "ItemPrice", "Amount"), "12,00", "OrderItems[0].ItemPrice.Amount: not a decimal"),
        (("OrderItems", 0, "ItemTax"), "3.20", "OrderItems[0].ItemTax: not a JSON object"),
        (
            ("OrderItems", 0, "ItemPrice", "CurrencyCode"),
            "dollars",
            "OrderItems[0].ItemPrice.CurrencyCode: not",
        ),
        (("OrderItems", 0, "OrderItemId"), KeyError, "OrderItems[0].OrderItemId: missing"),
        (("OrderItems", 0, "OrderItemId"), {"id": 1}, "OrderItems[0].OrderItemId: not an id"),
        (("OrderItems", 0), [], "OrderItems[0]: not a JSON object"),
        (("OrderItems",), [], "OrderItems: no items"),
        (("OrderItems",), KeyError, "OrderItems: missing"),
        (("OrderItems",), {}, "OrderItems: not a JSON array"),
        (("Order",), KeyError, "Order: missing"),
        (("Order",), [], "Order: not a JSON object"),
        (("Order", "AmazonOrderId"), KeyError, "Order.AmazonOrderId: missing"),
        (("Order", "PurchaseDate"), KeyError, "Order.PurchaseDate: missing"),
        (("Order", "LastUpdateDate"), "2025-12-01 08:02:51", "Order.LastUpdateDate: no UTC offset"),
        (("Order", "OrderTotal", "Amount"), "n/a", "Order.OrderTotal.Amount: not a decimal amount"),
        (("Order", "ShippingAddress"), "Canton, MI", "Order.ShippingAddress: not a JSON object"),
        (("Order", "BuyerInfo"), "someone", "Order.BuyerInfo: not a JSON object"),
    ],
)
def test_v0_error_paths(path: tuple[Any, ...], value: Any, error: str) -> None:
    with pytest.raises(MappingError) as info:
        map_order(v0_set(path, value))
    assert str(info.value).startswith(error)


def test_v0_item_without_title_is_named_by_its_asin() -> None:
    raw = v0_sample()
    del raw["OrderItems"][0]["Title"]
    assert map_order(raw).lines[0].name == "B0C1H26C46"
    del raw["OrderItems"][0]["ASIN"]
    with pytest.raises(MappingError, match=r"^OrderItems\[0\]\.Title: missing$"):
        map_order(raw)


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (
            lambda o: o["orderItems"][0].update(quantityOrdered="2x"),
            "orderItems[0].quantityOrdered: not an integer",
        ),
        (lambda o: o.pop("orderItems"), "orderItems: missing"),
        (lambda o: o.update(orderItems=[]), "orderItems: no items"),
        (lambda o: o.pop("createdTime"), "createdTime: missing"),
        (lambda o: o.update(orderId=""), "orderId: missing"),
        (lambda o: o.update(fulfillment=[]), "fulfillment: not a JSON object"),
        (lambda o: o["orderItems"][1].pop("product"), "orderItems[1].product.title: missing"),
        (
            lambda o: o["orderItems"][0]["proceeds"]["breakdowns"][0]["subtotal"].update(amount="lots"),
            "orderItems[0].proceeds.breakdowns[0].subtotal.amount: not a decimal amount",
        ),
        (
            lambda o: o["orderItems"][0]["proceeds"]["breakdowns"][1].update(detailedBreakdowns={}),
            "orderItems[0].proceeds.breakdowns[1].detailedBreakdowns: not a JSON array",
        ),
        (
            lambda o: o["proceeds"]["grandTotal"].update(currencyCode="CAD"),
            "proceeds.breakdowns[2].subtotal.currencyCode: USD, but the order's amounts are in CAD",
        ),
    ],
)
def test_v2026_error_paths(mutate: Any, error: str) -> None:
    raw = search_order()
    mutate(raw)
    with pytest.raises(MappingError) as info:
        map_order(raw)
    assert str(info.value).startswith(error)


def test_errors_survive_pickling() -> None:
    import pickle

    with pytest.raises(MappingError) as info:
        map_order(v0_set(("OrderItems", 0, "QuantityOrdered"), "two"))
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.path, again.message) == ("OrderItems[0].QuantityOrdered", "not an integer")
