"""Filters the pages use."""

from __future__ import annotations

from decimal import Decimal

from hub.web import money


def test_money_shows_cents_and_never_rounds_away() -> None:
    assert money("32.3") == "32.30"
    assert money(Decimal("10")) == "10.00"
    assert money("0.125") == "0.125"
    assert money(None) == "" and money("") == ""
