"""Shopify order -> canonical order (``mappings.shopify.map_order``).

Fixtures in ``tests/fixtures/shopify/``:

* ``order.json`` -- the official sample (``GET /orders/450789469.json``, wrapped).
* ``order_cancel_response.json`` -- the same order as returned by ``POST .../cancel.json``:
  ``{"order": {...}, "notice": ...}``, ``cancelled_at`` set.
* ``edge_presentment_currency.json`` (bare) -- shop currency USD, customer paid CAD; every
  ``*_set.presentment_money`` differs from the plain USD fields; a shipping charge; times on
  both sides of a DST switch.
* ``edge_shipping_discount.json`` (wrapped) -- a free-shipping automatic discount on top of
  the sample's TENOFF code (``total_discounts`` 20.00 = 10.00 items + 10.00 shipping);
  two refunds with successful, failed and pending refund transactions; archived
  (``closed_at``) and fulfilled.
* ``edge_empty_strings.json`` (bare) -- a guest checkout (``customer`` null) in EUR with VAT
  included, empty strings everywhere, a billing address with only a country *name*, an
  all-empty shipping address, line items without ``name``.

The other files are not orders (fulfillments, inventory, refunds, webhooks) and are refused.
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
from mappings.common import MappingError
from mappings.shopify import map_order
from tests.contracts import FIXTURES, validate_order

SHOPIFY = FIXTURES / "shopify"
ORDER_FILES = [
    "order.json",
    "order_cancel_response.json",
    "edge_empty_strings.json",
    "edge_presentment_currency.json",
    "edge_shipping_discount.json",
]
NOT_ORDER_FILES = [
    "fulfillment_create_with_tracking.json",
    "fulfillment_orders_for_order.json",
    "fulfillment_update_tracking.json",
    "inventory_levels_list.json",
    "inventory_levels_set.json",
    "refund_create.json",
    "webhook_subscription_create.json",
]


def load(name: str) -> Any:
    return json.loads((SHOPIFY / name).read_text())


def bare(name: str) -> dict[str, Any]:
    """The order object of a fixture, whichever form the file has (a fresh copy)."""
    doc = load(name)
    return doc.get("order", doc)


def sample() -> dict[str, Any]:
    return bare("order.json")


def is_order_document(doc: Any) -> bool:
    order = doc.get("order", doc) if isinstance(doc, dict) else None
    return isinstance(order, dict) and "id" in order and "line_items" in order


def paid_in_presentment(order: dict[str, Any]) -> bool:
    return order.get("presentment_currency", order["currency"]) != order["currency"]


def channel_amount(obj: dict[str, Any], key: str, presentment: bool) -> Decimal:
    """An amount as the sample states it, in the currency the customer paid in."""
    if presentment:
        return Decimal(obj[f"{key}_set"]["presentment_money"]["amount"])
    if key in obj:
        return Decimal(obj[key])
    return Decimal(obj[f"{key}_set"]["shop_money"]["amount"])


# --------------------------------------------------------------------------- the fixture set


def test_the_fixture_list_is_every_shopify_file() -> None:
    files = {path.name for path in SHOPIFY.glob("*.json")}
    assert files == set(ORDER_FILES) | set(NOT_ORDER_FILES)
    assert {name for name in files if is_order_document(load(name))} == set(ORDER_FILES)


@pytest.mark.parametrize("name", ORDER_FILES)
def test_every_order_sample_maps_to_a_valid_canonical_order(name: str) -> None:
    order = map_order(load(name))
    assert isinstance(order, Order)
    document = dump_order(order)
    validate_order(document)
    assert document["channel"] == "shopify"
    assert document["external_id"] == str(bare(name)["id"])
    assert document["number"] == bare(name)["name"]


@pytest.mark.parametrize("name", NOT_ORDER_FILES)
def test_files_that_are_not_orders_are_refused(name: str) -> None:
    with pytest.raises(MappingError) as info:
        map_order(load(name))
    assert info.value.path in ("id", "order")


@pytest.mark.parametrize("name", ORDER_FILES)
def test_the_samples_own_totals_hold(name: str) -> None:
    raw = bare(name)
    presentment = paid_in_presentment(raw)
    totals = map_order(load(name)).totals
    shipping_prices = sum(
        (channel_amount(line, "price", presentment) for line in raw["shipping_lines"]), Decimal(0)
    )
    shipping_discount = shipping_prices - totals.shipping

    assert totals.total == channel_amount(raw, "total_price", presentment)
    assert totals.tax == channel_amount(raw, "total_tax", presentment)
    assert totals.subtotal == channel_amount(raw, "total_line_items_price", presentment)
    # Shopify's total_discounts counts shipping discounts too; the canonical discount does not.
    assert totals.discount == channel_amount(raw, "total_discounts", presentment) - shipping_discount
    # total_shipping_price_set is the shipping price before shipping discounts.
    assert shipping_prices == channel_amount(raw, "total_shipping_price", presentment)
    if raw["taxes_included"]:
        assert totals.subtotal - totals.discount + totals.shipping == totals.total
    else:
        assert totals.subtotal - totals.discount + totals.shipping + totals.tax == totals.total


@pytest.mark.parametrize("name", ORDER_FILES)
def test_lines_follow_the_contract(name: str) -> None:
    order = map_order(load(name))
    for raw_line, line in zip(bare(name)["line_items"], order.lines, strict=True):
        assert line.external_id == str(raw_line["id"])
        assert line.quantity == raw_line["quantity"]
        assert line.total == line.unit_price * line.quantity - line.discount
    assert order.totals.subtotal == sum((line.unit_price * line.quantity for line in order.lines), Decimal(0))
    assert order.totals.discount == sum((line.discount for line in order.lines), Decimal(0))
    # Every tax of these samples is on a line or on a shipping line.
    raw = bare(name)
    shipping_tax = sum(
        (
            channel_amount(tax_line, "price", paid_in_presentment(raw))
            for shipping_line in raw["shipping_lines"]
            for tax_line in shipping_line["tax_lines"]
        ),
        Decimal(0),
    )
    assert order.totals.tax == sum((line.tax for line in order.lines), Decimal(0)) + shipping_tax


def test_mapping_does_not_touch_its_input() -> None:
    for name in ORDER_FILES:
        doc = load(name)
        before = copy.deepcopy(doc)
        map_order(doc)
        assert doc == before


# --------------------------------------------------------------------------- the official sample


def test_sample_order_in_full() -> None:
    document = dump_order(map_order(load("order.json")))
    assert {
        k: document[k]
        for k in (
            "channel",
            "external_id",
            "number",
            "status",
            "payment_status",
            "fulfillment_status",
            "created_at",
            "updated_at",
            "cancelled_at",
            "currency",
            "taxes_included",
            "note",
            "tags",
        )
    } == {
        "channel": "shopify",
        "external_id": "450789469",
        "number": "#1001",
        "status": "open",
        "payment_status": "partially_refunded",
        "fulfillment_status": "unfulfilled",
        "created_at": "2008-01-10T16:00:00Z",
        "updated_at": "2008-01-10T16:00:00Z",
        "cancelled_at": None,
        "currency": "USD",
        "taxes_included": False,
        "note": None,
        "tags": [],
    }
    assert document["totals"] == {
        "subtotal": "597.00",
        "discount": "10.00",
        "shipping": "0.00",
        "tax": "11.94",
        "total": "598.94",
        "refunded": "209.00",
    }
    assert document["lines"][0] == {
        "external_id": "466157049",
        "sku": "IPOD2008GREEN",
        "name": "IPod Nano - 8gb - green",
        "quantity": 1,
        "unit_price": "199.00",
        "discount": "3.34",
        "tax": "3.98",
        "total": "195.66",
    }
    assert [line["discount"] for line in document["lines"]] == ["3.34", "3.33", "3.33"]
    assert document["customer"] == {
        "external_id": "207119551",
        "email": "bob.norman@mail.example.com",
        "name": "Bob Norman",
        "phone": "+16136120707",
    }
    expected_address = {
        "name": "Bob Norman",
        "company": None,
        "line1": "Chestnut Street 92",
        "line2": None,  # "" in the sample
        "city": "Louisville",
        "region": "KY",  # province_code preferred over "Kentucky"
        "postal_code": "40202",
        "country_code": "US",
        "phone": "+1(502)-459-2181",
    }
    assert document["billing_address"] == expected_address
    assert document["shipping_address"] == expected_address
    assert document["shipping_lines"] == [
        {"code": "Free Shipping", "title": "Free Shipping", "amount": "0.00"}
    ]


def test_sample_quantities_are_the_original_ones() -> None:
    # Two of the three lines were refunded (current_quantity 0): the canonical order keeps
    # the order as placed (quantities, total_price) and reports the refund in `refunded`.
    raw = sample()
    assert [item["current_quantity"] for item in raw["line_items"]] == [0, 1, 0]
    order = map_order(raw)
    assert [line.quantity for line in order.lines] == [1, 1, 1]
    assert order.totals.total == Decimal("598.94")
    assert order.totals.refunded == Decimal("209.00")


def test_sample_times_are_converted_to_utc() -> None:
    order = map_order(load("order.json"))
    assert order.created_at == datetime(2008, 1, 10, 16, 0, 0, tzinfo=UTC)  # 11:00 at -05:00
    assert order.created_at.utcoffset() is not None and order.created_at.utcoffset().total_seconds() == 0
    cancelled = map_order(load("order_cancel_response.json"))
    assert cancelled.cancelled_at == datetime(2025, 7, 2, 16, 31, 25, tzinfo=UTC)
    assert dump_order(cancelled)["cancelled_at"] == "2025-07-02T16:31:25Z"


def test_offsets_either_side_of_a_dst_switch() -> None:
    order = map_order(load("edge_presentment_currency.json"))
    assert dump_order(order)["created_at"] == "2025-03-09T06:30:00Z"  # 01:30 EST (-05:00)
    assert dump_order(order)["updated_at"] == "2025-03-09T07:30:00Z"  # 03:30 EDT (-04:00)


def test_cancel_response_is_a_cancelled_order() -> None:
    order = map_order(load("order_cancel_response.json"))
    assert (order.status, order.payment_status, order.fulfillment_status) == (
        "cancelled",
        "partially_refunded",
        "unfulfilled",
    )


# --------------------------------------------------------------------------- forms


def test_wrapped_and_bare_forms_map_the_same() -> None:
    wrapped = load("order.json")
    assert set(wrapped) == {"order"}
    assert map_order(wrapped) == map_order(wrapped["order"])
    assert map_order(load("edge_presentment_currency.json")) == map_order(
        {"order": load("edge_presentment_currency.json")}
    )


def test_wrapper_siblings_are_ignored() -> None:
    response = load("order_cancel_response.json")
    assert "notice" in response
    assert map_order(response) == map_order(response["order"])


def test_graphql_id_keys_the_same_order() -> None:
    raw = sample()
    raw["id"] = "gid://shopify/Order/450789469"
    assert map_order(raw).external_id == "450789469"


# --------------------------------------------------------------------------- statuses


def with_status(
    *,
    financial: str | None = "paid",
    fulfillment: str | None = None,
    cancelled_at: str | None = None,
    closed_at: str | None = None,
) -> dict[str, Any]:
    raw = sample()
    raw.update(
        financial_status=financial,
        fulfillment_status=fulfillment,
        cancelled_at=cancelled_at,
        closed_at=closed_at,
    )
    return raw


CANCELLED = "2025-07-02T11:31:25-05:00"
CLOSED = "2025-07-10T09:15:00-05:00"


@pytest.mark.parametrize(
    ("financial", "fulfillment"),
    [
        ("paid", None),
        ("refunded", "fulfilled"),
        ("voided", "partial"),
        ("pending", None),
        ("authorized", None),
    ],
)
def test_contract_row_cancelled_at_set_is_cancelled(financial: str, fulfillment: str | None) -> None:
    expected_fulfillment = {None: "unfulfilled", "partial": "partially_fulfilled", "fulfilled": "fulfilled"}
    for closed_at in (None, CLOSED):
        order = map_order(
            with_status(
                financial=financial, fulfillment=fulfillment, cancelled_at=CANCELLED, closed_at=closed_at
            )
        )
        assert order.status == "cancelled"
        assert order.payment_status == financial
        assert order.fulfillment_status == expected_fulfillment[fulfillment]
        assert order.cancelled_at == datetime(2025, 7, 2, 16, 31, 25, tzinfo=UTC)


@pytest.mark.parametrize(
    "financial",
    ["pending", "authorized", "paid", "partially_paid", "partially_refunded", "refunded", "voided", "failed"],
)
def test_contract_row_financial_status_one_to_one(financial: str) -> None:
    order = map_order(with_status(financial=financial))
    assert order.payment_status == financial
    assert order.status == "open"


@pytest.mark.parametrize(
    ("fulfillment", "expected"),
    [(None, "unfulfilled"), ("partial", "partially_fulfilled"), ("fulfilled", "fulfilled")],
)
def test_contract_row_fulfillment_status(fulfillment: str | None, expected: str) -> None:
    order = map_order(with_status(fulfillment=fulfillment))
    assert order.fulfillment_status == expected
    assert order.status == "open"


@pytest.mark.parametrize(
    ("financial", "fulfillment", "closed_at", "expected"),
    [
        # (status, payment_status, fulfillment_status) for the module's own rows
        ("paid", "fulfilled", CLOSED, ("completed", "paid", "fulfilled")),
        ("paid", "partial", CLOSED, ("open", "paid", "partially_fulfilled")),
        ("refunded", None, CLOSED, ("open", "refunded", "unfulfilled")),
        ("paid", "fulfilled", None, ("open", "paid", "fulfilled")),
        ("refunded", "restocked", None, ("open", "refunded", "unfulfilled")),
        ("refunded", "restocked", CLOSED, ("open", "refunded", "unfulfilled")),
        ("expired", None, None, ("open", "voided", "unfulfilled")),
        ("unpaid", None, None, ("open", "pending", "unfulfilled")),
        (None, None, None, ("open", "pending", "unfulfilled")),
        (
            "PARTIALLY_REFUNDED",
            "PARTIALLY_FULFILLED",
            None,
            ("open", "partially_refunded", "partially_fulfilled"),
        ),
        ("paid", "ON_HOLD", None, ("on_hold", "paid", "unfulfilled")),
        ("paid", "ON_HOLD", CLOSED, ("open", "paid", "unfulfilled")),
        ("paid", "IN_PROGRESS", None, ("open", "paid", "unfulfilled")),
        ("paid", "unshipped", None, ("open", "paid", "unfulfilled")),
        ("paid", "shipped", CLOSED, ("completed", "paid", "fulfilled")),
    ],
)
def test_module_status_table(
    financial: str | None, fulfillment: str | None, closed_at: str | None, expected: tuple[str, str, str]
) -> None:
    order = map_order(with_status(financial=financial, fulfillment=fulfillment, closed_at=closed_at))
    assert (order.status, order.payment_status, order.fulfillment_status) == expected


def test_unknown_statuses_are_refused() -> None:
    with pytest.raises(MappingError, match=r"^financial_status: unknown value 'bartered'$"):
        map_order(with_status(financial="bartered"))
    with pytest.raises(MappingError, match=r"^fulfillment_status: unknown value 'teleported'$"):
        map_order(with_status(fulfillment="teleported"))
    with pytest.raises(MappingError, match=r"^financial_status: not a string$"):
        map_order(with_status(financial=1))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("document", [None, "order", 450789469, True])
def test_not_an_object(document: Any) -> None:
    with pytest.raises(MappingError) as info:
        map_order(document)
    assert str(info.value) == "order: not a JSON object"


@pytest.mark.parametrize("document", [[], [sample()]])
def test_a_list_is_named_as_one(document: Any) -> None:
    with pytest.raises(MappingError) as info:
        map_order(document)
    assert str(info.value) == "order: a JSON array (a list of orders?), not one order"


def test_wrapped_value_not_an_object() -> None:
    with pytest.raises(MappingError, match=r"^order: not a JSON object$"):
        map_order({"order": [sample()]})


def test_a_list_response_is_not_one_order() -> None:
    with pytest.raises(MappingError, match=r"^orders: a list of orders, not one order$"):
        map_order({"orders": [sample()]})


@pytest.mark.parametrize("form", ["bare", "wrapped"])
def test_missing_id(form: str) -> None:
    raw = sample()
    del raw["id"]
    with pytest.raises(MappingError) as info:
        map_order(raw if form == "bare" else {"order": raw})
    assert (info.value.path, info.value.message, str(info.value)) == ("id", "missing", "id: missing")


@pytest.mark.parametrize("value", [None, True, "", 1.5, {}])
def test_bad_id(value: Any) -> None:
    raw = sample()
    raw["id"] = value
    with pytest.raises(MappingError, match=r"^id: "):
        map_order(raw)


@pytest.mark.parametrize("quantity", ["one", 1.5, "1.5", True, [1], {}])
def test_quantity_not_an_integer(quantity: Any) -> None:
    raw = sample()
    raw["line_items"][0]["quantity"] = quantity
    with pytest.raises(MappingError) as info:
        map_order(raw)
    assert str(info.value) == "line_items[0].quantity: not an integer"


def test_quantity_errors_name_the_right_line() -> None:
    raw = sample()
    raw["line_items"][2]["quantity"] = 0
    with pytest.raises(MappingError, match=r"^line_items\[2\]\.quantity: must be at least 1$"):
        map_order(raw)
    del raw["line_items"][2]["quantity"]
    with pytest.raises(MappingError, match=r"^line_items\[2\]\.quantity: missing$"):
        map_order(raw)


def test_whole_number_quantities_in_other_spellings_are_accepted() -> None:
    raw = sample()
    raw["line_items"][0]["quantity"] = "2"
    raw["line_items"][1]["quantity"] = 2.0
    assert [line.quantity for line in map_order(raw).lines] == [2, 2, 1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o.pop("line_items"), "line_items: missing"),
        (lambda o: o.update(line_items=[]), "line_items: no line items"),
        (lambda o: o.update(line_items={"id": 1}), "line_items: not a JSON array"),
        (lambda o: o["line_items"].__setitem__(1, "x"), "line_items[1]: not a JSON object"),
        (lambda o: o["line_items"][1].pop("id"), "line_items[1].id: missing"),
        (
            lambda o: o["line_items"][1].update(price="abc"),
            "line_items[1].price: not a decimal amount: 'abc'",
        ),
        (lambda o: o["line_items"][1].update(price=None, price_set=None), "line_items[1].price: missing"),
        (
            lambda o: o["line_items"][0]["discount_allocations"][0].update(amount="x"),
            "line_items[0].discount_allocations[0].amount: not a decimal amount: 'x'",
        ),
        (
            lambda o: o["line_items"][0]["tax_lines"][0].update(price=True),
            "line_items[0].tax_lines[0].price: not a decimal amount",
        ),
        (
            lambda o: o["line_items"][0].update(name=None, title=None),
            "line_items[0].name: missing (and no title)",
        ),
        (
            lambda o: o.update(created_at="2008-01-10T11:00:00"),
            "created_at: no UTC offset: '2008-01-10T11:00:00'",
        ),
        (lambda o: o.pop("updated_at"), "updated_at: missing"),
        (lambda o: o.update(cancelled_at="soon"), "cancelled_at: not an ISO 8601 date-time: 'soon'"),
        (lambda o: o.update(total_price=None, total_price_set=None), "total_price: missing"),
        (lambda o: o.pop("currency"), "currency: missing"),
        (lambda o: o.update(currency="dollars"), "currency: not an ISO 4217 currency code: 'dollars'"),
        (lambda o: o.update(taxes_included="no"), "taxes_included: not a boolean"),
        (lambda o: o.update(billing_address="Chestnut Street 92"), "billing_address: not a JSON object"),
        (lambda o: o.update(customer=[]), "customer: not a JSON object"),
        (lambda o: o.update(refunds={}), "refunds: not a JSON array"),
        (
            lambda o: o["refunds"][0]["transactions"][0].update(amount=None),
            "refunds[0].transactions[0].amount: missing",
        ),
        (
            lambda o: o["shipping_lines"][0].update(price="free"),
            "shipping_lines[0].price: not a decimal amount: 'free'",
        ),
        (lambda o: o.update(tags=5), "tags: not a string or an array of strings"),
    ],
)
def test_error_paths(change: Any, message: str) -> None:
    raw = sample()
    change(raw)
    with pytest.raises(MappingError) as info:
        map_order(raw)
    assert str(info.value) == message


# --------------------------------------------------------------------------- money


def test_refunds_summed_over_successful_refund_transactions() -> None:
    order = map_order(load("edge_shipping_discount.json"))
    # refunds[0]: 50.00 success + 50.00 failure; refunds[1]: 25.50 success + 5.00 pending
    assert order.totals.refunded == Decimal("75.50")
    assert map_order(load("order.json")).totals.refunded == Decimal("209.00")
    assert map_order(load("edge_presentment_currency.json")).totals.refunded == Decimal(0)


def test_refund_transactions_of_other_kinds_are_not_counted() -> None:
    raw = sample()
    transaction = raw["refunds"][0]["transactions"][0]
    raw["refunds"][0]["transactions"].append({**transaction, "kind": "void", "amount": "1000.00"})
    raw["refunds"][0]["transactions"].append(
        {**transaction, "kind": "refund", "amount": 0.5}
    )  # a JSON number
    assert map_order(raw).totals.refunded == Decimal("209.50")


def test_refund_in_another_currency_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    raw = sample()
    raw["refunds"][0]["transactions"][0]["currency"] = "CAD"
    with caplog.at_level(logging.WARNING, logger="hub.mapping"):
        assert map_order(raw).totals.refunded == Decimal("209.00")
    assert "refunds[0].transactions[0]" in caplog.text


def test_shipping_discount_lowers_shipping_not_discount() -> None:
    raw = bare("edge_shipping_discount.json")
    assert raw["total_discounts"] == "20.00"
    order = map_order(raw)
    assert order.shipping_lines[0].amount == Decimal("0.00")  # price 10.00, discounted_price 0.00
    assert order.totals.shipping == Decimal("0.00")
    assert order.totals.discount == Decimal("10.00")  # TENOFF only
    assert order.totals.total == Decimal("598.94")
    assert order.status == "completed"


def test_shipping_discount_without_discounted_price_uses_allocations() -> None:
    raw = bare("edge_shipping_discount.json")
    line = raw["shipping_lines"][0]
    del line["discounted_price"], line["discounted_price_set"]
    line["discount_allocations"][0]["amount"] = "7.50"
    raw["total_discounts"] = "17.50"  # 10.00 on items + 7.50 on shipping
    raw["total_price"] = "601.44"  # 597.00 - 10.00 + 2.50 + 11.94
    order = map_order(raw)
    assert order.shipping_lines[0].amount == Decimal("2.50")
    assert order.totals.shipping == Decimal("2.50")
    assert order.totals.discount == Decimal("10.00")
    assert order.totals.total == Decimal("601.44")


def test_total_discounts_without_shipping_part_is_not_double_counted() -> None:
    raw = bare("edge_shipping_discount.json")
    raw["total_discounts"] = raw["total_discounts_set"]["shop_money"]["amount"] = "10.00"
    assert map_order(raw).totals.discount == Decimal("10.00")


def test_unallocated_order_discount_is_added_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    raw = sample()
    raw["total_discounts"] = "15.00"
    raw["total_price"] = "593.94"
    with caplog.at_level(logging.WARNING, logger="hub.mapping"):
        order = map_order(raw)
    assert order.totals.discount == Decimal("15.00")
    assert sum((line.discount for line in order.lines), Decimal(0)) == Decimal("10.00")
    assert order.totals.subtotal - order.totals.discount + order.totals.tax == order.totals.total
    assert "total_discounts" in caplog.text


def test_line_discount_falls_back_to_total_discount_never_both() -> None:
    raw = sample()
    raw["line_items"][0]["total_discount"] = "3.34"  # an app filling both: counted once
    assert map_order(raw).lines[0].discount == Decimal("3.34")
    del raw["line_items"][0]["discount_allocations"]
    raw["line_items"][0]["total_discount"] = "5.00"
    assert map_order(raw).lines[0].discount == Decimal("5.00")
    assert map_order(raw).lines[0].total == Decimal("194.00")
    del raw["line_items"][0]["total_discount"], raw["line_items"][0]["total_discount_set"]
    assert map_order(raw).lines[0].discount == Decimal(0)


def test_tax_falls_back_to_tax_lines_without_total_tax() -> None:
    raw = sample()
    del raw["total_tax"], raw["total_tax_set"]
    assert map_order(raw).totals.tax == Decimal("11.94")


def test_a_total_that_does_not_add_up_is_kept_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    raw = sample()
    raw["total_price"] = "600.94"  # e.g. a 2.00 tip
    with caplog.at_level(logging.WARNING, logger="hub.mapping"):
        order = map_order(raw)
    assert order.totals.total == Decimal("600.94")
    records = [r for r in caplog.records if r.name == "hub.mapping"]
    assert len(records) == 1
    assert "598.94" in records[0].getMessage() and "600.94" in records[0].getMessage()
    assert "difference 2.00" in records[0].getMessage()


@pytest.mark.parametrize("name", ORDER_FILES)
def test_consistent_samples_log_nothing(name: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="hub.mapping"):
        map_order(load(name))
    assert [r for r in caplog.records if r.name == "hub.mapping"] == []


def test_presentment_currency_is_what_the_customer_paid() -> None:
    raw = bare("edge_presentment_currency.json")
    assert (raw["currency"], raw["presentment_currency"]) == ("USD", "CAD")
    order = map_order(raw)
    assert order.currency == "CAD"
    assert [line.unit_price for line in order.lines] == [Decimal("269.00")] * 3  # plain price is 199.00 USD
    assert [line.discount for line in order.lines] == [Decimal("4.50")] * 3
    assert [line.tax for line in order.lines] == [Decimal("5.38")] * 3
    assert order.shipping_lines[0].amount == Decimal("6.75")
    assert dump_order(order)["totals"] == {
        "subtotal": "807.00",
        "discount": "13.50",
        "shipping": "6.75",
        "tax": "16.14",
        "total": "816.39",
        "refunded": "0",
    }


def test_same_presentment_currency_reads_the_plain_fields() -> None:
    raw = bare("edge_presentment_currency.json")
    raw["presentment_currency"] = "USD"
    order = map_order(raw)
    assert order.currency == "USD"
    assert order.lines[0].unit_price == Decimal("199.00")
    assert order.totals.total == Decimal("603.94")
    del raw["presentment_currency"]
    assert map_order(raw).currency == "USD"


def test_presentment_amount_missing_is_an_error_not_a_shop_amount() -> None:
    raw = bare("edge_presentment_currency.json")
    del raw["line_items"][0]["price_set"]
    with pytest.raises(MappingError) as info:
        map_order(raw)
    assert str(info.value) == "line_items[0].price_set.presentment_money.amount: missing"


def test_plain_amount_missing_falls_back_to_shop_money() -> None:
    raw = sample()
    del raw["total_price"]
    assert map_order(raw).totals.total == Decimal("598.94")


def test_taxes_included_is_carried_and_not_checked_as_tax_exclusive(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hub.mapping"):
        order = map_order(load("edge_empty_strings.json"))
    assert order.taxes_included is True
    assert order.totals.total == Decimal("124.65")
    assert order.totals.tax == Decimal("19.90")
    assert caplog.records == []


# --------------------------------------------------------------------------- text fields


def test_empty_strings_become_null() -> None:
    order = map_order(load("edge_empty_strings.json"))
    assert order.lines[0].sku is None
    assert order.lines[1].sku == "MUG-001"
    assert order.note is None  # "   "
    assert order.tags == ["gift", "vip"]  # " gift,  ,vip ,"
    assert order.billing_address is not None
    assert order.billing_address.company is None
    assert order.billing_address.line2 is None
    assert order.billing_address.region is None
    assert order.billing_address.phone is None
    assert order.shipping_address is None  # every field empty


def test_guest_customer_falls_back_to_order_fields() -> None:
    order = map_order(load("edge_empty_strings.json"))
    # customer null, email "" -> contact_email; name from the billing address
    assert dump_order(order)["customer"] == {
        "external_id": None,
        "email": "guest@example.com",
        "name": "Anna Schmidt",
        "phone": None,
    }
    raw = sample()
    raw["customer"]["phone"] = None
    raw["customer"]["email"] = None
    assert map_order(raw).customer.phone == "+557734881234"
    assert map_order(raw).customer.email == "bob.norman@mail.example.com"


def test_line_name_falls_back_to_title_and_variant() -> None:
    order = map_order(load("edge_empty_strings.json"))
    assert [line.name for line in order.lines] == ["Kapuzenpullover - blau", "Tasse"]


def test_address_name_falls_back_to_first_and_last() -> None:
    order = map_order(load("edge_empty_strings.json"))
    assert order.billing_address is not None and order.billing_address.name == "Anna Schmidt"


def test_country_name_becomes_a_code() -> None:
    order = map_order(load("edge_empty_strings.json"))
    assert order.billing_address is not None
    assert order.billing_address.country_code == "DE"  # country "Germany", country_code ""


@pytest.mark.parametrize(
    ("country_code", "country", "expected"),
    [
        ("us", "United States", "US"),
        (None, "United Kingdom", "GB"),
        ("", "United States", "US"),
        (None, "Atlantis", None),
        ("ZZ", "Canada", "CA"),
        (None, None, None),
    ],
)
def test_country_code_of_addresses(
    country_code: str | None, country: str | None, expected: str | None
) -> None:
    raw = sample()
    raw["shipping_address"].update(country_code=country_code, country=country)
    address = map_order(raw).shipping_address
    assert address is not None and address.country_code == expected


def test_region_falls_back_to_province() -> None:
    raw = sample()
    raw["shipping_address"]["province_code"] = None
    address = map_order(raw).shipping_address
    assert address is not None and address.region == "Kentucky"


def test_missing_addresses_are_null() -> None:
    raw = sample()
    raw["billing_address"] = None
    del raw["shipping_address"]
    order = map_order(raw)
    assert (order.billing_address, order.shipping_address) == (None, None)
    assert order.customer.name == "Bob Norman"


def test_tags_are_split_and_trimmed() -> None:
    raw = sample()
    raw["tags"] = "wholesale,  Léon , ,Noël"
    assert map_order(raw).tags == ["wholesale", "Léon", "Noël"]


def test_note_is_kept() -> None:
    raw = sample()
    raw["note"] = "  Leave at the back door.  "
    assert map_order(raw).note == "Leave at the back door."
