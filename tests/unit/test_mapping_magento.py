"""Magento 2 order -> canonical order (``mappings.magento.map_order``).

Fixtures in ``tests/fixtures/magento/`` (recorded from a real Magento 2 store, see
``SOURCES.md``):

* ``order_9_pending_3_items.json`` -- state ``new``: a configurable hoodie (parent row 16 +
  simple child row 17, same SKU) and a simple dress; three rows, two lines.
* ``order_11_pending_with_discount.json`` / ``order_12_processing.json`` -- a 20% cart rule
  (``discount_amount`` -58.6 = 13.8 + 44.8 on the items); ``new`` and ``processing``.
* ``order_17_pending_discount.json`` -- guest; a configurable short whose 44.00 is fully
  discounted plus free shipping: ``discount_amount`` -49 = 44 on the item + 5 on shipping
  (``shipping_discount_amount`` 5), ``grand_total`` 0.

In orders 11, 12 and 17 ``row_total`` is already net of the item discount (55.2 = 69 - 13.8),
unlike Magento's schema (price x qty); the mapping does not use it.

Hand-made edge fixtures (generated from the shape of order 9):

* ``edge_configurable.json`` -- ``complete``: two configurable products (parent + child rows
  each), shipped; a float-noisy ``tax_amount`` (15.020000000000001) and line tax
  (3.6300000000000003); three street lines; a middle name.
* ``edge_bundle.json`` -- ``processing``: a dynamic bundle (parent row with the summed price
  and tax, three child rows carrying the 10% discount) and a simple item; only the simple
  item shipped.
* ``edge_canceled.json`` -- ``canceled`` before any invoice; a ``canceled`` status history.
* ``edge_holded.json`` -- ``holded`` after invoicing, one of two bags shipped.
* ``edge_order_discount.json`` -- ``new``, guest, EUR order on a USD website (``base_*``
  differ): 10% on items + half the shipping (``discount_amount`` -18 = 13 + 5).

The other files (shipments, tracks, stock) are not orders.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from hub.model import Order
from hub.schemas import dump_order
from mappings.common import MappingError, rounded_money
from mappings.magento import map_order
from tests.contracts import FIXTURES, validate_order

MAGENTO = FIXTURES / "magento"
SAMPLE_FILES = [
    "order_9_pending_3_items.json",
    "order_11_pending_with_discount.json",
    "order_12_processing.json",
    "order_17_pending_discount.json",
]
EDGE_FILES = [
    "edge_bundle.json",
    "edge_canceled.json",
    "edge_configurable.json",
    "edge_holded.json",
    "edge_order_discount.json",
]
ORDER_FILES = SAMPLE_FILES + EDGE_FILES
NOT_ORDER_FILES = [
    "msi_source_items_doc_example.json",
    "order_ship_partial.json",
    "order_ship_with_tracks_doc_example.json",
    "shipment_track_create.json",
    "stock_item_get_and_update.json",
]


def load(name: str) -> Any:
    return json.loads((MAGENTO / name).read_text())


def sample(name: str = "order_12_processing.json") -> dict[str, Any]:
    return load(name)


def d(value: str | int) -> Decimal:
    return Decimal(value)


def amount(value: Any) -> Decimal:
    """A Magento float as the decimal it stands for (Magento keeps four decimals)."""
    return rounded_money(value, "amount", places=4)


def total_of(values: list[Decimal]) -> Decimal:
    return sum(values, Decimal(0))


def children_of(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in raw["items"] if item.get("parent_item_id") is not None]


# --------------------------------------------------------------------------- the fixture set


def test_the_fixture_lists_cover_every_magento_file() -> None:
    files = {path.name for path in MAGENTO.glob("*.json")}
    assert files == set(ORDER_FILES) | set(NOT_ORDER_FILES)
    assert {name for name in files if "entity_id" in load(name)} == set(ORDER_FILES)


@pytest.mark.parametrize("name", ORDER_FILES)
def test_every_order_maps_to_a_valid_canonical_order(name: str) -> None:
    raw = load(name)
    order = map_order(raw)
    assert isinstance(order, Order)
    document = dump_order(order)
    validate_order(document)
    assert document["channel"] == "magento"
    assert document["external_id"] == str(raw["entity_id"])
    assert document["number"] == raw["increment_id"]
    assert document["currency"] == raw["order_currency_code"]
    assert document["taxes_included"] is False
    assert document["tags"] == []


@pytest.mark.parametrize("name", NOT_ORDER_FILES)
def test_files_that_are_not_orders_are_refused(name: str) -> None:
    with pytest.raises(MappingError) as info:
        map_order(load(name))
    assert info.value.path == "entity_id"


def test_a_search_result_is_refused_and_each_of_its_items_maps() -> None:
    result = {"items": [sample(name) for name in SAMPLE_FILES], "search_criteria": {}, "total_count": 4}
    with pytest.raises(MappingError, match=r"^items: a search result \(a list of orders\), not one order$"):
        map_order(result)
    assert [map_order(item).external_id for item in result["items"]] == ["9", "11", "12", "17"]
    with pytest.raises(MappingError, match=r"^order: a JSON array"):
        map_order(result["items"])


@pytest.mark.parametrize("name", ORDER_FILES)
def test_the_samples_own_totals_hold(name: str) -> None:
    raw = load(name)
    order = map_order(raw)
    totals = order.totals
    assert totals.total == amount(raw["grand_total"])
    assert totals.tax == amount(raw["tax_amount"])
    assert totals.subtotal == amount(raw["subtotal"])
    assert totals.discount == -amount(raw["discount_amount"]) - amount(raw["shipping_discount_amount"])
    assert totals.shipping == amount(raw["shipping_amount"]) - amount(raw["shipping_discount_amount"])
    assert totals.subtotal - totals.discount + totals.shipping + totals.tax == totals.total
    assert totals.discount == total_of([line.discount for line in order.lines])
    assert totals.tax == total_of([line.tax for line in order.lines])  # no tax on shipping in these
    assert totals.refunded == amount(raw.get("total_refunded") or 0)
    assert [s.amount for s in order.shipping_lines] == [totals.shipping]


@pytest.mark.parametrize("name", ORDER_FILES)
def test_lines_follow_the_contract(name: str) -> None:
    raw = load(name)
    order = map_order(raw)
    parents = [item for item in raw["items"] if item.get("parent_item_id") is None]
    assert [line.external_id for line in order.lines] == [str(item["item_id"]) for item in parents]
    for item, line in zip(parents, order.lines, strict=True):
        assert line.quantity == item["qty_ordered"]
        assert line.unit_price == amount(item["price"])
        assert line.total == line.unit_price * line.quantity - line.discount
        assert line.name == item["name"]


def test_mapping_does_not_touch_its_input() -> None:
    for name in ORDER_FILES:
        raw = load(name)
        before = copy.deepcopy(raw)
        map_order(raw)
        assert raw == before


@pytest.mark.parametrize("name", ORDER_FILES)
def test_consistent_samples_log_nothing(name: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="hub.mapping"):
        map_order(load(name))
    assert [r for r in caplog.records if r.name == "hub.mapping"] == []


# --------------------------------------------------------------------------- a sample in full


def test_sample_order_in_full() -> None:
    document = dump_order(map_order(sample("order_9_pending_3_items.json")))
    address = {
        "name": "Veronica Costello",
        "company": None,
        "line1": "6146 Honey Bluff Parkway",
        "line2": None,
        "city": "Calder",
        "region": "MI",
        "postal_code": "49628-7978",
        "country_code": "US",
        "phone": "(555) 229-3326",
    }
    assert document == {
        "channel": "magento",
        "external_id": "9",
        "number": "000000013",
        "status": "open",
        "payment_status": "pending",
        "fulfillment_status": "unfulfilled",
        "created_at": "2020-04-24T15:50:17Z",
        "updated_at": "2020-04-24T15:50:17Z",
        "cancelled_at": None,
        "currency": "USD",
        "taxes_included": False,
        "totals": {
            "subtotal": "362",
            "discount": "0",
            "shipping": "5",
            "tax": "29.87",
            "total": "396.87",
            "refunded": "0",
        },
        "lines": [
            {
                "external_id": "16",
                "sku": "MH09-XS-Blue",
                "name": "Abominable Hoodie",
                "quantity": 2,
                "unit_price": "69",
                "discount": "0",
                "tax": "11.39",
                "total": "138",
            },
            {
                "external_id": "18",
                "sku": "RACER",
                "name": "Racer Back Maxi Dress",
                "quantity": 1,
                "unit_price": "224",
                "discount": "0",
                "tax": "18.48",
                "total": "224",
            },
        ],
        "customer": {
            "external_id": "1",
            "email": "roni_cost@example.com",
            "name": "Veronica Costello",
            "phone": "(555) 229-3326",
        },
        "billing_address": address,
        "shipping_address": address,
        "shipping_lines": [{"code": "tablerate_bestway", "title": "Best Way - Table Rate", "amount": "5"}],
        "note": None,
        "tags": [],
    }


# --------------------------------------------------------------------------- composite products


@pytest.mark.parametrize(
    ("name", "rows", "lines"),
    [
        ("order_9_pending_3_items.json", 3, 2),
        ("order_17_pending_discount.json", 2, 1),
        ("edge_configurable.json", 4, 2),
    ],
)
def test_a_configurable_product_is_one_line_not_two(name: str, rows: int, lines: int) -> None:
    raw = load(name)
    order = map_order(raw)
    assert (len(raw["items"]), len(order.lines)) == (rows, lines)
    for child in children_of(raw):
        parent = next(item for item in raw["items"] if item["item_id"] == child["parent_item_id"])
        line = next(line for line in order.lines if line.external_id == str(parent["item_id"]))
        assert line.sku == child["sku"]
        assert line.name == parent["name"]  # the child's adds the options: "Abominable Hoodie-XS-Blue"
        assert (line.unit_price, line.tax) == (amount(parent["price"]), amount(parent["tax_amount"]))
        assert str(child["item_id"]) not in [line.external_id for line in order.lines]


def test_a_configurable_line_takes_the_childs_sku() -> None:
    raw = sample("order_9_pending_3_items.json")
    raw["items"][0]["sku"] = "MH09"  # the configurable product's own SKU
    assert map_order(raw).lines[0].sku == "MH09-XS-Blue"


def test_a_child_is_found_by_parent_item_alone() -> None:
    raw = sample("order_9_pending_3_items.json")
    del raw["items"][1]["parent_item_id"]  # parent_item.item_id is still there
    assert len(map_order(raw).lines) == 2


def test_a_bundle_is_one_line_with_its_components_dropped() -> None:
    raw = sample("edge_bundle.json")
    order = map_order(raw)
    assert len(raw["items"]) == 5
    bundle = order.lines[0]
    assert (bundle.external_id, bundle.sku, bundle.name, bundle.quantity) == (
        "220",
        "24-WG080-24-WG084-24-WG088",
        "Sprite Yoga Companion Kit",
        1,
    )
    # parent price and tax (the sums Magento fills in); discount from the children (2.3 + 1 + 1.4)
    assert (bundle.unit_price, bundle.discount, bundle.tax, bundle.total) == (
        d(47),
        d("4.7"),
        d("3.49"),
        d("42.3"),
    )
    assert [line.external_id for line in order.lines] == ["220", "224"]


def test_a_fixed_price_bundle_takes_the_parents_money() -> None:
    raw = sample("edge_bundle.json")
    raw["items"][0].update(discount_amount=4.7)
    for child in raw["items"][1:4]:
        child.update(price=0, discount_amount=0, tax_amount=0)
    bundle = map_order(raw).lines[0]
    assert (bundle.unit_price, bundle.discount, bundle.tax) == (d(47), d("4.7"), d("3.49"))


def test_a_bundle_whose_parent_is_empty_takes_the_childrens_money() -> None:
    raw = sample("edge_bundle.json")
    raw["items"][0].update(price=0, tax_amount=0, discount_amount=0)
    bundle = map_order(raw).lines[0]
    assert (bundle.unit_price, bundle.discount, bundle.tax) == (d(47), d("4.7"), d("3.49"))  # 23 + 5*2 + 14


def test_a_bundle_ordered_twice() -> None:
    raw = sample("edge_bundle.json")
    raw["items"][0].update(qty_ordered=2, price=0, tax_amount=0)
    for child in raw["items"][1:4]:
        child["qty_ordered"] *= 2
    bundle = map_order(raw).lines[0]
    assert (bundle.quantity, bundle.unit_price) == (2, d(47))


def test_a_child_without_its_parent_is_an_error() -> None:
    raw = sample("order_9_pending_3_items.json")
    del raw["items"][0]
    with pytest.raises(MappingError, match=r"^items\[0\]\.parent_item_id: no item 16 in items$"):
        map_order(raw)


# --------------------------------------------------------------------------- statuses


def with_state(state: str, name: str = "order_12_processing.json", **changes: Any) -> dict[str, Any]:
    raw = sample(name)
    raw["state"] = state
    raw.update(changes)
    return raw


PAID = {"total_paid": 253.74, "total_due": 0}
HALF_PAID = {"total_paid": 100, "total_due": 153.74}
PART_REFUNDED = {"total_paid": 253.74, "total_refunded": 50}
REFUNDED = {"total_paid": 253.74, "total_refunded": 253.74}
MONEY_STATES = [{}, PAID, HALF_PAID, PART_REFUNDED, REFUNDED]


def shipped(raw: dict[str, Any], *quantities: float) -> dict[str, Any]:
    for item, qty in zip(raw["items"], quantities, strict=True):
        item["qty_shipped"] = qty
    return raw


@pytest.mark.parametrize("money", MONEY_STATES)
def test_contract_row_processing(money: dict[str, Any]) -> None:
    for ship in ((0, 0), (1, 0), (1, 1)):
        order = map_order(shipped(with_state("processing", **money), *ship))
        assert (order.status, order.payment_status) == ("open", "paid")


@pytest.mark.parametrize("money", MONEY_STATES)
def test_contract_row_complete(money: dict[str, Any]) -> None:
    for ship in ((0, 0), (1, 1)):
        order = map_order(shipped(with_state("complete", **money), *ship))
        assert (order.status, order.payment_status, order.fulfillment_status) == (
            "completed",
            "paid",
            "fulfilled",
        )


@pytest.mark.parametrize("money", MONEY_STATES)
def test_contract_row_canceled(money: dict[str, Any]) -> None:
    assert map_order(with_state("canceled", **money)).status == "cancelled"


@pytest.mark.parametrize("money", MONEY_STATES)
def test_contract_row_holded(money: dict[str, Any]) -> None:
    assert map_order(with_state("holded", **money)).status == "on_hold"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("order_9_pending_3_items.json", ("open", "pending", "unfulfilled")),
        ("order_12_processing.json", ("open", "paid", "unfulfilled")),
        ("edge_configurable.json", ("completed", "paid", "fulfilled")),
        ("edge_bundle.json", ("open", "paid", "partially_fulfilled")),
        ("edge_canceled.json", ("cancelled", "voided", "unfulfilled")),
        ("edge_holded.json", ("on_hold", "paid", "partially_fulfilled")),
        ("edge_order_discount.json", ("open", "pending", "unfulfilled")),
    ],
)
def test_fixture_statuses(name: str, expected: tuple[str, str, str]) -> None:
    order = map_order(load(name))
    assert (order.status, order.payment_status, order.fulfillment_status) == expected


@pytest.mark.parametrize(
    ("state", "money", "expected"),
    [
        ("new", {}, ("open", "pending")),
        ("new", HALF_PAID, ("open", "partially_paid")),
        ("pending_payment", {}, ("open", "pending")),
        ("payment_review", {}, ("on_hold", "pending")),
        ("payment_review", PAID, ("on_hold", "paid")),
        ("closed", REFUNDED, ("completed", "refunded")),
        ("closed", PART_REFUNDED, ("completed", "partially_refunded")),
        ("closed", {"total_refunded": 10}, ("completed", "refunded")),  # refunded, nothing recorded as paid
        ("canceled", {}, ("cancelled", "voided")),
        ("canceled", HALF_PAID, ("cancelled", "partially_paid")),
        ("canceled", REFUNDED, ("cancelled", "refunded")),
        ("holded", {}, ("on_hold", "pending")),
        ("holded", PAID, ("on_hold", "paid")),
        ("holded", PART_REFUNDED, ("on_hold", "partially_refunded")),
        ("Holded", {}, ("on_hold", "pending")),
    ],
)
def test_module_state_rows(state: str, money: dict[str, Any], expected: tuple[str, str]) -> None:
    order = map_order(with_state(state, **money))
    assert (order.status, order.payment_status) == expected


def test_the_status_label_does_not_matter() -> None:
    for label in ("fraud", "suspected_fraud", "my_custom_review", None):
        order = map_order(with_state("payment_review", status=label))
        assert (order.status, order.payment_status) == ("on_hold", "pending")


def test_unknown_or_missing_state_is_an_error() -> None:
    with pytest.raises(MappingError, match=r"^state: unknown value 'archived'$"):
        map_order(with_state("archived"))
    with pytest.raises(MappingError, match=r"^state: missing$"):
        map_order(with_state(None))  # type: ignore[arg-type]
    with pytest.raises(MappingError, match=r"^state: not a string$"):
        map_order(with_state(7))  # type: ignore[arg-type]


def qty(raw: dict[str, Any], index: int, **quantities: float) -> None:
    raw["items"][index].update(quantities)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ([], "unfulfilled"),
        ([(0, {"qty_shipped": 1})], "partially_fulfilled"),
        ([(0, {"qty_shipped": 1}), (1, {"qty_shipped": 1})], "fulfilled"),
        ([(0, {"qty_shipped": 1}), (1, {"qty_canceled": 1})], "fulfilled"),  # nothing left to ship
        ([(0, {"qty_shipped": 1}), (1, {"qty_refunded": 1})], "fulfilled"),
        ([(0, {"qty_canceled": 1}), (1, {"qty_canceled": 1})], "unfulfilled"),  # nothing ever shipped
        ([(0, {"qty_shipped": 1}), (1, {"is_virtual": 1})], "fulfilled"),  # a virtual item never ships
        ([(0, {"qty_ordered": 3, "qty_shipped": 2}), (1, {"qty_shipped": 1})], "partially_fulfilled"),
    ],
)
def test_derived_fulfillment(changes: list[tuple[int, dict[str, float]]], expected: str) -> None:
    raw = with_state("processing")
    for index, quantities in changes:
        qty(raw, index, **quantities)
    assert map_order(raw).fulfillment_status == expected


def test_derived_fulfillment_of_composite_lines() -> None:
    raw = sample("edge_bundle.json")  # the bottle shipped, the kit not
    assert map_order(raw).fulfillment_status == "partially_fulfilled"
    for child in raw["items"][1:4]:  # the kit's components shipped separately
        child["qty_shipped"] = child["qty_ordered"]
    assert map_order(raw).fulfillment_status == "fulfilled"
    raw = sample("edge_bundle.json")
    raw["items"][0]["qty_shipped"] = 1  # shipped together: the parent row says so
    assert map_order(raw).fulfillment_status == "fulfilled"
    raw = with_state("processing", name="order_9_pending_3_items.json")
    qty(raw, 0, qty_shipped=2)
    qty(raw, 2, qty_shipped=1)
    assert map_order(raw).fulfillment_status == "fulfilled"  # the child row's 0 does not count


def test_cancelled_at_comes_from_the_status_history() -> None:
    order = map_order(load("edge_canceled.json"))
    assert order.cancelled_at == datetime(2026, 3, 2, 8, 29, 58, tzinfo=UTC)
    assert map_order(load("edge_holded.json")).cancelled_at is None
    raw = load("edge_canceled.json")
    raw["status_histories"] = []
    assert map_order(raw).cancelled_at is None
    raw["status_histories"] = [{"status": "canceled", "created_at": "then"}]
    with pytest.raises(MappingError, match=r"^status_histories\[0\]\.created_at: not an ISO 8601"):
        map_order(raw)


# --------------------------------------------------------------------------- times and money


def test_times_without_zone_are_utc_exactly() -> None:
    order = map_order(sample())
    assert order.created_at == datetime(2020, 4, 25, 7, 23, 37, tzinfo=UTC)  # "2020-04-25 07:23:37"
    assert order.updated_at == datetime(2020, 4, 25, 15, 19, 31, tzinfo=UTC)
    assert dump_order(order)["created_at"] == "2020-04-25T07:23:37Z"
    raw = sample()
    raw["created_at"] = "2020-04-25 09:23:37+02:00"
    assert map_order(raw).created_at == datetime(2020, 4, 25, 7, 23, 37, tzinfo=UTC)


def test_floats_become_decimals_without_binary_noise() -> None:
    raw = load("edge_configurable.json")
    assert raw["tax_amount"] == 15.020000000000001 and raw["items"][2]["tax_amount"] == 3.6300000000000003
    order = map_order(raw)
    assert order.totals.tax == d("15.02")
    assert order.lines[1].tax == d("3.63")
    assert dump_order(order)["totals"]["tax"] == "15.02"
    order = map_order(sample())
    assert order.totals.total == d("253.74")  # not Decimal(253.74) = 253.740000000000009094947...
    assert dump_order(order)["lines"][0]["discount"] == "13.8"
    raw = sample()
    raw["items"][0]["tax_amount"] = 0.1 + 0.2
    assert map_order(raw).lines[0].tax == d("0.3")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1 + 0.2, "0.3"),
        (253.74, "253.74"),
        (5, "5"),
        (-58.6, "-58.6"),
        (2.00000001, "2"),
        (12.34565, "12.3457"),
        ("19.990", "19.990"),
        (None, "0"),
    ],
)
def test_rounded_money(value: Any, expected: str) -> None:
    result = rounded_money(value, "x", places=4, default=Decimal(0))
    assert str(result) == expected


def test_amounts_are_in_the_order_currency_not_the_base_one() -> None:
    raw = load("edge_order_discount.json")
    assert (raw["order_currency_code"], raw["base_currency_code"]) == ("EUR", "USD")
    assert raw["base_grand_total"] != raw["grand_total"]
    document = dump_order(map_order(raw))
    assert document["currency"] == "EUR"
    assert document["totals"] == {
        "subtotal": "130",
        "discount": "13",  # -18 made positive, less the 5 on shipping
        "shipping": "5",  # 10 less the 5 shipping discount
        "tax": "9.66",
        "total": "131.66",
        "refunded": "0",
    }


def test_order_level_discount_made_positive() -> None:
    for name, expected in [
        ("order_11_pending_with_discount.json", d("58.6")),
        ("order_17_pending_discount.json", d(44)),
        ("edge_order_discount.json", d(13)),
    ]:
        raw = load(name)
        assert raw["discount_amount"] < 0
        assert map_order(raw).totals.discount == expected
    order = map_order(load("order_17_pending_discount.json"))
    assert (order.totals.shipping, order.totals.total) == (d(0), d(0))


def test_discount_tax_compensation_is_taken_out_of_the_discount() -> None:
    # Prices including tax, discount applied on them: Magento's discount_amount holds the tax
    # part too and adds it back to grand_total as discount_tax_compensation_amount.
    raw = load("edge_order_discount.json")
    raw["items"][0].update(discount_amount=11.9, discount_tax_compensation_amount=1.9)
    raw["items"][1].update(discount_amount=3.57, discount_tax_compensation_amount=0.57)
    raw.update(discount_amount=-20.47, discount_tax_compensation_amount=2.47)
    order = map_order(raw)
    assert [line.discount for line in order.lines] == [d("10.0"), d("3.00")]
    assert order.totals.discount == d("13.00")
    assert order.totals.subtotal - order.totals.discount + order.totals.shipping + order.totals.tax == d(
        "131.66"
    )


def test_refunded_is_total_refunded() -> None:
    raw = sample()
    raw.update(total_paid=253.74, total_refunded=100.5)
    assert map_order(raw).totals.refunded == d("100.5")
    assert map_order(sample()).totals.refunded == 0


def test_figures_that_do_not_add_up_are_kept_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    raw = sample()
    raw["grand_total"] = 260
    raw["subtotal"] = 300
    with caplog.at_level(logging.WARNING, logger="hub.mapping"):
        order = map_order(raw)
    assert order.totals.total == d(260)
    assert order.totals.subtotal == d(293)  # the lines' sum
    assert "grand_total is 260" in caplog.text and "253.74" in caplog.text
    assert "subtotal is 300" in caplog.text


def test_unallocated_order_discount_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    raw = sample()
    raw["discount_amount"] = -60.6
    raw["grand_total"] = 251.74
    with caplog.at_level(logging.WARNING, logger="hub.mapping"):
        order = map_order(raw)
    assert order.totals.discount == d("60.6")
    assert "discount (order level, items only) is 60.6" in caplog.text


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o["items"][0].update(qty_ordered=1.5), "items[0].qty_ordered: not an integer"),
        (lambda o: o["items"][1].update(qty_ordered="two"), "items[1].qty_ordered: not an integer"),
        (lambda o: o["items"][0].update(qty_ordered=0), "items[0].qty_ordered: must be at least 1"),
        (lambda o: o["items"][0].pop("qty_ordered"), "items[0].qty_ordered: missing"),
        (lambda o: o["items"][0].update(price="abc"), "items[0].price: not a decimal amount: 'abc'"),
        (lambda o: o["items"][1].pop("price"), "items[1].price: missing"),
        (lambda o: o["items"][0].update(tax_amount=True), "items[0].tax_amount: not a decimal amount"),
        (
            lambda o: o["items"][0].update(discount_amount=float("nan")),
            "items[0].discount_amount: not a decimal amount",
        ),
        (lambda o: o["items"][0].update(name=""), "items[0].name: missing"),
        (lambda o: o["items"][0].pop("item_id"), "items[0].item_id: missing"),
        (lambda o: o["items"].__setitem__(1, []), "items[1]: not a JSON object"),
        (lambda o: o.update(items=[]), "items: no items"),
        (lambda o: o.pop("items"), "items: missing"),
        (lambda o: o.pop("entity_id"), "entity_id: missing"),
        (lambda o: o.update(entity_id=1.5), "entity_id: not an id"),
        (lambda o: o.pop("grand_total"), "grand_total: missing"),
        (lambda o: o.update(tax_amount="n/a"), "tax_amount: not a decimal amount: 'n/a'"),
        (lambda o: o.pop("order_currency_code"), "order_currency_code: missing"),
        (lambda o: o.update(created_at="25/04/2020"), "created_at: not an ISO 8601 date-time: '25/04/2020'"),
        (lambda o: o.pop("updated_at"), "updated_at: missing"),
        (lambda o: o.update(billing_address="Calder"), "billing_address: not a JSON object"),
        (
            lambda o: o["billing_address"].update(street=42),
            "billing_address.street: not a string or an array of strings",
        ),
        (
            lambda o: o["extension_attributes"]["shipping_assignments"][0]["shipping"]["address"].update(
                city={}
            ),
            "extension_attributes.shipping_assignments[0].shipping.address.city: not a string",
        ),
        (lambda o: o.update(customer_id={"id": 1}), "customer_id: not an id"),
        (lambda o: o.update(state="canceled", status_histories={}), "status_histories: not a JSON array"),
    ],
)
def test_error_paths(change: Callable[[dict[str, Any]], Any], message: str) -> None:
    raw = sample()
    change(raw)
    with pytest.raises(MappingError) as info:
        map_order(raw)
    assert str(info.value) == message


def test_whole_number_floats_are_quantities() -> None:
    raw = sample()
    raw["items"][0]["qty_ordered"] = 2.0
    raw["items"][0]["price"] = 34.5
    assert map_order(raw).lines[0].quantity == 2


# --------------------------------------------------------------------------- parties and text


def test_empty_strings_become_null() -> None:
    order = map_order(load("edge_order_discount.json"))  # region "" and region_code null
    assert order.billing_address is not None and order.billing_address.region is None
    assert order.note == "Please ring twice."  # trimmed
    order = map_order(load("edge_configurable.json"))  # company ""
    assert order.billing_address is not None and order.billing_address.company is None
    raw = sample()
    raw.update(customer_note="  ", increment_id="", customer_firstname="", customer_lastname="")
    raw["billing_address"].update(telephone="", street=["", ""], region_code="")
    order = map_order(raw)
    assert (order.note, order.number) == (None, None)
    assert order.customer.name == "Veronica Costello"  # from the billing address
    assert order.billing_address is not None
    assert (order.billing_address.phone, order.billing_address.line1, order.billing_address.region) == (
        None,
        None,
        "Michigan",
    )
    assert order.customer.phone is None
    raw["billing_address"] = dict.fromkeys(raw["billing_address"], "")
    assert map_order(raw).billing_address is None


def test_street_lines_and_middle_names() -> None:
    order = map_order(load("edge_configurable.json"))
    assert order.billing_address is not None
    assert (order.billing_address.line1, order.billing_address.line2) == (
        "6146 Honey Bluff Parkway",
        "Building 4, Suite 210",
    )
    assert order.billing_address.name == "Veronica Ann Costello"
    assert order.customer.name == "Veronica Ann Costello"
    raw = sample()
    raw["billing_address"]["street"] = "1 Main St\nFlat 2"
    address = map_order(raw).billing_address
    assert address is not None and (address.line1, address.line2) == ("1 Main St", "Flat 2")


def test_guest_customer() -> None:
    order = map_order(load("order_17_pending_discount.json"))
    assert dump_order(order)["customer"] == {
        "external_id": None,
        "email": "test@free.org",
        "name": "Test Free",
        "phone": "1",
    }
    assert order.billing_address is not None and order.billing_address.country_code == "UY"


def test_shipping_address_lives_in_the_shipping_assignment() -> None:
    raw = load("edge_order_discount.json")
    raw["billing_address"]["city"] = "Brno"
    order = map_order(raw)
    assert order.shipping_address is not None and order.shipping_address.city == "Praha"
    assert order.billing_address is not None and order.billing_address.city == "Brno"


def test_a_virtual_order_has_no_shipping_address_or_line() -> None:
    raw = sample()
    raw["extension_attributes"] = {}
    raw["shipping_description"] = None
    raw["is_virtual"] = 1
    order = map_order(raw)
    assert (order.shipping_address, order.shipping_lines) == (None, [])


def test_shipping_line_has_the_method_and_description() -> None:
    order = map_order(load("order_17_pending_discount.json"))
    assert dump_order(order)["shipping_lines"] == [
        {"code": "flatrate_flatrate", "title": "Flat Rate - Fixed", "amount": "0"}
    ]
