"""SKU mapping and its CSV files, the pure parts: listings normalised and merged, rows
checked one by one with their line numbers."""

from __future__ import annotations

import pytest

from hub.inventory.csvio import CsvError, StockRow, parse_mappings, parse_stock, to_csv
from hub.inventory.skumap import Listing, MappingError, as_listing, merge_listings


def test_a_listing_is_trimmed_and_its_ids_are_strings() -> None:
    assert as_listing({"sku": "  A-1 ", "product_id": 7, "variant_id": " ", "listing_id": None}) == Listing(
        "A-1", "7", None, None
    )
    assert as_listing({"channel_sku": "B", "sku": "ignored"}) == Listing("B")
    assert as_listing({"sku": "  "}) is None
    assert as_listing({"product_id": 1}) is None
    with pytest.raises(MappingError) as err:
        as_listing({"sku": "x" * 201})
    assert err.value.field == "channel_sku"


def test_listings_of_one_sku_merge_later_ids_winning() -> None:
    merged = merge_listings(
        [
            {"sku": "A", "product_id": "1", "variant_id": "2"},
            Listing("B"),
            {"sku": "A ", "variant_id": "3", "listing_id": "L"},
            {"sku": ""},
        ]
    )
    assert merged == {"A": Listing("A", "1", "3", "L"), "B": Listing("B")}


def test_stock_csv_rows_are_read_with_their_line_numbers() -> None:
    text = "\ufeffSKU, Location ,on_hand,name\nA-1,main,10,Mug\n\nB/2, store ,0,\n"
    assert parse_stock(text) == [StockRow(2, "A-1", "main", 10), StockRow(4, "B/2", "store", 0)]


def test_every_bad_stock_row_is_reported() -> None:
    text = "sku,location,on_hand\nA,main,-1\n,main,2\nA,main,3\nA,main,4\nB,,x\nC,main,1.5\n"
    with pytest.raises(CsvError) as err:
        parse_stock(text)
    assert err.value.errors == [
        (2, "on_hand must be a whole number from 0 to 1000000000 (got '-1')"),
        (3, "sku is empty"),
        (5, "sku 'A' at 'main' is already on line 4"),
        (6, "location is empty; on_hand must be a whole number from 0 to 1000000000 (got 'x')"),
        (7, "on_hand must be a whole number from 0 to 1000000000 (got '1.5')"),
    ]


def test_a_header_without_the_columns_is_refused() -> None:
    with pytest.raises(CsvError) as err:
        parse_stock("sku,qty\nA,1\n")
    assert err.value.errors == [
        (1, "header must name the columns sku, location, on_hand (missing: location, on_hand)")
    ]
    with pytest.raises(CsvError):
        parse_mappings("")


def test_mapping_rows() -> None:
    text = "connection,channel_sku,sku,variant_id\nshop,CH-1,A,55\nshop,CH-2,,\nshop,CH-1,B,\n,X,,\n"
    with pytest.raises(CsvError) as err:
        parse_mappings(text)
    assert err.value.errors == [
        (4, "channel_sku 'CH-1' of 'shop' is already on line 2"),
        (5, "connection is empty"),
    ]
    rows = parse_mappings("connection,channel_sku,sku\nshop,CH-1,A\nshop,CH-2,\n")
    assert [(r.line, r.channel_sku, r.sku, r.variant_id) for r in rows] == [
        (2, "CH-1", "A", None),
        (3, "CH-2", None, None),
    ]


def test_csv_output_quotes_what_needs_it() -> None:
    out = "".join(to_csv(("a", "b"), iter([("x,y", None), ('say "hi"', 3)])))
    assert out == 'a,b\n"x,y",\n"say ""hi""",3\n'
