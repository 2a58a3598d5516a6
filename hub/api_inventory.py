"""REST API, inventory: ``/api/v1/inventory``. The same bearer tokens and error shape
(``{"error": {"code", "message", "field"}}``) as ``hub.api``.

- ``GET /api/v1/inventory`` (``q`` in SKU or name, ``limit`` up to 200, ``cursor``): SKUs in
  SKU order, each with its locations, totals and what each channel is shown;
- ``GET /api/v1/inventory/<sku>``: one SKU, with ``channel_sync`` (per channel the quantity
  published now, the last one pushed and when, a queued push, the drift) and ``low_stock``
  (reorder point, whether at or under it and since when, units sold in 30 days, days of cover);
- ``PATCH /api/v1/inventory/<sku>``: ``{"location": code, "on_hand": n}`` (a count) or
  ``{"location": code, "adjust": ±n, "reason": text}``. An ``Idempotency-Key`` header makes a
  retried request change nothing more. Bad input is a 400 naming the field and changes
  nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from hub import tables as t
from hub.api import error, token_required
from hub.app import current_hub
from hub.connectors import FieldError
from hub.inventory.queries import list_skus, sku_documents
from hub.inventory.stock import InventoryError, adjust, set_on_hand
from hub.inventory.stockview import stock_documents
from hub.services.orders import parse_limit

inventory_api = Blueprint("inventory_api", __name__, url_prefix="/api/v1/inventory")

MAX_UNITS = 1_000_000_000
PATCH_FIELDS = ("location", "on_hand", "adjust", "reason")


def register(app: Flask) -> None:
    """Mount the blueprint; a token-authenticated JSON API takes no CSRF token."""
    from hub.app import csrf

    app.register_blueprint(inventory_api)
    csrf.exempt(inventory_api)


@inventory_api.errorhandler(FieldError)
def _field_error(exc: FieldError) -> tuple[Response, int]:
    field, message = next(iter(exc.errors.items()))
    return error(400, "invalid", f"{field} {message}", field)


@inventory_api.errorhandler(InventoryError)
def _inventory_error(exc: InventoryError) -> tuple[Response, int]:
    if exc.field == "key":
        return error(409, "conflict", f"Idempotency-Key {exc.message}", "Idempotency-Key")
    return error(400, "invalid", f"{exc.field} {exc.message}", exc.field)


@inventory_api.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    code = (exc.name or "error").lower().replace(" ", "_")
    return error(exc.code or 500, code, exc.description or code)


@inventory_api.get("")
@token_required
def inventory_index() -> Response:
    limit = parse_limit(request.args.get("limit"))
    q = (request.args.get("q") or "").strip()[:100] or None
    with current_hub().db.session() as session:
        skus, cursor = list_skus(session, limit, request.args.get("cursor") or None, q)
        body = {"skus": sku_documents(session, skus), "next_cursor": cursor}
    return jsonify(body)


def _sku(session: Session, sku: str) -> t.Sku | None:
    return session.scalar(select(t.Sku).where(t.Sku.sku == sku))


@inventory_api.get("/<path:sku>")
@token_required
def inventory_show(sku: str) -> Response | tuple[Response, int]:
    with current_hub().db.session() as session:
        row = _sku(session, sku)
        if row is None:
            return error(404, "not_found", f"no SKU {sku!r}")
        return jsonify(stock_documents(session, [row])[0])  # + channel_sync and low_stock


@dataclass(frozen=True)
class StockPatch:
    location: str
    on_hand: int | None
    adjust: int | None
    reason: str | None


def _units(body: dict[str, Any], field: str, low: int) -> int:
    value = body[field]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_UNITS:
        what = "0 or more" if low == 0 else "positive or negative, not 0"
        raise FieldError({field: f"must be a whole number, {what}"})
    if low < 0 and value == 0:
        raise FieldError({field: "must be a whole number, positive or negative, not 0"})
    return value


def parse_patch(body: Any) -> StockPatch:
    """The change a PATCH asks for; raises ``FieldError`` naming the first bad field."""
    if not isinstance(body, dict):
        raise FieldError({"body": "must be a JSON object"})
    for name in body:
        if name not in PATCH_FIELDS:
            raise FieldError({name: f"is not a field here (send {', '.join(PATCH_FIELDS)})"})
    location = body.get("location")
    if not isinstance(location, str) or not location.strip():
        raise FieldError({"location": "is required: the code of a location"})
    if ("on_hand" in body) == ("adjust" in body):
        field = "adjust" if "on_hand" in body else "on_hand"
        raise FieldError({field: "send either on_hand (a count) or adjust (a change), one of them"})
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        raise FieldError({"reason": "must be text of at most 500 characters"})
    reason = reason.strip() if reason else None
    if "on_hand" in body:
        return StockPatch(location.strip(), _units(body, "on_hand", 0), None, reason)
    delta = _units(body, "adjust", -MAX_UNITS)
    if not reason:
        raise FieldError({"reason": "is required with adjust (why the stock changed)"})
    return StockPatch(location.strip(), None, delta, reason)


@inventory_api.patch("/<path:sku>")
@token_required
def inventory_update(sku: str) -> Response | tuple[Response, int]:
    patch = parse_patch(request.get_json(silent=True))
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key is not None and len(key) > 200:
        raise FieldError({"Idempotency-Key": "must be at most 200 characters"})
    who = f"api:{g.api_token_name}"

    def work(session: Session) -> dict[str, Any] | None:
        row = _sku(session, sku)
        if row is None:
            return None
        location = session.scalar(select(t.Location).where(t.Location.code == patch.location))
        if location is None:
            raise FieldError({"location": f"no location with code {patch.location!r}"})
        if patch.on_hand is not None:
            change = set_on_hand(
                session,
                row.id,
                location.id,
                patch.on_hand,
                reason=patch.reason or "count",
                source="api",
                who=who,
                key=key,
            )
        else:
            assert patch.adjust is not None and patch.reason is not None
            change = adjust(
                session,
                row.id,
                location.id,
                patch.adjust,
                reason=patch.reason,
                source="api",
                who=who,
                key=key,
            )
        doc = sku_documents(session, [row])[0]
        doc["change"] = {"location": location.code, "delta": change.delta, "replayed": change.replayed}
        return doc

    doc = current_hub().db.transaction(work)
    if doc is None:
        return error(404, "not_found", f"no SKU {sku!r}")
    return jsonify(doc)
