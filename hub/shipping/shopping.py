"""Rate shopping as the API and the pages ask for it: every enabled carrier connection at
once, the rules' decision, and (for a shipment) everything stored with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from hub import tables as t
from hub.crypto import SecretBox
from hub.db import Database
from hub.shipping.document import dump_quote
from hub.shipping.errors import not_found
from hub.shipping.live import rate_targets, rating_connections
from hub.shipping.model import RateRequest
from hub.shipping.rateshop import CarrierFailure, ShopOutcome, shop
from hub.shipping.rules import Choice, Decision, Offer, RuleSet, decide, rules_json
from hub.shipping.rulesets import rules_for_order
from hub.shipping.shipments import rate_request


@dataclass(frozen=True)
class ShopResult:
    outcome: ShopOutcome
    decision: Decision
    rules: RuleSet
    scope: str
    shop_id: int | None = None

    def json(self) -> dict[str, Any]:
        return shop_json(self)


def offer_json(offer: Offer, rules: RuleSet, *, with_ref: bool = False) -> dict[str, Any]:
    """A quote as the API shows it (``carrier_ref`` only in the stored form)."""
    from hub.shipping.rules import price

    out = dump_quote(offer.quote)
    out["connection_id"] = offer.connection_id
    out["connection_name"] = offer.connection_name
    out["price"] = format(price(offer.quote.amount, rules), "f")
    if with_ref:
        out["carrier_ref"] = offer.quote.carrier_ref
    return out


def choice_json(choice: Choice | None, rules: RuleSet, *, with_ref: bool = False) -> dict[str, Any] | None:
    if choice is None:
        return None
    out = offer_json(choice.offer, rules, with_ref=with_ref)
    out["price"] = format(choice.price, "f")
    out["arrival"] = None if choice.arrival is None else choice.arrival.isoformat()
    return out


def failure_json(failure: CarrierFailure) -> dict[str, Any]:
    return {
        "connection_id": failure.connection_id,
        "connection_name": failure.connection_name,
        "carrier": failure.carrier,
        "reason": failure.reason,
        "message": failure.message,
        "elapsed_ms": failure.elapsed_ms,
    }


def shop_json(result: ShopResult, *, with_ref: bool = False) -> dict[str, Any]:
    quotes = []
    for index, offer in enumerate(result.outcome.offers):
        quote = offer_json(offer, result.rules, with_ref=with_ref)
        quote["excluded"] = result.decision.excluded.get(index)
        quotes.append(quote)
    return {
        "shop_id": result.shop_id,
        "rule_scope": result.scope,
        "rules": rules_json(result.rules),
        "quotes": quotes,
        "failures": [failure_json(f) for f in result.outcome.failures],
        "choices": {k: choice_json(c, result.rules) for k, c in result.decision.choices.items()},
        "chosen": choice_json(result.decision.chosen, result.rules),
        "elapsed_ms": round(result.outcome.elapsed_ms),
    }


def run_shop(
    db: Database,
    box: SecretBox,
    public_url: str,
    request: RateRequest,
    rules: RuleSet,
    scope: str,
    connection_ids: list[int] | None = None,
) -> ShopResult:
    with db.session() as session:
        rows = rating_connections(session, connection_ids)
        session.expunge_all()
    targets, broken = rate_targets(db, box, public_url, rows)
    outcome = shop(targets, request)
    for row, message in broken:
        outcome.failures.append(CarrierFailure(row.id, row.name, row.connector, "error", message, 0))
    ship_date = request.ship_date or datetime.now(UTC).date()
    return ShopResult(outcome, decide(outcome.offers, rules, ship_date), rules, scope)


def shop_shipment(
    db: Database,
    box: SecretBox,
    public_url: str,
    shipment_id: int,
    rules: RuleSet | None = None,
    connection_ids: list[int] | None = None,
) -> ShopResult:
    """Shop a stored shipment and store every quote, failure and choice with it."""
    with db.session() as session:
        shipment = session.get(t.Shipment, shipment_id)
        if shipment is None:
            raise not_found("shipment_id", f"no shipment with id {shipment_id}")
        order = session.get(t.Order, shipment.order_id)
        scope, stored_rules = rules_for_order(session, order)
        request = rate_request(shipment, f"order {order.number or order.external_id}" if order else None)
    if rules is not None:
        scope = "request"
    result = run_shop(db, box, public_url, request, rules or stored_rules, scope, connection_ids)
    stored = shop_json(result, with_ref=True)
    with db.session() as session:
        row = t.RateShop(
            shipment_id=shipment_id,
            rules={"scope": scope, **stored["rules"]},
            quotes=stored["quotes"],
            failures=stored["failures"],
            choices={
                k: choice_json(c, result.rules, with_ref=True) for k, c in result.decision.choices.items()
            },
            chosen=choice_json(result.decision.chosen, result.rules, with_ref=True),
            elapsed_ms=stored["elapsed_ms"],
        )
        session.add(row)
        session.flush()
        shop_id = row.id
    return ShopResult(result.outcome, result.decision, result.rules, scope, shop_id)


def latest_shop(db: Database, shipment_id: int) -> dict[str, Any] | None:
    """The last stored shop of a shipment (with carrier refs: for buying, not for showing)."""
    with db.session() as session:
        row = session.scalar(
            select(t.RateShop)
            .where(t.RateShop.shipment_id == shipment_id)
            .order_by(t.RateShop.id.desc())
            .limit(1)
        )
        if row is None:
            return None
        return {
            "shop_id": row.id,
            "at": row.at,
            "rules": row.rules,
            "quotes": row.quotes,
            "failures": row.failures,
            "choices": row.choices,
            "chosen": row.chosen,
            "elapsed_ms": row.elapsed_ms,
        }


def public_shop(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored shop without the carrier-side handles."""

    def strip(quote: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if quote is None else {k: v for k, v in quote.items() if k != "carrier_ref"}

    out = dict(stored)
    out["quotes"] = [strip(q) for q in stored["quotes"]]
    out["choices"] = {k: strip(v) for k, v in stored["choices"].items()}
    out["chosen"] = strip(stored["chosen"])
    if isinstance(out.get("at"), datetime):
        out["at"] = out["at"].astimezone(UTC).isoformat().replace("+00:00", "Z")
    return out
