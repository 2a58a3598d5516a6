"""Orders in the web UI: filtered, paged list and the order page."""

from __future__ import annotations

import json

from flask import Blueprint, abort, render_template, request
from flask_login import login_required
from sqlalchemy import select

from hub import tables as t
from hub.app import current_hub
from hub.connectors import FieldError
from hub.inventory.skumap import unmapped_lines
from hub.model import CHANNELS, FULFILLMENT_STATUSES, PAYMENT_STATUSES, STATUSES
from hub.services.orders import OrderFilter, history_rows, list_orders, parse_filter

bp = Blueprint("orders", __name__, url_prefix="/orders")
PAGE_SIZE = 50


@bp.before_request
@login_required
def _login() -> None:
    return None


@bp.get("/")
def index() -> tuple[str, int]:
    errors: dict[str, str] = {}
    try:
        f = parse_filter(request.args)
    except FieldError as exc:
        errors, f = exc.errors, OrderFilter()
    with current_hub().db.session() as session:
        try:
            page = list_orders(session, f, PAGE_SIZE, request.args.get("cursor") or None)
        except FieldError as exc:
            errors |= exc.errors
            page = list_orders(session, f, PAGE_SIZE)
        connections = {c.id: c.name for c in session.scalars(select(t.Connection))}
        unmapped = unmapped_lines(session, [o.id for o in page.orders])  # orders holding unmapped SKUs
    args = {k: v for k, v in request.args.items() if k != "cursor" and v}
    page_html = render_template(
        "orders/list.html",
        page=page,
        args=args,
        errors=errors,
        connections=connections,
        unmapped=unmapped,
        choices={
            "channel": CHANNELS,
            "status": STATUSES,
            "payment_status": PAYMENT_STATUSES,
            "fulfillment_status": FULFILLMENT_STATUSES,
        },
    )
    return page_html, 400 if errors else 200


@bp.get("/<int:order_id>")
def show(order_id: int) -> str:
    with current_hub().db.session() as session:
        order = session.get(t.Order, order_id) or abort(404)
        connection = session.get(t.Connection, order.connection_id)
        history = history_rows(session, order.id)
        return render_template(
            "orders/show.html",
            order=order,
            connection=connection,
            history=history,
            unmapped=unmapped_lines(session, [order.id]).get(order.id, []),
            canonical_json=json.dumps(order.canonical, indent=2),
            raw_json=json.dumps(order.raw, indent=2, sort_keys=True),
        )
