"""The helpers every channel mapping shares (``mappings.common``)."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from mappings.common import (
    MappingError,
    as_list,
    as_object,
    boolean,
    country_code,
    currency_code,
    get_path,
    integer,
    join_name,
    join_path,
    money,
    opt_money,
    opt_str,
    require,
    split_tags,
    to_utc,
)

# --------------------------------------------------------------------------- MappingError


def test_mapping_error_names_path_and_message() -> None:
    error = MappingError("line_items[0].quantity", "not an integer")
    assert str(error) == "line_items[0].quantity: not an integer"
    assert error.path == "line_items[0].quantity"
    assert error.message == "not an integer"
    assert isinstance(error, ValueError)


def test_mapping_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(MappingError("id", "missing")))
    assert (error.path, error.message, str(error)) == ("id", "missing", "id: missing")


@pytest.mark.parametrize(
    ("base", "parts", "expected"),
    [
        ("line_items", (0, "quantity"), "line_items[0].quantity"),
        ("", ("total_price",), "total_price"),
        ("", ("refunds", 1, "transactions", 0, "amount"), "refunds[1].transactions[0].amount"),
        ("order", (), "order"),
    ],
)
def test_join_path(base: str, parts: tuple[str | int, ...], expected: str) -> None:
    assert join_path(base, *parts) == expected


# --------------------------------------------------------------------------- access


def test_require_returns_the_value_or_names_the_missing_key() -> None:
    assert require({"id": 5}, "id") == 5
    with pytest.raises(MappingError, match=r"^line_items\[2\]\.id: missing$"):
        require({"id": None}, "id", "line_items[2]")
    with pytest.raises(MappingError, match=r"^id: missing$"):
        require({}, "id")


def test_get_path_walks_objects_and_arrays() -> None:
    doc = {"a": {"b": [{"c": "x"}, None]}}
    assert get_path(doc, "a", "b", 0, "c") == "x"
    assert get_path(doc, "a", "b", 1, "c", default="d") == "d"
    assert get_path(doc, "a", "b", 5) is None
    assert get_path(doc, "a", "missing", default=0) == 0
    assert get_path(doc, "a", 0) is None  # an index into an object is absent
    assert get_path(doc, "a", "b", "c") is None  # a key into an array is absent


def test_as_object_and_as_list() -> None:
    assert as_object({"a": 1}, "x") == {"a": 1}
    with pytest.raises(MappingError, match=r"^order: not a JSON object$"):
        as_object([1], "order")
    assert as_list(None, "refunds") == []
    assert as_list([1], "refunds") == [1]
    with pytest.raises(MappingError, match=r"^line_items: missing$"):
        as_list(None, "line_items", allow_missing=False)
    with pytest.raises(MappingError, match=r"^line_items: not a JSON array$"):
        as_list({"0": {}}, "line_items")


# --------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("19.99", Decimal("19.99")),
        (" 598.94 ", Decimal("598.94")),
        ("0.00", Decimal("0.00")),
        ("-3.50", Decimal("-3.50")),
        (5, Decimal(5)),
        (Decimal("1.10"), Decimal("1.10")),
        (0.1, Decimal("0.1")),
        (195.66, Decimal("195.66")),
        (41.94, Decimal("41.94")),
        (0.0, Decimal("0.0")),
        (1e-7, Decimal("1E-7")),
    ],
)
def test_money_accepts_strings_ints_decimals_and_floats(value: Any, expected: Decimal) -> None:
    result = money(value, "x")
    assert isinstance(result, Decimal)
    assert result == expected
    assert str(result) == str(expected)


def test_money_from_float_has_no_binary_noise() -> None:
    # Decimal(0.1) would be 0.1000000000000000055511151231257827021181583404541015625.
    assert money(0.1, "x") == Decimal("0.1")
    assert money(0.1, "x") != Decimal.from_float(0.1)
    # Amounts a channel sends as JSON numbers add up exactly once converted one by one ...
    amounts = json.loads('{"a": 0.1, "b": 0.2, "c": 195.66, "d": 3.98}')
    assert money(amounts["a"], "a") + money(amounts["b"], "b") == Decimal("0.3")
    assert money(amounts["c"], "c") + money(amounts["d"], "d") == Decimal("199.64")
    # ... while a float computed from floats keeps the float's own shortest text, no expansion.
    assert money(0.1 + 0.2, "x") == Decimal("0.30000000000000004")
    assert len(str(money(0.1 + 0.2, "x"))) == len("0.30000000000000004")


@pytest.mark.parametrize("value", [None, "", "   "])
def test_money_missing_is_an_error_or_the_default(value: Any) -> None:
    with pytest.raises(MappingError, match=r"^total_price: missing$"):
        money(value, "total_price")
    assert money(value, "total_price", default=Decimal("0")) == Decimal("0")
    assert opt_money(value, "total_price") is None


@pytest.mark.parametrize(
    "value", ["abc", "1,50", True, False, float("nan"), float("inf"), "NaN", "-Infinity", [1], {}]
)
def test_money_refuses_what_is_not_an_amount(value: Any) -> None:
    with pytest.raises(MappingError) as info:
        money(value, "line_items[0].price")
    assert info.value.path == "line_items[0].price"
    assert info.value.message.startswith("not a decimal amount")


def test_opt_money_converts_present_values() -> None:
    assert opt_money("2.50", "x") == Decimal("2.50")
    with pytest.raises(MappingError, match="not a decimal amount"):
        opt_money("x", "x")


# --------------------------------------------------------------------------- scalars


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   \t\n", None),
        (" Bob ", "Bob"),
        ("#1001", "#1001"),
        (40202, "40202"),
        (207119551, "207119551"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (Decimal("2.50"), "2.50"),
        (True, "true"),
        (False, "false"),
    ],
)
def test_opt_str(value: Any, expected: str | None) -> None:
    assert opt_str(value) == expected


@pytest.mark.parametrize("value", [{}, [], {"a": 1}])
def test_opt_str_refuses_containers(value: Any) -> None:
    with pytest.raises(MappingError, match=r"^customer\.email: not a string$"):
        opt_str(value, "customer.email")


def test_join_name() -> None:
    assert join_name("Bob", "Norman") == "Bob Norman"
    assert join_name(" Bob ", None, "", "  Norman") == "Bob Norman"
    assert join_name(None, "") is None
    assert join_name() is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2, 2),
        (0, 0),
        (-1, -1),
        ("2", 2),
        (" 3 ", 3),
        (2.0, 2),
        ("2.0000", 2),
        (Decimal("3"), 3),
        (10**12, 10**12),
    ],
)
def test_integer_accepts_whole_numbers(value: Any, expected: int) -> None:
    result = integer(value, "x")
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "value", [True, False, 1.5, "1.5", "two", "", [], {}, float("nan"), float("inf"), Decimal("0.5")]
)
def test_integer_refuses_non_integers(value: Any) -> None:
    with pytest.raises(MappingError, match=r"^line_items\[0\]\.quantity: not an integer$"):
        integer(value, "line_items[0].quantity")


def test_integer_missing_and_minimum() -> None:
    with pytest.raises(MappingError, match=r"^q: missing$"):
        integer(None, "q")
    with pytest.raises(MappingError, match=r"^q: must be at least 1$"):
        integer(0, "q", minimum=1)
    assert integer(1, "q", minimum=1) == 1


def test_boolean() -> None:
    assert boolean(True, "taxes_included") is True
    assert boolean(False, "taxes_included", default=True) is False
    assert boolean(None, "taxes_included", default=False) is False
    with pytest.raises(MappingError, match=r"^taxes_included: missing$"):
        boolean(None, "taxes_included")
    for value in ("true", 1, 0, "false"):
        with pytest.raises(MappingError, match=r"^taxes_included: not a boolean$"):
            boolean(value, "taxes_included")


def test_currency_code() -> None:
    assert currency_code("USD", "currency") == "USD"
    assert currency_code(" eur ", "currency") == "EUR"
    with pytest.raises(MappingError, match=r"^currency: missing$"):
        currency_code("", "currency")
    for value in ("US", "US$", "EURO", "€"):
        with pytest.raises(MappingError, match=r"^currency: not an ISO 4217 currency code"):
            currency_code(value, "currency")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("vip", ["vip"]),
        (" gift,  ,vip ,", ["gift", "vip"]),
        ("Léon, Noël", ["Léon", "Noël"]),
        (["a", " b ", "", None], ["a", "b"]),
    ],
)
def test_split_tags(value: Any, expected: list[str]) -> None:
    assert split_tags(value, "tags") == expected


def test_split_tags_refuses_other_shapes() -> None:
    with pytest.raises(MappingError, match=r"^tags: not a string or an array of strings$"):
        split_tags({"a": 1}, "tags")
    with pytest.raises(MappingError, match=r"^tags\[1\]: not a string$"):
        split_tags(["a", {}], "tags")


# --------------------------------------------------------------------------- times


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2008-01-10T11:00:00-05:00", datetime(2008, 1, 10, 16, 0, tzinfo=UTC)),
        ("2025-07-02T11:31:25-05:00", datetime(2025, 7, 2, 16, 31, 25, tzinfo=UTC)),
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T05:30:00+05:30", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2025-12-31T23:30:00-01:00", datetime(2026, 1, 1, 0, 30, tzinfo=UTC)),
        ("2026-01-01T00:00:00.250Z", datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)),
        ("2026-01-01 00:00:00+00:00", datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_to_utc_converts_offsets(text: str, expected: datetime) -> None:
    result = to_utc(text, "created_at")
    assert result == expected
    assert result.utcoffset() == timedelta(0)
    assert result.tzinfo is UTC


@pytest.mark.parametrize("text", ["2008-01-10T11:00:00", "2008-01-10 11:00:00"])
def test_to_utc_refuses_naive_times(text: str) -> None:
    with pytest.raises(MappingError) as info:
        to_utc(text, "created_at")
    assert info.value.path == "created_at"
    assert info.value.message.startswith("no UTC offset")


def test_to_utc_can_assume_utc_for_naive_times() -> None:
    result = to_utc("2008-01-10 11:00:00", "created_at", assume_utc_if_naive=True)
    assert result == datetime(2008, 1, 10, 11, 0, tzinfo=UTC)
    assert result.tzinfo is UTC
    # an explicit offset still wins
    assert to_utc("2008-01-10T11:00:00-05:00", "x", assume_utc_if_naive=True).hour == 16


@pytest.mark.parametrize(
    "text", ["2008-01-10", "yesterday", "10/01/2008 11:00", "2008-13-40T11:00:00Z", 1199980800, []]
)
def test_to_utc_refuses_what_is_not_a_date_time(text: Any) -> None:
    with pytest.raises(MappingError) as info:
        to_utc(text, "updated_at")
    assert info.value.message.startswith("not an ISO 8601 date-time")


@pytest.mark.parametrize("text", [None, "", "  "])
def test_to_utc_missing(text: Any) -> None:
    with pytest.raises(MappingError, match=r"^updated_at: missing$"):
        to_utc(text, "updated_at")


# --------------------------------------------------------------------------- countries


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("US", "US"),
        ("us", "US"),
        (" de ", "DE"),
        ("UK", "GB"),
        ("XK", "XK"),
        ("DEU", "DE"),
        ("usa", "US"),
        ("GBR", "GB"),
        ("United States", "US"),
        ("United States of America", "US"),
        ("United Kingdom", "GB"),
        ("germany", "DE"),
        ("GERMANY", "DE"),
        ("Czech Republic", "CZ"),
        ("Bolivia", "BO"),
        ("South Korea", "KR"),
        ("Russia", "RU"),
        ("Turkey", "TR"),
        ("Türkiye", "TR"),
        ("The Netherlands", "NL"),
        ("Réunion", "RE"),
        ("Reunion", "RE"),
        ("Côte d'Ivoire", "CI"),
        ("Ivory Coast", "CI"),
        ("St. Lucia", "LC"),
        ("Bosnia & Herzegovina", "BA"),
        ("Kosovo", "XK"),
    ],
)
def test_country_code_converts_codes_and_names(value: str, expected: str) -> None:
    assert country_code(value) == expected


@pytest.mark.parametrize(
    "value", [None, "", "  ", "ZZ", "QQ", "Atlantis", "Korea", "840", "U", "Germny", 840, ["US"]]
)
def test_country_code_unknown_is_none(value: Any) -> None:
    assert country_code(value) is None
