"""Shipments in the web UI: create one from an order, get rates, buy, show and void the label."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from hub import tables as t
from hub.app import current_hub
from hub.shipping.errors import ShippingError
from hub.shipping.labels import current_purchase, purchase_label, settle_by_hand, void_label
from hub.shipping.model import Parcel
from hub.shipping.shipments import WantedLine, create_shipment
from hub.shipping.shopping import latest_shop, public_shop, shop_shipment
from hub.shipping.views import shipment_json

bp = Blueprint("shipments", __name__)
STATE_TEXT = {
    "none": "no label yet",
    "purchasing": "buying the label…",
    "labelled": "label bought",
    "unknown": "the carrier's answer was lost: the hub is checking before any retry",
    "check_with_carrier": "check with the carrier whether this label was bought (not bought again)",
    "failed": "the carrier refused the purchase",
    "voided": "label voided",
}


@bp.before_request
@login_required
def _login() -> None:
    return None


def _int(value: str | None, field: str, *, required: bool = False, low: int = 1) -> int | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise ShippingError(field, "is required")
        return None
    if not text.isdigit() or int(text) < low:
        raise ShippingError(field, f"must be a whole number of at least {low}")
    return int(text)


def _new_page(order: t.Order, locations: list[t.Location], error: ShippingError | None, status: int) -> Any:
    return render_template(
        "shipment_new.html", order=order, locations=locations, error=error, form=request.form
    ), status


@bp.route("/orders/<int:order_id>/shipments/new", methods=["GET", "POST"])
def new(order_id: int) -> Any:
    db = current_hub().db
    with db.session() as session:
        order = session.get(t.Order, order_id) or abort(404)
        locations = list(session.scalars(select(t.Location).order_by(t.Location.priority, t.Location.code)))
        session.expunge_all()
    if request.method == "GET":
        return _new_page(order, locations, None, 200)
    try:
        lines = []
        for index, line in enumerate(order.canonical.get("lines") or []):
            qty = _int(request.form.get(f"qty_{index}"), f"lines.{index}.quantity", low=0)
            if qty:
                lines.append(WantedLine(str(line["external_id"]), qty))
        parcel = Parcel(
            weight_g=_int(request.form.get("weight_g"), "weight_g", required=True) or 0,
            length_mm=_int(request.form.get("length_mm"), "length_mm"),
            width_mm=_int(request.form.get("width_mm"), "width_mm"),
            height_mm=_int(request.form.get("height_mm"), "height_mm"),
        )
        raw_date = (request.form.get("ship_date") or "").strip()
        try:
            ship_date = date.fromisoformat(raw_date) if raw_date else None
        except ValueError:
            raise ShippingError("ship_date", "must be a date (YYYY-MM-DD)") from None
        location = (request.form.get("location") or "").strip() or None

        def work(session: Any) -> int:
            shipment = create_shipment(
                session,
                order_id=order_id,
                parcels=[parcel],
                lines=lines or None,
                location_code=location,
                ship_date=ship_date,
                created_by=f"user:{current_user.username}",
            )
            return shipment.id

        shipment_id = db.transaction(work)
    except ShippingError as exc:
        return _new_page(order, locations, exc, 400)
    flash("Shipment created.", "ok")
    return redirect(url_for("shipments.show", shipment_id=shipment_id))


@bp.get("/shipments/<int:shipment_id>")
def show(shipment_id: int) -> str:
    hub = current_hub()
    with hub.db.session() as session:
        shipment = session.get(t.Shipment, shipment_id) or abort(404)
        doc = shipment_json(session, shipment)
        order = session.get(t.Order, shipment.order_id)
        carriers = {
            c.id: c.name for c in session.scalars(select(t.Connection).where(t.Connection.kind == "carrier"))
        }
        session.expunge_all()
    stored = latest_shop(hub.db, shipment_id)
    return render_template(
        "shipment_show.html",
        s=doc,
        order=order,
        carriers=carriers,
        shop=None if stored is None else public_shop(stored),
        state_text=STATE_TEXT.get(doc["label_state"], doc["label_state"]),
    )


@bp.post("/shipments/<int:shipment_id>/rates")
def rates(shipment_id: int) -> Response:
    hub = current_hub()
    try:
        result = shop_shipment(hub.db, hub.box, hub.settings.public_url, shipment_id)
    except ShippingError as exc:
        flash(exc.message, "error")
    else:
        failed = len(result.outcome.failures)
        flash(
            f"{len(result.outcome.offers)} quote(s); {failed} carrier(s) failed.",
            "ok" if not failed else "error",
        )
    return redirect(url_for("shipments.show", shipment_id=shipment_id))


@bp.post("/shipments/<int:shipment_id>/label")
def buy(shipment_id: int) -> Response:
    hub = current_hub()
    try:
        connection_id = _int(request.form.get("connection_id"), "connection_id", required=True) or 0
        service_code = (request.form.get("service_code") or "").strip()
        if not service_code:
            raise ShippingError("service_code", "is required")
        stored = latest_shop(hub.db, shipment_id)
        ref = next(
            (
                q.get("carrier_ref")
                for q in (stored or {}).get("quotes", [])
                if q["connection_id"] == connection_id and q["service_code"] == service_code
            ),
            None,
        )
        outcome = purchase_label(
            hub.db,
            hub.box,
            hub.settings.public_url,
            shipment_id,
            connection_id=connection_id,
            service_code=service_code,
            carrier_ref=ref,
        )
    except ShippingError as exc:
        flash(exc.message if exc.field in (None, "shipment_id") else f"{exc.field} {exc.message}", "error")
    else:
        text = STATE_TEXT.get(outcome.state, outcome.state)
        flash(
            f"Label: {text}."
            + (f" {outcome.message}" if outcome.state == "failed" and outcome.message else ""),
            "ok" if outcome.state == "labelled" else "error",
        )
    return redirect(url_for("shipments.show", shipment_id=shipment_id))


@bp.post("/shipments/<int:shipment_id>/void")
def void(shipment_id: int) -> Response:
    hub = current_hub()
    try:
        void_label(hub.db, hub.box, hub.settings.public_url, shipment_id)
    except ShippingError as exc:
        flash(exc.message, "error")
    else:
        flash("Label voided.", "ok")
    return redirect(url_for("shipments.show", shipment_id=shipment_id))


@bp.post("/shipments/<int:shipment_id>/settle")
def settle(shipment_id: int) -> Response:
    """A person checked the carrier's account for a purchase the hub could not settle."""
    hub = current_hub()
    purchase = current_purchase(hub.db, shipment_id) or abort(404)
    bought = request.form.get("outcome") == "bought"
    number = (request.form.get("tracking_number") or "").strip() if bought else None
    try:
        outcome = settle_by_hand(
            hub.db, purchase.id, tracking_number=number, who=f"user:{current_user.username}"
        )
    except ShippingError as exc:
        flash(exc.message if exc.field is None else f"{exc.field}: {exc.message}", "error")
    else:
        flash(outcome.message or f"Purchase settled: {outcome.state}.", "ok")
    return redirect(url_for("shipments.show", shipment_id=shipment_id))


@bp.get("/shipments/<int:shipment_id>/label")
def label(shipment_id: int) -> Response:
    from hub.api_shipping import label_response

    try:
        return label_response(shipment_id, inline=request.args.get("inline") == "1")
    except ShippingError:
        abort(404)
