"""The pure parts of the stock outbox: backoff and where a connection's stock is written."""

from __future__ import annotations

from datetime import timedelta

from hub.connectors import get_connector
from hub.inventory.sender import backoff, default_location


def test_backoff_doubles_from_30_seconds_up_to_an_hour() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (30, 60, 120)]
    assert backoff(20) == timedelta(hours=1)


def test_the_stock_location_setting_wins_over_the_connectors_one() -> None:
    woo, shopify, amazon = (get_connector(n) for n in ("woocommerce", "shopify", "amazon"))
    assert default_location(woo, {}) == "default"
    assert default_location(amazon, {}) == "DEFAULT"
    assert default_location(shopify, {}) is None  # learnt from a read
    assert default_location(shopify, {"stock_location": 7001}) == "7001"
