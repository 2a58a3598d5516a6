"""Low stock, the pure parts: when a SKU is low, days of cover, crossings, the event body."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hub.inventory.lowstock import crossing, days_of_cover, event_key, is_low, low_payload
from hub.inventory.stockview import drift


@pytest.mark.parametrize(
    ("available", "reorder_point", "low"),
    [(5, 5, True), (4, 5, True), (6, 5, False), (0, 0, True), (0, None, False), (100, None, False)],
)
def test_low_is_at_or_under_the_reorder_point(available: int, reorder_point: int | None, low: bool) -> None:
    assert is_low(available, reorder_point) is low


def test_days_of_cover_is_available_over_the_daily_rate_of_30_days() -> None:
    assert days_of_cover(5, 60) == Decimal("2.5")
    assert days_of_cover(10, 30) == Decimal("10.0")
    assert days_of_cover(1, 90) == Decimal("0.3")  # 0.333… to one decimal
    assert days_of_cover(1, 80) == Decimal("0.4")  # 0.375 rounds half up
    assert days_of_cover(0, 12) == Decimal("0.0")
    assert days_of_cover(-3, 12) == Decimal("0.0")  # never negative
    assert days_of_cover(7, 14, days=7) == Decimal("3.5")
    assert days_of_cover(50, 0) is None  # no sales: no rate
    assert isinstance(days_of_cover(5, 60), Decimal)


def test_crossing_only_on_a_change_of_side() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert crossing(True, None) == "crossed"
    assert crossing(True, since) is None  # still low: no second event
    assert crossing(False, since) == "recovered"
    assert crossing(False, None) is None


def test_event_key_names_the_crossing_and_payload_is_json_ready() -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert event_key(12, at) == "stock.low:12:2026-03-04T05:06:07+00:00"
    assert event_key(12, at) != event_key(12, at.replace(second=8))
    assert low_payload("A-1", "Mug", 5, 4, 0, at) == {
        "sku": "A-1",
        "name": "Mug",
        "available": 4,
        "reorder_point": 5,
        "units_sold_30d": 0,
        "days_of_cover": None,
        "at": "2026-03-04T05:06:07Z",
    }
    assert low_payload("A-1", None, 5, 4, 60, at)["days_of_cover"] == "2.0"


def test_drift_is_what_should_show_minus_what_was_sent() -> None:
    assert drift(10, 7) == 3
    assert drift(0, 4) == -4
    assert drift(5, 5) == 0
    assert drift(5, None) is None
