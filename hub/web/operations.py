"""Operations in the web UI: job runs and their logs, connection health, the dead letters
of inbox and outbox (retry and discard, recorded with who pressed them), and each
connection's schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select

from hub import tables as t
from hub.app import current_hub
from hub.connectors import get_connector
from hub.health import every_connection, needing_attention
from hub.inbox import discard_event, process_event
from hub.pushback import discard as discard_message
from hub.pushback import send_message
from hub.scheduling import DEFAULTS, connection_jobs

bp = Blueprint("operations", __name__)
PAGE = 100
MIN_INTERVAL_S = 10
MAX_INTERVAL_S = 7 * 24 * 3600


@bp.before_request
@login_required
def _login() -> None:
    return None


def banner() -> dict[str, Any]:
    """For every page: the connections failing or silent (the dashboard banner)."""
    if not current_user.is_authenticated:
        return {"attention": []}
    with current_hub().db.session() as session:
        return {"attention": needing_attention(session, datetime.now(UTC))}


@bp.get("/runs")
def runs() -> str:
    connection_id = request.args.get("connection_id", type=int)
    job = request.args.get("job") or None
    status = request.args.get("status") or None
    query = select(t.SyncRun).order_by(t.SyncRun.id.desc()).limit(PAGE)
    if connection_id:
        query = query.where(t.SyncRun.connection_id == connection_id)
    if job:
        query = query.where(t.SyncRun.job == job)
    if status:
        query = query.where(t.SyncRun.status == status)
    with current_hub().db.session() as session:
        rows = list(session.scalars(query))
        names = dict(session.execute(select(t.Connection.id, t.Connection.name)).all())
        jobs = sorted(session.scalars(select(t.SyncRun.job).distinct()))
    return render_template(
        "operations/runs.html",
        runs=rows,
        names=names,
        jobs=jobs,
        chosen={"connection_id": connection_id, "job": job, "status": status},
    )


@bp.get("/runs/<int:run_id>")
def run(run_id: int) -> str:
    with current_hub().db.session() as session:
        row = session.get(t.SyncRun, run_id) or abort(404)
        name = session.get(t.Connection, row.connection_id).name if row.connection_id else None
    return render_template("operations/run.html", run=row, connection_name=name)


@bp.get("/health")
def health() -> str:
    with current_hub().db.session() as session:
        rows = every_connection(session, datetime.now(UTC))
    return render_template("operations/health.html", rows=rows)


@bp.get("/dead-letters")
def dead_letters() -> str:
    with current_hub().db.session() as session:
        inbox = list(
            session.scalars(
                select(t.InboxEvent)
                .where(t.InboxEvent.state == "dead")
                .order_by(t.InboxEvent.id.desc())
                .limit(PAGE)
            )
        )
        outbox = list(
            session.scalars(
                select(t.OutboxMessage)
                .where(t.OutboxMessage.state == "dead")
                .order_by(t.OutboxMessage.id.desc())
                .limit(PAGE)
            )
        )
        names = dict(session.execute(select(t.Connection.id, t.Connection.name)).all())
        audit = list(session.scalars(select(t.AuditEntry).order_by(t.AuditEntry.id.desc()).limit(20)))
    return render_template(
        "operations/dead_letters.html",
        inbox=inbox,
        outbox=outbox,
        names=names,
        audit=audit,
        action_form=FlaskForm(),
    )


def _audit(action: str, kind: str, target_id: int, detail: str) -> None:
    with current_hub().db.session() as session:
        session.add(
            t.AuditEntry(
                who=current_user.username, action=action, target_kind=kind, target_id=target_id, detail=detail
            )
        )


def _checked_form() -> None:
    if not FlaskForm().validate_on_submit():
        abort(400)


@bp.post("/dead-letters/<kind>/<int:item_id>/<action>")
def dead_letter_action(kind: str, item_id: int, action: str) -> Response:
    _checked_form()
    if kind not in ("inbox", "outbox") or action not in ("retry", "discard"):
        abort(404)
    hub = current_hub()
    table = t.InboxEvent if kind == "inbox" else t.OutboxMessage
    with hub.db.session() as session:
        if session.get(table, item_id) is None:
            abort(404)
    if action == "discard":
        done = discard_message(hub.db, item_id) if kind == "outbox" else discard_event(hub.db, item_id)
        outcome = "discarded" if done else "not dead any more: left as it was"
    elif kind == "inbox":
        outcome = process_event(hub.db, hub.box, hub.settings.public_url, item_id, replay=True)
    else:
        outcome = send_message(hub.db, hub.box, hub.settings.public_url, item_id, by_hand=True)
    _audit(action, kind, item_id, outcome)
    flash(
        f"{kind.capitalize()} item {item_id}: {action} → {outcome}.",
        "ok" if outcome in ("done", "sent", "discarded", "ignored") else "error",
    )
    return redirect(url_for("operations.dead_letters"))


def schedule_errors(
    cls: Any, planned: dict[str, int], submitted: dict[str, str]
) -> tuple[dict[str, int], dict[str, str]]:
    """Pure: the intervals to store, or per-job errors."""
    values: dict[str, int] = {}
    errors: dict[str, str] = {}
    for job in planned:
        raw = (submitted.get(job) or "").strip()
        if raw == "":
            continue
        if not raw.isdigit():
            errors[job] = "must be a whole number of seconds"
            continue
        seconds = int(raw)
        floor = max(MIN_INTERVAL_S, int(cls.schedule_minimums.get(job, 0)))
        if seconds < floor:
            errors[job] = f"must be at least {floor} s" + (
                f" ({cls.display_name}'s rate limits allow no faster)" if floor > MIN_INTERVAL_S else ""
            )
        elif seconds > MAX_INTERVAL_S:
            errors[job] = "must be at most a week"
        else:
            values[job] = seconds
    return values, errors


@bp.route("/connections/<int:connection_id>/schedule", methods=["GET", "POST"])
def schedule(connection_id: int) -> str | Response | tuple[str, int]:
    hub = current_hub()
    with hub.db.session() as session:
        conn = session.get(t.Connection, connection_id) or abort(404)
        cls = get_connector(conn.connector)
        probe = t.Connection(
            **{c: getattr(conn, c) for c in ("id", "connector", "settings")}, enabled=True, schedule={}
        )
        defaults = {job_id.partition(":")[0]: every for job_id, (_f, every) in connection_jobs(probe).items()}
        current = {job: int((conn.schedule or {}).get(job, every)) for job, every in defaults.items()}
        errors: dict[str, str] = {}
        form = FlaskForm()
        if request.method == "POST":
            if not form.validate_on_submit():
                abort(400)
            values, errors = schedule_errors(cls, defaults, request.form.to_dict())
            if not errors:
                conn.schedule = {job: s for job, s in values.items() if s != defaults[job]}
                flash("Schedule saved; the scheduler picks it up within a minute.", "ok")
                return redirect(url_for("connections.show", connection_id=connection_id))
            current = {job: request.form.get(job, "") for job in defaults}
        return render_template(
            "operations/schedule.html",
            connection=conn,
            cls=cls,
            defaults=defaults,
            current=current,
            errors=errors,
            form=form,
            DEFAULTS=DEFAULTS,
        ), (422 if errors else 200)
