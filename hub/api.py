"""REST API, read side: ``/api/v1``. Bearer tokens; errors as
``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from hub import tables as t
from hub.app import current_hub
from hub.connectors import FieldError
from hub.services.accounts import verify_token
from hub.services.orders import history_rows, list_orders, order_json, parse_filter, parse_limit

api = Blueprint("api", __name__, url_prefix="/api/v1")


def error(status: int, code: str, message: str, field: str | None = None) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message, "field": field}}), status


@api.errorhandler(FieldError)
def _field_error(exc: FieldError) -> tuple[Response, int]:
    field, message = next(iter(exc.errors.items()))
    return error(400, "invalid", f"{field} {message}", field)


@api.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    code = (exc.name or "error").lower().replace(" ", "_")
    return error(exc.code or 500, code, exc.description or code)


def token_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error(401, "unauthorized", "send Authorization: Bearer <token>")
        with current_hub().db.session() as session:
            row = verify_token(session, token.strip())
            if row is None:
                return error(401, "unauthorized", "the token is unknown or revoked")
            g.api_token_name = row.name
        return view(*args, **kwargs)

    return wrapper


@api.get("/orders")
@token_required
def orders_index() -> Response:
    f = parse_filter(request.args)
    limit = parse_limit(request.args.get("limit"))
    with current_hub().db.session() as session:
        page = list_orders(session, f, limit, request.args.get("cursor") or None)
        body = {"orders": [order_json(o) for o in page.orders], "next_cursor": page.next_cursor}
    return jsonify(body)


@api.get("/orders/<int:order_id>")
@token_required
def orders_show(order_id: int) -> Response | tuple[Response, int]:
    with current_hub().db.session() as session:
        order = session.get(t.Order, order_id)
        if order is None:
            return error(404, "not_found", f"no order with id {order_id}")
        return jsonify(order_json(order, history_rows(session, order.id)))
