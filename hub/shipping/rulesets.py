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
    scopes = scope_chain(None, None) if order is None else scope_chain(order.connection_id, order.channel)
    rows = {
        r.scope: r
        for r in session.scalars(select(t.ShippingRuleSet).where(t.ShippingRuleSet.scope.in_(scopes)))
    }
    for scope in scopes:
        if scope in rows:
            return scope, rules_from_json(rows[scope].rules)
    return "built-in", RuleSet()


# -- for the rule-set page: every bad field at once, and which rule set applies where ---------


class RuleSetInvalid(ShippingError):
    """A rule set refused by ``RuleSetSchema`` (the API's own check): names the first bad field
    and keeps every bad field's message in ``errors`` (top-level field → message) for a form."""

    def __init__(self, errors: dict[str, str]) -> None:
        field, message = next(iter(errors.items()))
        super().__init__(field, message)
        self.errors = errors


def parse_rule_set(body: dict[str, Any]) -> RuleSet:
    """A rule set from a JSON-shaped body by the rules of ``PUT /api/v1/rule-sets/<scope>``
    (``RuleSetSchema``, then ``schemas.rule_set``); raises ``RuleSetInvalid`` naming every bad
    field (top-level name → message; a bad list entry is named by its position)."""
    from marshmallow import ValidationError

    from hub.shipping import schemas

    try:
        loaded = schemas.RuleSetSchema().load(body)
    except ValidationError as exc:
        raise RuleSetInvalid(_field_messages(exc.messages)) from None
    return schemas.rule_set(loaded)


def _field_messages(messages: dict[str, Any]) -> dict[str, str]:
    from hub.shipping.schemas import _first

    errors: dict[str, str] = {}
    for name, value in messages.items():
        path, message = _first(value, str(name))
        message = message.rstrip(".")
        message = message[0].lower() + message[1:] if message else "is not valid"
        field = str(name) if name != "_schema" else path
        _, _, index = path.partition(".")
        errors[field] = f"entry {int(index) + 1}: {message}" if index.isdigit() else message
    return errors


def scope_chain(connection_id: int | None, channel: str | None) -> list[str]:
    """The scopes an order's shop looks at, first match wins."""
    if connection_id is None:
        return ["default"]
    return [f"connection:{connection_id}", f"channel:{channel}", "default"]


def applied_scope(stored: set[str], connection_id: int, channel: str) -> str:
    """Which stored scope a channel connection's orders are shopped under (``built-in``: none)."""
    return next((s for s in scope_chain(connection_id, channel) if s in stored), "built-in")
