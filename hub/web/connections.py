"""Connections in the web UI: list, add, edit, test, and the webhook URL."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select

from hub import tables as t
from hub.app import current_hub
from hub.connectors import Capability, FieldError, UnknownConnector, get_connector, registry
from hub.inbox import process_event
from hub.services.connections import (
    build_connector,
    create_connection,
    field_views,
    run_test,
    update_connection,
    webhook_url,
)
from hub.sync import poll_orders
from hub.web.forms import connection_form_class, submitted_values

bp = Blueprint("connections", __name__, url_prefix="/connections")


@bp.before_request
@login_required
def _login() -> None:
    return None


@bp.get("/")
def index() -> str:
    hub = current_hub()
    with hub.db.session() as session:
        rows = list(session.scalars(select(t.Connection).order_by(t.Connection.kind, t.Connection.name)))
        counts = dict(
            session.execute(select(t.Order.connection_id, func.count()).group_by(t.Order.connection_id)).all()
        )
    return render_template(
        "connections/list.html", connections=rows, counts=counts, connectors=registry(), Capability=Capability
    )


def _connector_or_404(name: str) -> type:
    try:
        return get_connector(name)
    except UnknownConnector:
        abort(404)


@bp.route("/new/<connector>", methods=["GET", "POST"])
def new(connector: str) -> str | Response:
    cls = _connector_or_404(connector)
    form = connection_form_class(cls)()
    errors: dict[str, str] = {}
    if request.method == "POST" and form.validate_on_submit():
        hub = current_hub()
        try:
            with hub.db.session() as session:
                conn = create_connection(
                    session, hub.box, cls.name, form.name.data, submitted_values(form, cls)
                )
                conn_id = conn.id
        except FieldError as exc:
            errors = exc.errors
        else:
            flash("Connection saved.", "ok")
            return redirect(url_for("connections.show", connection_id=conn_id))
    elif request.method == "POST":
        abort(400)
    status = 422 if errors else 200
    views = field_views(current_hub().box, None, cls)
    if request.method == "GET":
        for view in views:
            if view.spec.default is not None and not view.spec.secret:
                form[f"f_{view.spec.name}"].data = view.spec.default
    return render_template(
        "connections/form.html", form=form, cls=cls, views=views, errors=errors, connection=None
    ), status


@bp.get("/<int:connection_id>")
def show(connection_id: int) -> str:
    hub = current_hub()
    with hub.db.session() as session:
        conn = session.get(t.Connection, connection_id) or abort(404)
        cls = get_connector(conn.connector)
        views = field_views(hub.box, conn, cls)
        order_count = session.scalar(select(func.count()).where(t.Order.connection_id == conn.id))
        runs = list(
            session.scalars(
                select(t.SyncRun)
                .where(t.SyncRun.connection_id == conn.id)
                .order_by(t.SyncRun.id.desc())
                .limit(10)
            )
        )
        dead = list(
            session.scalars(
                select(t.InboxEvent)
                .where(t.InboxEvent.connection_id == conn.id, t.InboxEvent.state == "dead")
                .order_by(t.InboxEvent.id.desc())
                .limit(50)
            )
        )
        last_webhook = session.scalar(
            select(func.max(t.InboxEvent.received_at)).where(
                t.InboxEvent.connection_id == conn.id, t.InboxEvent.source == "webhook"
            )
        )
    return render_template(
        "connections/show.html",
        connection=conn,
        cls=cls,
        views=views,
        order_count=order_count,
        runs=runs,
        dead=dead,
        last_webhook=last_webhook,
        webhook_url=webhook_url(hub.settings.public_url, conn),
        Capability=Capability,
        action_form=FlaskForm(),
    )


@bp.route("/<int:connection_id>/edit", methods=["GET", "POST"])
def edit(connection_id: int) -> str | Response | tuple[str, int]:
    hub = current_hub()
    with hub.db.session() as session:
        conn = session.get(t.Connection, connection_id) or abort(404)
        cls = get_connector(conn.connector)
        form = connection_form_class(cls)()
        errors: dict[str, str] = {}
        if request.method == "POST":
            if not form.validate_on_submit():
                abort(400)
            try:
                with session.begin_nested():
                    update_connection(session, hub.box, conn, form.name.data, submitted_values(form, cls))
            except FieldError as exc:
                errors = exc.errors
            else:
                flash("Connection saved.", "ok")
                return redirect(url_for("connections.show", connection_id=conn.id))
        views = field_views(hub.box, conn, cls)
        if request.method == "GET":
            form.name.data = conn.name
            for view in views:
                if not view.spec.secret:
                    value = view.value
                    if view.spec.type == "date" and value:
                        value = date.fromisoformat(value)
                    form[f"f_{view.spec.name}"].data = value
        page = render_template(
            "connections/form.html", form=form, cls=cls, views=views, errors=errors, connection=conn
        )
    return (page, 422) if errors else page


@bp.post("/<int:connection_id>/test")
def test(connection_id: int) -> Response:
    if not FlaskForm().validate_on_submit():
        abort(400)
    hub = current_hub()
    with hub.db.session() as session:
        conn = session.get(t.Connection, connection_id) or abort(404)
    result = run_test(hub.db, hub.box, conn, hub.settings.public_url)
    flash(
        ("Connection works: " if result.ok else "Connection failed: ") + result.message,
        "ok" if result.ok else "error",
    )
    return redirect(url_for("connections.show", connection_id=connection_id))


def _action(connection_id: int) -> t.Connection:
    """A POST button on the connection page: CSRF-checked, the connection loaded."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    with current_hub().db.session() as session:
        conn = session.get(t.Connection, connection_id) or abort(404)
        session.expunge(conn)
    return conn


@bp.post("/<int:connection_id>/register-webhooks")
def register_webhooks(connection_id: int) -> Response:
    conn = _action(connection_id)
    hub = current_hub()
    try:
        created = build_connector(hub.db, hub.box, conn, hub.settings.public_url).register_webhooks()
    except Exception as exc:  # shown to the user, who can fix the credentials or the URL
        flash(f"Registering webhooks failed: {exc}", "error")
    else:
        message = (
            f"Created subscriptions: {', '.join(created)}." if created else "All subscriptions already exist."
        )
        flash(message, "ok")
    return redirect(url_for("connections.show", connection_id=connection_id))


@bp.post("/<int:connection_id>/sync")
def sync_now(connection_id: int) -> Response:
    conn = _action(connection_id)
    hub = current_hub()
    hub.dispatcher.submit(poll_orders, hub.db, hub.box, hub.settings.public_url, conn.id)
    flash("Order sync started; the progress shows below.", "ok")
    return redirect(url_for("connections.show", connection_id=connection_id))


@bp.post("/<int:connection_id>/dead-letters/<int:event_id>/replay")
def replay(connection_id: int, event_id: int) -> Response:
    _action(connection_id)
    hub = current_hub()
    with hub.db.session() as session:
        event = session.get(t.InboxEvent, event_id)
        if event is None or event.connection_id != connection_id:
            abort(404)
    state = process_event(hub.db, hub.box, hub.settings.public_url, event_id, replay=True)
    flash(f"Replayed: {state}.", "ok" if state in ("done", "ignored") else "error")
    return redirect(url_for("connections.show", connection_id=connection_id))
