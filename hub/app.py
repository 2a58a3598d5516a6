"""The Flask application factory."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect

from hub.config import Settings
from hub.crypto import SecretBox, load_or_create_master_key
from hub.db import Database
from hub.dispatch import InProcessDispatcher

csrf = CSRFProtect()


@dataclass
class Hub:
    """What every request and command needs: settings, the database, the secret box."""

    settings: Settings
    db: Database
    box: SecretBox
    dispatcher: InProcessDispatcher


def current_hub() -> Hub:
    return current_app.extensions["hub"]


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))
    master = load_or_create_master_key(settings.secret_key, settings.instance_dir)
    box = SecretBox(master)
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    app.config.update(
        SECRET_KEY=box.session_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.extensions["hub"] = Hub(
        settings=settings, db=Database(settings.database_url), box=box, dispatcher=InProcessDispatcher()
    )
    csrf.init_app(app)

    from hub.api import api
    from hub.api_inventory import register as register_inventory_api
    from hub.api_shipping import register as register_shipping
    from hub.web import register_web
    from hub.web.webhooks import bp as webhooks_bp

    app.register_blueprint(api)
    register_inventory_api(app)  # /api/v1/inventory (csrf-exempt like api)
    register_shipping(app)  # /api/v1/shipments, /api/v1/rates, shipment pages, carrier webhooks
    app.register_blueprint(webhooks_bp)
    csrf.exempt(api)
    csrf.exempt(webhooks_bp)
    register_web(app)
    return app
