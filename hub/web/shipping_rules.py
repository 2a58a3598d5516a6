"""Rate-shop rule sets in the web UI: the stored rule sets by scope (default, per channel, per
connection), which one each channel connection's shops use, and a form to create, edit and
delete one. The form only parses and guards with CSRF: a rule set is checked by
``hub.shipping.rulesets.parse_rule_set`` (the API's ``RuleSetSchema``) and its scope by
``check_scope``, so the page and ``PUT /api/v1/rule-sets/<scope>`` never disagree."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import RadioField, SelectField, SelectMultipleField, StringField, TextAreaField, widgets
from wtforms.fields.choices import SelectChoice

from hub import tables as t
from hub.app import current_hub
from hub.model import CHANNELS
from hub.shipping.errors import ShippingError
from hub.shipping.model import CARRIERS
from hub.shipping.rules import STRATEGIES, RuleSet
from hub.shipping.rulesets import (
    RuleSetInvalid,
    applied_scope,
    check_scope,
    delete_rule_set,
    get_rule_set,
    list_rule_sets,
    parse_rule_set,
    put_rule_set,
)

bp = Blueprint("shipping_rules", __name__, url_prefix="/shipping-rules")

STRATEGY_TEXT: dict[str, tuple[str, str]] = {
    "cheapest": (
        "Cheapest",
        "The lowest price after markup among the quotes the lists allow; equal prices go to the "
        "earlier arrival.",
    ),
    "fastest": (
        "Fastest",
        "The earliest expected arrival (the carrier's date, else its transit days in working days from "
        "the ship date); equal arrivals go to the lower price. Quotes with no arrival estimate are "
        "never picked.",
    ),
    "cheapest_by_date": (
        "Cheapest arriving by a date",
        "The cheapest quote expected to arrive on or before the “deliver by” date. When no quote "
        "can, nothing is chosen and a person picks from the quotes (the cheapest and fastest are "
        "still shown).",
    ),
}
SPLIT = re.compile(r"[,\r\n]+")  # service codes may hold spaces, never commas


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _checkboxes(label: str, description: str) -> SelectMultipleField:
    return SelectMultipleField(
        label,
        choices=[SelectChoice(c, c) for c in CARRIERS],
        validate_choice=False,  # the schema says which carriers exist
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
        description=description,
    )


class RuleSetForm(FlaskForm):
    """Parses and renders; the rules are ``RuleSetSchema``'s (see the module docstring)."""

    scope = SelectField("Applies to", validate_choice=False)
    strategy = RadioField(
        "Strategy",
        choices=[SelectChoice(s, STRATEGY_TEXT[s][0]) for s in STRATEGIES],
        default="cheapest",
        validate_choice=False,
    )
    deliver_by = StringField(
        "Deliver by",
        filters=[_strip],
        description="A date (YYYY-MM-DD): needed by “cheapest arriving by a date”; with another "
        "strategy its pick is only reported beside the chosen quote.",
    )
    carriers_allow = _checkboxes("Only these carriers", "None ticked: every carrier.")
    carriers_deny = _checkboxes("Never these carriers", "")
    services_allow = TextAreaField(
        "Only these services",
        filters=[_strip],
        description="Service codes, comma or line separated: carrier:code (ups:03) or a bare code "
        "(any carrier). Blank: every service.",
    )
    services_deny = TextAreaField("Never these services", filters=[_strip], description="Same form.")
    markup_percent = StringField(
        "Markup, percent", filters=[_strip], description="Added to each quote: -100 to 1000. Blank: 0."
    )
    markup_fixed = StringField(
        "Markup, fixed amount", filters=[_strip], description="Added after the percentage. Blank: 0."
    )
    minimum = StringField(
        "Minimum price", filters=[_strip], description="No quote is priced under this. Blank: no minimum."
    )
    currency = StringField(
        "Currency",
        filters=[_strip],
        description="ISO 4217 code (USD): quotes in any other currency are left out, never converted. "
        "Blank: every currency.",
    )


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


def _entries(text: str | None) -> list[str]:
    return [entry.strip() for entry in SPLIT.split(text or "") if entry.strip()]


def form_body(form: RuleSetForm) -> dict[str, Any]:
    """The form as the JSON body ``PUT /api/v1/rule-sets/<scope>`` takes (blank: left to the default)."""
    body: dict[str, Any] = {
        "carriers_allow": list(form.carriers_allow.data or []),
        "carriers_deny": list(form.carriers_deny.data or []),
        "services_allow": _entries(form.services_allow.data),
        "services_deny": _entries(form.services_deny.data),
        "deliver_by": form.deliver_by.data or None,
        "minimum": form.minimum.data or None,
        "currency": form.currency.data or None,
    }
    for name in ("strategy", "markup_percent", "markup_fixed"):
        if form[name].data:
            body[name] = form[name].data
    return body


def form_data(rules: dict[str, Any]) -> dict[str, Any]:
    """A stored rule set (its JSON form) as the form's fields."""
    return {
        "strategy": rules["strategy"],
        "deliver_by": rules["deliver_by"] or "",
        "carriers_allow": rules["carriers_allow"],
        "carriers_deny": rules["carriers_deny"],
        "services_allow": ", ".join(rules["services_allow"]),
        "services_deny": ", ".join(rules["services_deny"]),
        "markup_percent": rules["markup_percent"],
        "markup_fixed": rules["markup_fixed"],
        "minimum": rules["minimum"] or "",
        "currency": rules["currency"] or "",
    }


def summary(rules: dict[str, Any]) -> list[str]:
    """A stored rule set in a few words per rule (pure)."""
    parts = [STRATEGY_TEXT[rules["strategy"]][0]]
    if rules["deliver_by"]:
        parts.append(f"deliver by {rules['deliver_by']}")
    for key, text in (
        ("carriers_allow", "only carriers"),
        ("carriers_deny", "never carriers"),
        ("services_allow", "only services"),
        ("services_deny", "never services"),
    ):
        if rules[key]:
            parts.append(f"{text} {', '.join(rules[key])}")
    if rules["markup_percent"] not in ("0", "0.00") or rules["markup_fixed"] not in ("0", "0.00"):
        parts.append(f"markup {rules['markup_percent']} % + {rules['markup_fixed']}")
    if rules["minimum"] is not None:
        parts.append(f"at least {rules['minimum']}")
    if rules["currency"]:
        parts.append(f"{rules['currency']} quotes only")
    return parts


@dataclass(frozen=True)
class ChannelConnection:
    id: int
    name: str
    channel: str
    enabled: bool
    applied: str  # the scope its shops use, or "built-in"


@dataclass(frozen=True)
class Overview:
    stored: dict[str, dict[str, Any]]  # scope → rules (JSON form)
    connections: list[ChannelConnection]
    names: dict[int, str]  # every connection's name by id

    def label(self, scope: str) -> str:
        kind, _, value = scope.partition(":")
        if kind == "channel":
            return f"Channel {value}"
        if kind == "connection":
            name = self.names.get(int(value))
            return f"Connection {name}" if name else f"Connection {value} (deleted)"
        return {"default": "Default", "built-in": "Built-in (cheapest, no markup)"}.get(scope, scope)

    def users(self, scope: str) -> list[ChannelConnection]:
        return [c for c in self.connections if c.applied == scope]

    def group(self, kind: str) -> list[str]:
        return [s for s in self.stored if s.partition(":")[0] == kind]


def overview(session: Session) -> Overview:
    stored = {r["scope"]: r["rules"] for r in list_rule_sets(session)}
    rows = session.execute(
        select(
            t.Connection.id,
            t.Connection.name,
            t.Connection.kind,
            t.Connection.connector,
            t.Connection.enabled,
        ).order_by(t.Connection.name)
    ).all()
    connections = [
        ChannelConnection(r.id, r.name, r.connector, r.enabled, applied_scope(set(stored), r.id, r.connector))
        for r in rows
        if r.kind == "channel"
    ]
    return Overview(stored, connections, {r.id: r.name for r in rows})


def _scope_choices(view: Overview) -> list[SelectChoice]:
    """Scopes a new rule set may take: those with none stored yet."""
    scopes = [
        "default",
        *(f"channel:{c}" for c in CHANNELS),
        *(f"connection:{c.id}" for c in view.connections),
    ]
    return [SelectChoice(s, view.label(s)) for s in scopes if s not in view.stored]


@bp.before_request
@login_required
def _login() -> None:
    return None


@bp.get("/")
def index() -> str:
    with current_hub().db.session() as session:
        view = overview(session)
    return render_template(
        "shipping_rules.html",
        view=view,
        summary=summary,
        strategies=STRATEGY_TEXT,
        action_form=ActionForm(),
    )


def _render_form(view: Overview, form: RuleSetForm, scope: str | None, status: int) -> tuple[str, int]:
    html = render_template(
        "shipping_rules_form.html",
        view=view,
        form=form,
        scope=scope,
        stored=None if scope is None else view.stored.get(scope),
        summary=summary,
        strategies=STRATEGY_TEXT,
        action_form=ActionForm(),
    )
    return html, status


def _checked(session: Session, form: RuleSetForm, scope: str) -> RuleSet | None:
    """The form's rule set for ``scope``, or None with every error set on its field."""
    ok = True
    try:
        check_scope(session, scope)
    except ShippingError as exc:
        form.scope.errors = [*form.scope.errors, exc.message]
        ok = False
    try:
        rules = parse_rule_set(form_body(form))
    except RuleSetInvalid as exc:
        for name, message in exc.errors.items():
            target = next((f for f in form if f.name == name), form.strategy)
            target.errors = [*target.errors, message]
        return None
    return rules if ok else None


def _save(form: RuleSetForm, scope: str, *, new: bool) -> bool:
    """Store the form's rule set for ``scope`` in one transaction; False (errors on the form,
    nothing stored) when it is refused."""

    def work(session: Session) -> bool:
        rules = _checked(session, form, scope)
        if rules is None:
            return False
        if new and get_rule_set(session, scope) is not None:
            form.scope.errors = [*form.scope.errors, "already has a rule set: edit that one"]
            return False
        put_rule_set(session, scope, rules)
        return True

    return current_hub().db.transaction(work)


@bp.route("/new", methods=["GET", "POST"])
def new() -> Response | tuple[str, int]:
    with current_hub().db.session() as session:
        view = overview(session)
    form = RuleSetForm()
    form.scope.choices = _scope_choices(view)
    if request.method == "GET":
        wanted = request.args.get("scope")
        if wanted:
            form.scope.data = wanted
        return _render_form(view, form, None, 200)
    scope = form.scope.data or ""
    if form.validate_on_submit() and _save(form, scope, new=True):
        flash(f"Rule set for {view.label(scope)} saved.", "ok")
        return redirect(url_for(".index"))
    return _render_form(view, form, None, 400)


@bp.route("/<scope>", methods=["GET", "POST"])
def edit(scope: str) -> Response | tuple[str, int]:
    """Edit the rule set of ``scope``, or create it when none is stored yet."""
    with current_hub().db.session() as session:
        try:
            check_scope(session, scope)
        except ShippingError:
            abort(404)
        view = overview(session)
    stored = view.stored.get(scope)
    if request.method == "GET":
        form = RuleSetForm(data=form_data(stored) if stored else None)
        return _render_form(view, form, scope, 200)
    form = RuleSetForm()
    form.scope.data = scope
    if form.validate_on_submit() and _save(form, scope, new=False):
        flash(f"Rule set for {view.label(scope)} saved.", "ok")
        return redirect(url_for(".index"))
    return _render_form(view, form, scope, 400)


@bp.post("/<scope>/delete")
def delete(scope: str) -> Response:
    """Delete a stored rule set (also one whose connection is gone); shops fall back to the next scope."""
    if not ActionForm().validate_on_submit():
        abort(400)
    if not current_hub().db.transaction(lambda session: delete_rule_set(session, scope)):
        abort(404)
    flash(f"Rule set for {scope} deleted.", "ok")
    return redirect(url_for(".index"))
