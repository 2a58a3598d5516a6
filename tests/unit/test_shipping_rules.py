"""Pure rate-shop rules and the concurrent shop (no network, no database)."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest

from hub.shipping.model import Address, Parcel, RateQuote, RateRequest
from hub.shipping.rateshop import CarrierTarget, shop
from hub.shipping.rules import Offer, RuleSet, add_business_days, decide, price, rules_from_json, rules_json

MONDAY = date(2026, 6, 1)


def quote(carrier: str, code: str, amount: str, days: int | None, eta: date | None = None) -> RateQuote:
    return RateQuote(carrier, code, code, Decimal(amount), None, "USD", days, eta, False)


OFFERS = [
    Offer(1, "ups", quote("ups", "GND", "9.50", 5)),
    Offer(1, "ups", quote("ups", "AIR", "40.00", 1)),
    Offer(2, "usps", quote("usps", "PM", "12.00", 2)),
    Offer(3, "dhl", quote("dhl_express", "P", "55.00", None, date(2026, 6, 2))),
]


def test_markup_then_minimum_to_the_cent() -> None:
    rules = RuleSet(markup_percent=Decimal("10"), markup_fixed=Decimal("1.005"))
    assert price(Decimal("9.50"), rules) == Decimal("11.46")
    assert price(Decimal("1.00"), RuleSet(minimum=Decimal("5"))) == Decimal("5.00")


def test_business_days_skip_the_weekend() -> None:
    assert add_business_days(date(2026, 6, 5), 1) == date(2026, 6, 8)  # Friday + 1 → Monday


def test_each_strategy_picks_and_the_rule_set_chooses() -> None:
    decision = decide(OFFERS, RuleSet(strategy="fastest", deliver_by=date(2026, 6, 4)), MONDAY)
    picks = {k: (c.offer.quote.carrier, c.offer.quote.service_code) for k, c in decision.choices.items() if c}
    assert picks == {
        "cheapest": ("ups", "GND"),
        "fastest": ("ups", "AIR"),
        "cheapest_by_date": ("usps", "PM"),
    }
    assert decision.chosen is decision.choices["fastest"]


def test_allow_and_deny_lists_leave_quotes_out_with_a_reason() -> None:
    rules = RuleSet(carriers_deny=("dhl_express",), services_deny=("ups:GND",))
    decision = decide(OFFERS, rules, MONDAY)
    assert decision.choices["cheapest"].offer.quote.service_code == "PM"  # type: ignore[union-attr]
    assert decision.excluded == {0: "service ups:GND is denied", 3: "carrier dhl_express is denied"}
    only = decide(OFFERS, RuleSet(services_allow=("P",)), MONDAY)
    assert only.chosen is not None and only.chosen.offer.quote.carrier == "dhl_express"
    assert decide(OFFERS, RuleSet(carriers_allow=("fedex",)), MONDAY).chosen is None


def test_rule_sets_survive_their_stored_form() -> None:
    rules = RuleSet(
        "cheapest_by_date",
        date(2026, 6, 9),
        ("ups",),
        (),
        ("ups:GND",),
        (),
        Decimal("2.5"),
        Decimal("1"),
        Decimal("4.99"),
        "USD",
    )
    assert rules_from_json(rules_json(rules)) == rules


REQUEST = RateRequest(
    Address("a", "1 St", "X", "1", "US"), Address("b", "2 St", "Y", "2", "US"), (Parcel(100),)
)


def test_a_hung_or_failing_carrier_is_reported_beside_the_quotes() -> None:
    release = threading.Event()

    def hang(_r: RateRequest) -> list[RateQuote]:
        release.wait(10)
        return [quote("fedex", "LATE", "1.00", 1)]

    def fail(_r: RateRequest) -> list[RateQuote]:
        raise RuntimeError("503 Service Unavailable")

    targets = [
        CarrierTarget(1, "ups", "ups", 5.0, lambda _r: [quote("ups", "GND", "9.50", 5)]),
        CarrierTarget(2, "fedex", "fedex", 0.05, hang),
        CarrierTarget(3, "usps", "usps", 5.0, fail),
    ]
    try:
        outcome = shop(targets, REQUEST)
    finally:
        release.set()
    assert [o.quote.service_code for o in outcome.offers] == ["GND"], "the late answer is not taken"
    assert [(f.carrier, f.reason) for f in outcome.failures] == [("fedex", "timeout"), ("usps", "error")]
    assert "503" in outcome.failures[1].message
    assert set(outcome.carrier_ms) == {1}


@pytest.mark.parametrize("status", ["delivered", "cancelled", "return_to_sender"])
def test_final_states_are_not_polled(status: str) -> None:
    from datetime import UTC, datetime

    from hub.shipping.tracking import next_poll_at

    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert next_poll_at(status, now) is None
    assert next_poll_at("out_for_delivery", now) < next_poll_at("in_transit", now)  # type: ignore[operator]
