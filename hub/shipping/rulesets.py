"""Stored rate-shop rule sets: one per scope (``connection:<id>``, ``channel:<name>`` or
``default``); an order's shop uses its channel connection's, else its channel's, else the default."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.model import CHANNELS
from hub.shipping.errors import ShippingError, not_found
from hub.shipping.rules import RuleSet, rules_from_json, rules_json

SCOPE = re.compile(r"default|channel:[a-z_]+|connection:[0-9]{1,9}")


def check_scope(session: Session, scope: str) -> str:
    if not SCOPE.fullmatch(scope):
        raise ShippingError("scope", "must be default, channel:<name> or connection:<id>")
    kind, _, value = scope.partition(":")
    if kind == "channel" and value not in CHANNELS:
        raise ShippingError("scope", f"{value!r} is not a channel ({', '.join(CHANNELS)})")
    if kind == "connection" and session.get(t.Connection, int(value)) is None:
        raise not_found("scope", f"no connection with id {value}")
    return scope


def get_rule_set(session: Session, scope: str) -> RuleSet | None:
    row = session.scalar(select(t.ShippingRuleSet).where(t.ShippingRuleSet.scope == scope))
    return None if row is None else rules_from_json(row.rules)


def put_rule_set(session: Session, scope: str, rules: RuleSet) -> dict[str, Any]:
    check_scope(session, scope)
    row = session.scalar(select(t.ShippingRuleSet).where(t.ShippingRuleSet.scope == scope))
    if row is None:
        row = t.ShippingRuleSet(scope=scope, rules=rules_json(rules))
        session.add(row)
    else:
        row.rules = rules_json(rules)
    session.flush()
    return {"scope": scope, "rules": row.rules}


def delete_rule_set(session: Session, scope: str) -> bool:
    row = session.scalar(select(t.ShippingRuleSet).where(t.ShippingRuleSet.scope == scope))
    if row is None:
        return False
    session.delete(row)
    return True


def list_rule_sets(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(t.ShippingRuleSet).order_by(t.ShippingRuleSet.scope))
    return [{"scope": r.scope, "rules": r.rules} for r in rows]


def rules_for_order(session: Session, order: t.Order | None) -> tuple[str, RuleSet]:
    """The scope that applies to an order's shipment, and its rules."""
    scopes = ["default"]
    if order is not None:
        scopes = [f"connection:{order.connection_id}", f"channel:{order.channel}", "default"]
    rows = {
        r.scope: r
        for r in session.scalars(select(t.ShippingRuleSet).where(t.ShippingRuleSet.scope.in_(scopes)))
    }
    for scope in scopes:
        if scope in rows:
            return scope, rules_from_json(rows[scope].rules)
    return "built-in", RuleSet()
