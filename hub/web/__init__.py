"""The server-rendered web UI: login, connections, orders."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask, Response, jsonify, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin
from flask_wtf.csrf import CSRFError

from hub import tables as t
from hub.app import current_hub

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."
login_manager.login_message_category = "info"


class WebUser(UserMixin):
    def __init__(self, user_id: int, username: str) -> None:
        self.id = user_id
        self.username = username


@login_manager.user_loader
def _load_user(user_id: str) -> WebUser | None:
    if not user_id.isdigit():
        return None
    with current_hub().db.session() as session:
        user = session.get(t.User, int(user_id))
        return WebUser(user.id, user.username) if user else None


CENT = Decimal("0.01")


def money(value: object) -> str:
    """A decimal amount as the pages show it: two places at least (``32.3`` → ``32.30``)."""
    if value is None or value == "":
        return ""
    amount = Decimal(str(value))
    cents = amount.quantize(CENT)
    return format(cents if cents == amount else amount, "f")  # never rounds a finer amount away


def register_web(app: Flask) -> None:
    from hub.web.auth import bp as auth_bp
    from hub.web.connections import bp as connections_bp
    from hub.web.operations import banner
    from hub.web.operations import bp as operations_bp
    from hub.web.orders import bp as orders_bp

    login_manager.init_app(app)
    app.jinja_env.filters["money"] = money
    app.register_blueprint(auth_bp)
    app.register_blueprint(connections_bp)
    app.register_blueprint(orders_bp)
    app.register_blueprint(operations_bp)
    app.context_processor(banner)
    from hub.web.stock import bp as stock_bp

    app.register_blueprint(stock_bp)
    from hub.web.shipping_rules import bp as shipping_rules_bp

    app.register_blueprint(shipping_rules_bp)

    @app.get("/")
    def index() -> Response:
        return redirect(url_for("orders.index"))

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> tuple[str, int]:
        message = f"{exc.description} Nothing was saved: go back, reload the page and try again."
        return render_template("error.html", title="Form expired or forged", message=message), 400

    @app.errorhandler(404)
    def _not_found(exc: Exception) -> tuple[Response | str, int]:
        if request.path.startswith("/api/"):
            body = {"error": {"code": "not_found", "message": "no such endpoint", "field": None}}
            return jsonify(body), 404
        return render_template(
            "error.html", title="Not found", message="There is nothing at this address."
        ), 404
