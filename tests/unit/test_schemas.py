"""The canonical order's JSON form: exactly the contract's, both ways."""

from __future__ import annotations

import filecmp
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from hub.schemas import OrderSchema, dump_order, first_error, format_utc, load_order
from tests.contracts import PACKAGED_CONTRACTS, SHARED_CONTRACTS, validate_order
from tests.factories import make_order


def test_packaged_contracts_are_the_shared_ones() -> None:
    if not SHARED_CONTRACTS.exists():
        pytest.skip("no ../shared/contracts beside this checkout")
    for name in ("canonical-order.schema.json", "canonical-shipping.schema.json"):
        assert filecmp.cmp(SHARED_CONTRACTS / name, PACKAGED_CONTRACTS / name, shallow=False), name


@pytest.mark.parametrize("i", range(20))
def test_dumped_orders_validate_against_the_contract(i: int) -> None:
    validate_order(dump_order(make_order(i)))


def test_round_trip_is_exact() -> None:
    order = make_order(3)
    assert load_order(dump_order(order)) == order


def test_money_is_a_decimal_string_and_times_end_in_z() -> None:
    doc = dump_order(make_order(1))
    assert isinstance(doc["totals"]["total"], str)
    assert Decimal(doc["totals"]["total"]) == make_order(1).totals.total
    assert doc["created_at"].endswith("Z")
    assert all(isinstance(line["unit_price"], str) for line in doc["lines"])


def test_offset_times_are_converted_to_utc() -> None:
    doc = dump_order(make_order(1))
    doc["created_at"] = "2026-03-01T10:00:00-05:00"
    assert load_order(doc).created_at == datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
    assert format_utc(datetime(2026, 3, 1, 10, 0, 0, 500000, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-03-01T08:00:00.5Z"
    )


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("totals", "total"), 19.99, "totals.total: not a decimal string"),
        (("lines", 0, "quantity"), "2", "lines.0.quantity: Not a valid integer."),
        (("lines", 0, "quantity"), 0, "lines.0.quantity"),
        (("currency",), "usd", "currency: not ISO 4217"),
        (("created_at",), "2026-01-01T00:00:00", "created_at: not an RFC 3339 time with a zone"),
        (("taxes_included",), 1, "taxes_included"),
        (("status",), "shipped", "status"),
        (("totals", "tax"), "NaN", "totals.tax: not a decimal string"),
    ],
)
def test_bad_input_names_the_field(path: tuple, value: object, message: str) -> None:
    doc = dump_order(make_order(2))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError) as info:
        load_order(doc)
    assert first_error(info.value).startswith(message)


def test_unknown_fields_are_refused_unless_asked() -> None:
    doc = dump_order(make_order(2)) | {"id": 7}
    with pytest.raises(ValidationError):
        load_order(doc)
    assert load_order(doc, ignore_unknown=True).external_id == doc["external_id"]


def test_lines_are_required() -> None:
    doc = dump_order(make_order(2))
    doc["lines"] = []
    with pytest.raises(ValidationError):
        load_order(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate_order(doc)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), lines=st.integers(1, 25), cents=st.integers(-(10**9), 10**9))
def test_fast_dump_equals_the_marshmallow_schema(seed: int, lines: int, cents: int) -> None:
    order = make_order(seed, random.Random(seed), lines=lines)
    order = replace(order, note="n", totals=replace(order.totals, refunded=Decimal(cents) / 1000))
    assert dump_order(order) == OrderSchema().dump(order)
