"""Pure rate-shop rules: which quotes may be chosen, what each costs after markup, and
which one each strategy picks (cheapest, fastest, cheapest arriving by a date).

A rule set filters by carrier and service (allow lists, then deny lists), prices every
quote (``amount * (1 + percent/100) + fixed``, never under ``minimum``) and picks by its
``strategy``; the picks of the other strategies are reported beside it. Quotes in another
currency than the rule set's (when it names one) are left out: amounts are never converted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from hub.shipping.model import RateQuote

Strategy = Literal["cheapest", "fastest", "cheapest_by_date"]
STRATEGIES: tuple[str, ...] = ("cheapest", "fastest", "cheapest_by_date")
CENT = Decimal("0.01")
ZERO = Decimal(0)


@dataclass(frozen=True)
class RuleSet:
    strategy: Strategy = "cheapest"
    deliver_by: date | None = None  # for cheapest_by_date
    carriers_allow: tuple[str, ...] = ()  # empty: every carrier
    carriers_deny: tuple[str, ...] = ()
    #: ``carrier:service_code`` or a bare ``service_code`` (any carrier)
    services_allow: tuple[str, ...] = ()
    services_deny: tuple[str, ...] = ()
    markup_percent: Decimal = ZERO
    markup_fixed: Decimal = ZERO
    minimum: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class Offer:
    """A quote and the carrier connection it came from."""

    connection_id: int
    connection_name: str
    quote: RateQuote


@dataclass(frozen=True)
class Choice:
    strategy: str
    offer: Offer
    price: Decimal
    arrival: date | None


@dataclass(frozen=True)
class Decision:
    """What a rule set makes of a shop: the chosen offer, each strategy's pick, and why
    each left-out offer was left out (keyed by its position in the list)."""

    chosen: Choice | None
    choices: dict[str, Choice | None]
    excluded: dict[int, str] = field(default_factory=dict)


def price(amount: Decimal, rules: RuleSet) -> Decimal:
    """What the quote costs under the rule set's markup and minimum, to the cent."""
    marked = amount * (1 + rules.markup_percent / 100) + rules.markup_fixed
    if rules.minimum is not None:
        marked = max(marked, rules.minimum)
    return marked.quantize(CENT, rounding=ROUND_HALF_UP)


def add_business_days(start: date, days: int) -> date:
    """``days`` working days (Monday to Friday) after ``start``."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def arrival(quote: RateQuote, ship_date: date) -> date | None:
    """When the quote should arrive: the carrier's date, else its transit days from the ship date."""
    if quote.estimated_delivery is not None:
        return quote.estimated_delivery
    if quote.estimated_days is not None:
        return add_business_days(ship_date, quote.estimated_days)
    return None


def _matches(entries: tuple[str, ...], quote: RateQuote) -> bool:
    return any(e in (quote.service_code, f"{quote.carrier}:{quote.service_code}") for e in entries)


def exclusion(quote: RateQuote, rules: RuleSet) -> str | None:
    """Why the rule set leaves this quote out, or None."""
    if rules.currency and quote.currency != rules.currency:
        return f"currency {quote.currency} is not {rules.currency}"
    if rules.carriers_allow and quote.carrier not in rules.carriers_allow:
        return f"carrier {quote.carrier} is not allowed"
    if quote.carrier in rules.carriers_deny:
        return f"carrier {quote.carrier} is denied"
    if rules.services_allow and not _matches(rules.services_allow, quote):
        return f"service {quote.carrier}:{quote.service_code} is not allowed"
    if _matches(rules.services_deny, quote):
        return f"service {quote.carrier}:{quote.service_code} is denied"
    return None


def _tie_break(choice: Choice) -> tuple[str, str, int]:
    q = choice.offer.quote
    return (q.carrier, q.service_code, choice.offer.connection_id)


def _cheapest(candidates: list[Choice]) -> Choice | None:
    return min(candidates, key=lambda c: (c.price, c.arrival or date.max, *_tie_break(c)), default=None)


def _fastest(candidates: list[Choice]) -> Choice | None:
    dated = [c for c in candidates if c.arrival is not None]
    return min(dated, key=lambda c: (c.arrival, c.price, *_tie_break(c)), default=None)


def decide(offers: list[Offer], rules: RuleSet, ship_date: date) -> Decision:
    excluded: dict[int, str] = {}
    candidates: list[Choice] = []
    for index, offer in enumerate(offers):
        reason = exclusion(offer.quote, rules)
        if reason is not None:
            excluded[index] = reason
            continue
        candidates.append(
            Choice("", offer, price(offer.quote.amount, rules), arrival(offer.quote, ship_date))
        )
    by_date = None
    if rules.deliver_by is not None:
        deliver_by = rules.deliver_by
        by_date = _cheapest([c for c in candidates if c.arrival is not None and c.arrival <= deliver_by])
    picks = {"cheapest": _cheapest(candidates), "fastest": _fastest(candidates), "cheapest_by_date": by_date}
    choices = {
        name: None if pick is None else Choice(name, pick.offer, pick.price, pick.arrival)
        for name, pick in picks.items()
    }
    return Decision(chosen=choices[rules.strategy], choices=choices, excluded=excluded)


# -- the stored (JSON) form ----------------------------------------------------------------


def rules_json(rules: RuleSet) -> dict[str, Any]:
    return {
        "strategy": rules.strategy,
        "deliver_by": None if rules.deliver_by is None else rules.deliver_by.isoformat(),
        "carriers_allow": list(rules.carriers_allow),
        "carriers_deny": list(rules.carriers_deny),
        "services_allow": list(rules.services_allow),
        "services_deny": list(rules.services_deny),
        "markup_percent": format(rules.markup_percent, "f"),
        "markup_fixed": format(rules.markup_fixed, "f"),
        "minimum": None if rules.minimum is None else format(rules.minimum, "f"),
        "currency": rules.currency,
    }


def rules_from_json(data: dict[str, Any]) -> RuleSet:
    """A rule set from its stored form (already validated when it was stored)."""
    deliver_by = data.get("deliver_by")
    minimum = data.get("minimum")
    return RuleSet(
        strategy=data.get("strategy") or "cheapest",
        deliver_by=None if not deliver_by else date.fromisoformat(deliver_by),
        carriers_allow=tuple(data.get("carriers_allow") or ()),
        carriers_deny=tuple(data.get("carriers_deny") or ()),
        services_allow=tuple(data.get("services_allow") or ()),
        services_deny=tuple(data.get("services_deny") or ()),
        markup_percent=Decimal(str(data.get("markup_percent") or 0)),
        markup_fixed=Decimal(str(data.get("markup_fixed") or 0)),
        minimum=None if minimum in (None, "") else Decimal(str(minimum)),
        currency=data.get("currency") or None,
    )
