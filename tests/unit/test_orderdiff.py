from __future__ import annotations

from hub.orderdiff import changed_fields
from hub.schemas import dump_order
from tests.factories import make_order, newer


def test_same_order_has_no_changes() -> None:
    doc = dump_order(make_order(1))
    assert changed_fields(doc, dump_order(make_order(1))) == []


def test_updated_at_alone_is_not_a_change() -> None:
    order = make_order(1)
    assert changed_fields(dump_order(order), dump_order(newer(order, 60))) == []


def test_nested_and_list_changes_are_named() -> None:
    order = make_order(1, lines=3)
    old = dump_order(order)
    new = dump_order(order)
    new["status"] = "on_hold" if old["status"] != "on_hold" else "open"
    new["totals"]["refunded"] = "5.00"
    new["lines"][1]["quantity"] = 9
    new["tags"] = [*new["tags"], "late"]
    assert changed_fields(old, new) == ["lines[1].quantity", "status", "tags", "totals.refunded"]


def test_address_appearing_is_a_change() -> None:
    old = dump_order(make_order(1))
    new = dict(old, shipping_address=None)
    assert changed_fields(old, new) == ["shipping_address"]
