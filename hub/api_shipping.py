"""REST API, shipping: ``/api/v1/shipments``, ``/api/v1/rates``, rule sets and location
addresses. The same bearer tokens and error shape as ``hub.api``; bad input is a 4xx naming
the field and changes nothing.

- ``POST /api/v1/shipments`` ``{"order_id", "parcels": [{"weight_g", "length_mm"…}],
  "lines"?: [{"line_external_id", "quantity"}], "location"?, "ship_date"?}``
- ``GET /api/v1/shipments?order_id=``, ``GET /api/v1/shipments/<id>``
- ``POST /api/v1/rates`` ``{"shipment_id"}`` or ``{"ship_from", "ship_to", "parcels"}``, with
  optional ``"rules"`` and ``"connection_ids"``
- ``POST /api/v1/shipments/<id>/label`` ``{"connection_id", "service_code"}`` (or ``{}``: the
  chosen quote of the last shop); ``GET`` the same path downloads the label
- ``POST /api/v1/shipments/<id>/void``
- ``GET /api/v1/rule-sets``, ``GET|PUT|DELETE /api/v1/rule-sets/<scope>``
- ``PUT /api/v1/locations/<code>/address``
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from hub import tables as t
from hub.api import error, token_required
from hub.app import current_hub
from hub.shipping import schemas
from hub.shipping.convert import address_from_json, parcel_from_json
from hub.shipping.errors import ShippingError, not_found
from hub.shipping.labels import current_purchase, purchase_label, settle_by_hand, void_label
from hub.shipping.model import RateRequest
from hub.shipping.rules import RuleSet
from hub.shipping.rulesets import check_scope, delete_rule_set, get_rule_set, list_rule_sets, put_rule_set
from hub.shipping.shipments import WantedLine, create_shipment, set_location_address
from hub.shipping.shopping import latest_shop, public_shop, run_shop, shop_json, shop_shipment
from hub.shipping.views import latest_purchase, shipment_json

shipping_api = Blueprint("shipping_api", __name__, url_prefix="/api/v1")
LABEL_TYPES = {"PDF": "application/pdf", "PNG": "image/png", "GIF": "image/gif", "ZPL": "application/x-zpl"}


def register(app: Flask) -> None:
    """Mount the shipping API and the shipment pages (carrier webhooks share the channels'
    route, ``hub.web.webhooks``)."""
    from hub.app import csrf
    from hub.web.shipments import bp as shipments_bp

    app.register_blueprint(shipping_api)
    app.register_blueprint(shipments_bp)
    csrf.exempt(shipping_api)


@shipping_api.errorhandler(ShippingError)
def _shipping_error(exc: ShippingError) -> tuple[Response, int]:
    message = f"{exc.field} {exc.message}" if exc.field else exc.message
    return error(exc.status, exc.code, message, exc.field)


@shipping_api.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    code = (exc.name or "error").lower().replace(" ", "_")
    return error(exc.code or 500, code, exc.description or code)


def _body() -> Any:
    return request.get_json(silent=True)


def _shipment_doc(shipment_id: int) -> dict[str, Any]:
    with current_hub().db.session() as session:
        shipment = session.get(t.Shipment, shipment_id)
        if shipment is None:
            raise not_found("shipment_id", f"no shipment with id {shipment_id}")
        doc = shipment_json(session, shipment)
    stored = latest_shop(current_hub().db, shipment_id)
    doc["rate_shop"] = None if stored is None else public_shop(stored)
    return doc


@shipping_api.post("/shipments")
@token_required
def shipments_create() -> tuple[Response, int]:
    data = schemas.load(schemas.ShipmentCreateSchema(), _body())
    lines = data.get("lines")

    def work(session: Session) -> int:
        shipment = create_shipment(
            session,
            order_id=data["order_id"],
            parcels=[parcel_from_json(p) for p in data["parcels"]],
            lines=None
            if lines is None
            else [WantedLine(x["line_external_id"], x["quantity"]) for x in lines],
            location_code=data.get("location"),
            ship_date=data.get("ship_date"),
            created_by=f"api:{g.api_token_name}",
        )
        return shipment.id

    shipment_id = current_hub().db.transaction(work)
    return jsonify(_shipment_doc(shipment_id)), 201


@shipping_api.get("/shipments")
@token_required
def shipments_index() -> Response:
    order_id = request.args.get("order_id", "")
    if not order_id.isdigit():
        raise ShippingError("order_id", "is required: the id of an order")
    with current_hub().db.session() as session:
        rows = session.scalars(
            select(t.Shipment).where(t.Shipment.order_id == int(order_id)).order_by(t.Shipment.id)
        )
        return jsonify({"shipments": [shipment_json(session, s) for s in rows]})


@shipping_api.get("/shipments/<int:shipment_id>")
@token_required
def shipments_show(shipment_id: int) -> Response:
    return jsonify(_shipment_doc(shipment_id))


@shipping_api.post("/rates")
@token_required
def rates() -> Response:
    data = schemas.load(schemas.RatesRequestSchema(), _body())
    hub = current_hub()
    rules: RuleSet | None = None if data.get("rules") is None else schemas.rule_set(data["rules"])
    ids = data.get("connection_ids") or None
    if "shipment_id" in data:
        result = shop_shipment(hub.db, hub.box, hub.settings.public_url, data["shipment_id"], rules, ids)
        return jsonify(result.json())
    rate_request = RateRequest(
        ship_from=address_from_json(data["ship_from"]),
        ship_to=address_from_json(data["ship_to"]),
        parcels=tuple(parcel_from_json(p) for p in data["parcels"]),
        ship_date=data.get("ship_date"),
    )
    scope = "request"
    if rules is None:
        with hub.db.session() as session:
            rules = get_rule_set(session, "default")
        scope = "default" if rules is not None else "built-in"
    result = run_shop(hub.db, hub.box, hub.settings.public_url, rate_request, rules or RuleSet(), scope, ids)
    return jsonify(shop_json(result))


@shipping_api.post("/shipments/<int:shipment_id>/label")
@token_required
def label_buy(shipment_id: int) -> tuple[Response, int]:
    data = schemas.load(schemas.LabelBuySchema(), _body() if request.data else {})
    hub = current_hub()
    _shipment_doc(shipment_id)  # 404 before anything else
    carrier_ref = None
    if "connection_id" not in data:
        stored = latest_shop(hub.db, shipment_id)
        chosen = None if stored is None else stored.get("chosen")
        if chosen is None:
            raise ShippingError(
                "connection_id", "is required: the shipment has no chosen quote (get rates first)"
            )
        data["connection_id"], data["service_code"] = chosen["connection_id"], chosen["service_code"]
        carrier_ref = chosen.get("carrier_ref")
    else:
        carrier_ref = _quote_ref(hub.db, shipment_id, data["connection_id"], data["service_code"])
    outcome = purchase_label(
        hub.db,
        hub.box,
        hub.settings.public_url,
        shipment_id,
        connection_id=data["connection_id"],
        service_code=data["service_code"],
        carrier_ref=carrier_ref,
        label_format=data.get("label_format"),
    )
    status = {"labelled": 201, "failed": 422}.get(outcome.state, 202)
    return jsonify(_shipment_doc(shipment_id)), status


def _quote_ref(db: Any, shipment_id: int, connection_id: int, service_code: str) -> str | None:
    """The carrier-side handle of that quote in the last shop (EasyPost buys a rate by id)."""
    stored = latest_shop(db, shipment_id)
    for quote in [] if stored is None else stored["quotes"]:
        if quote["connection_id"] == connection_id and quote["service_code"] == service_code:
            return quote.get("carrier_ref")
    return None


@shipping_api.get("/shipments/<int:shipment_id>/label")
@token_required
def label_download(shipment_id: int) -> Response | tuple[Response, int]:
    return label_response(shipment_id)


def label_response(shipment_id: int, *, inline: bool = False) -> Response:
    with current_hub().db.session() as session:
        purchase = latest_purchase(session, shipment_id)
        if purchase is None or purchase.state != "labelled" or purchase.label_data is None:
            raise not_found("shipment_id", f"shipment {shipment_id} has no label")
        fmt = purchase.label_format or "PDF"
        name = f"label-{shipment_id}-{purchase.tracking_number}.{fmt.lower()}"
        response = Response(purchase.label_data, mimetype=LABEL_TYPES.get(fmt, "application/octet-stream"))
    response.headers["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@shipping_api.post("/shipments/<int:shipment_id>/settle")
@token_required
def label_settle(shipment_id: int) -> Response:
    """``{"outcome": "bought", "tracking_number": …}`` or ``{"outcome": "none"}``: what a person
    found in the carrier's account for a purchase the hub could not settle."""
    hub = current_hub()
    body = _body()
    if not isinstance(body, dict) or body.get("outcome") not in ("bought", "none"):
        raise ShippingError("outcome", 'must be "bought" or "none"')
    number = body.get("tracking_number")
    if body["outcome"] == "bought" and not (isinstance(number, str) and number.strip()):
        raise ShippingError("tracking_number", "is required when the label was bought")
    purchase = current_purchase(hub.db, shipment_id)
    if purchase is None:
        raise not_found("shipment_id", f"shipment {shipment_id} has no label purchase")
    who = f"token:{g.api_token_name}"
    settle_by_hand(
        hub.db, purchase.id, tracking_number=number if body["outcome"] == "bought" else None, who=who
    )
    return jsonify(_shipment_doc(shipment_id))


@shipping_api.post("/shipments/<int:shipment_id>/void")
@token_required
def label_void(shipment_id: int) -> Response:
    hub = current_hub()
    void_label(hub.db, hub.box, hub.settings.public_url, shipment_id)
    return jsonify(_shipment_doc(shipment_id))


@shipping_api.get("/rule-sets")
@token_required
def rule_sets_index() -> Response:
    with current_hub().db.session() as session:
        return jsonify({"rule_sets": list_rule_sets(session)})


@shipping_api.get("/rule-sets/<scope>")
@token_required
def rule_sets_show(scope: str) -> Response:
    from hub.shipping.rules import rules_json

    with current_hub().db.session() as session:
        check_scope(session, scope)
        rules = get_rule_set(session, scope)
    if rules is None:
        raise not_found("scope", f"no rule set for {scope}")
    return jsonify({"scope": scope, "rules": rules_json(rules)})


@shipping_api.put("/rule-sets/<scope>")
@token_required
def rule_sets_put(scope: str) -> Response:
    rules = schemas.rule_set(schemas.load(schemas.RuleSetSchema(), _body()))
    return jsonify(current_hub().db.transaction(lambda session: put_rule_set(session, scope, rules)))


@shipping_api.delete("/rule-sets/<scope>")
@token_required
def rule_sets_delete(scope: str) -> tuple[Response, int]:
    if not current_hub().db.transaction(lambda session: delete_rule_set(session, scope)):
        raise not_found("scope", f"no rule set for {scope}")
    return jsonify({"deleted": scope}), 200


@shipping_api.put("/locations/<code>/address")
@token_required
def location_address_put(code: str) -> Response:
    values = schemas.location_address(_body())

    def work(session: Session) -> dict[str, Any]:
        row = set_location_address(session, code, values)
        return {
            "location": code,
            "address": {k: getattr(row, k) for k in values},
            "updated_at": datetime.now(UTC).isoformat(),
        }

    return jsonify(current_hub().db.transaction(work))
