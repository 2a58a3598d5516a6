"""The scheduler: turns each connection's schedule into APScheduler jobs.

``hub run`` starts it inside the web process; ``hub scheduler`` (or ``python scheduler.py``)
runs it alone. Of several schedulers on one PostgreSQL database only the one holding the
advisory lock acts (``hub.leader``). Jobs never overlap themselves (``max_instances=1``),
missed runs coalesce into one, and a disabled (paused) connection has no jobs and runs
nothing. Every run is recorded (``hub.runs``). The job list follows the connections table:
a refresh every ``REFRESH_SECONDS`` adds, changes and removes jobs.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import select

from hub import tables as t
from hub.connectors import Capability, get_connector
from hub.jobs import (
    check_webhooks,
    drain_notifications,
    poll_connection_orders,
    process_inbox,
    prune_call_log,
    push_inventory,
    push_tracking,
    reconcile_inventory,
    reconcile_labels,
    refresh_tracking,
)
from hub.leader import RETRY_SECONDS, Leadership, lead
from hub.runs import record_run

log = logging.getLogger("hub.scheduler")
REFRESH_SECONDS = 15
DEFAULTS = {
    "poll_orders": 60,
    "check_webhooks": 3600,
    "drain_notifications": 30,
    "push_tracking": 30,
    "push_inventory": 15,
    "reconcile_inventory": 3600,
    "refresh_tracking": 300,
    "reconcile_labels": 120,
}


def connection_jobs(connection: t.Connection) -> dict[str, tuple[Any, int]]:
    """job id → (function, seconds) for one connection, from its connector's capabilities
    and the connection's own schedule."""
    if not connection.enabled:
        return {}
    cls = get_connector(connection.connector)
    schedule = {**DEFAULTS, **cls.schedule_defaults, **(connection.schedule or {})}
    jobs: dict[str, tuple[Any, int]] = {}
    if Capability.ORDERS_POLL in cls.capabilities:
        jobs[f"poll_orders:{connection.id}"] = (poll_connection_orders, int(schedule["poll_orders"]))
    if cls.notifications and cls.wants_notifications(connection.settings or {}):
        jobs[f"drain_notifications:{connection.id}"] = (
            drain_notifications,
            int(schedule["drain_notifications"]),
        )
    if Capability.FULFILMENT_PUSH in cls.capabilities:
        jobs[f"push_tracking:{connection.id}"] = (push_tracking, int(schedule["push_tracking"]))
    if Capability.ORDERS_WEBHOOK in cls.capabilities and cls.manages_webhooks:
        jobs[f"check_webhooks:{connection.id}"] = (check_webhooks, int(schedule["check_webhooks"]))
    if cls.kind == "carrier" and Capability.TRACKING_POLL in cls.capabilities:
        jobs[f"refresh_tracking:{connection.id}"] = (refresh_tracking, int(schedule["refresh_tracking"]))
    if cls.kind == "carrier" and Capability.LABELS in cls.capabilities:
        jobs[f"reconcile_labels:{connection.id}"] = (reconcile_labels, int(schedule["reconcile_labels"]))
    if Capability.INVENTORY_WRITE in cls.capabilities:  # stock outflow, and reconciliation where readable
        jobs[f"push_inventory:{connection.id}"] = (push_inventory, int(schedule["push_inventory"]))
        if Capability.INVENTORY_READ in cls.capabilities:
            every = int(schedule["reconcile_inventory"])
            jobs[f"reconcile_inventory:{connection.id}"] = (reconcile_inventory, every)
    return jobs


def run_scheduled(app: Flask, job: str, func: Any, connection_id: int | None = None) -> Any:
    """One recorded run of a job; a connection paused since the job was planned runs nothing."""
    db = app.extensions["hub"].db
    if connection_id is not None:
        with db.session() as session:
            conn = session.get(t.Connection, connection_id)
            if conn is None or not conn.enabled:
                return None
        return record_run(db, job, connection_id, lambda: func(app, connection_id))
    return record_run(db, job, None, lambda: func(app))


def refresh_jobs(scheduler: BackgroundScheduler, app: Flask) -> None:
    with app.extensions["hub"].db.session() as session:
        connections = list(session.scalars(select(t.Connection)))
    wanted: dict[str, tuple[Any, int, int]] = {}
    for conn in connections:
        for job_id, (func, seconds) in connection_jobs(conn).items():
            wanted[job_id] = (func, seconds, conn.id)
    for job in scheduler.get_jobs():
        if ":" in job.id and job.id not in wanted:
            job.remove()
    for job_id, (func, seconds, conn_id) in wanted.items():
        existing = scheduler.get_job(job_id)
        if (
            existing is not None
            and getattr(existing.trigger, "interval", None)
            and (existing.trigger.interval.total_seconds() == seconds)
        ):
            continue
        first_run = {} if existing else {"next_run_time": _now()}
        scheduler.add_job(
            run_scheduled,
            "interval",
            seconds=seconds,
            args=[app, job_id.partition(":")[0], func, conn_id],
            id=job_id,
            name=job_id,
            replace_existing=True,
            **first_run,
        )


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def build_scheduler(app: Flask) -> BackgroundScheduler:
    # every run is recorded (runs page); APScheduler's own lines per run would drown the log
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = BackgroundScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
    )
    scheduler.add_job(
        run_scheduled,
        "interval",
        hours=1,
        args=[app, "prune_call_log", prune_call_log],
        id="prune_call_log",
        name="prune_call_log",
    )
    scheduler.add_job(
        run_scheduled,
        "interval",
        seconds=30,
        args=[app, "process_inbox", process_inbox],
        id="process_inbox",
        name="process_inbox",
        next_run_time=_now(),
    )
    scheduler.add_job(
        refresh_jobs,
        "interval",
        seconds=REFRESH_SECONDS,
        args=[scheduler, app],
        id="refresh_jobs",
        next_run_time=_now(),
    )
    return scheduler


def run_leading(app: Flask, stop: threading.Event, retry_seconds: float = RETRY_SECONDS) -> None:
    """Run the scheduler whenever this process leads, until ``stop`` is set."""

    def start() -> BackgroundScheduler:
        scheduler = build_scheduler(app)
        scheduler.start()
        return scheduler

    def stop_running(scheduler: BackgroundScheduler) -> None:
        scheduler.shutdown(wait=True)

    lead(Leadership(app.extensions["hub"].db.engine), start, stop_running, stop, retry_seconds)


def start_in_background(app: Flask) -> threading.Event:
    """The scheduler on a thread of this process (``hub run``); set the event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run_leading, args=(app, stop), name="hub-scheduler", daemon=True).start()
    return stop


def main(app: Flask | None = None) -> None:
    if app is None:
        from hub.app import create_app

        app = create_app()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_leading(app, stop)
