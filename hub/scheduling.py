"""The scheduler: turns each connection's schedule into APScheduler jobs.

``hub run`` starts it inside the web process; ``python scheduler.py`` runs it alone.
Jobs never overlap themselves (``max_instances=1``), missed runs coalesce into one, and
a disabled connection has no jobs. The job list follows the connections table: a
refresh every ``REFRESH_SECONDS`` adds, changes and removes jobs.
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
)

log = logging.getLogger("hub.scheduler")
REFRESH_SECONDS = 15
DEFAULTS = {"poll_orders": 60, "check_webhooks": 3600, "drain_notifications": 30}


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
    if Capability.ORDERS_WEBHOOK in cls.capabilities and cls.manages_webhooks:
        jobs[f"check_webhooks:{connection.id}"] = (check_webhooks, int(schedule["check_webhooks"]))
    return jobs


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
            func,
            "interval",
            seconds=seconds,
            args=[app, conn_id],
            id=job_id,
            replace_existing=True,
            **first_run,
        )


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def build_scheduler(app: Flask) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
    )
    scheduler.add_job(prune_call_log, "interval", hours=1, args=[app], id="prune_call_log", jitter=60)
    scheduler.add_job(process_inbox, "interval", seconds=30, args=[app], id="process_inbox")
    scheduler.add_job(
        refresh_jobs,
        "interval",
        seconds=REFRESH_SECONDS,
        args=[scheduler, app],
        id="refresh_jobs",
        next_run_time=_now(),
    )
    return scheduler


def main() -> None:
    from hub.app import create_app

    app = create_app()
    scheduler = build_scheduler(app)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    scheduler.start()
    log.info("scheduler running")
    stop.wait()
    scheduler.shutdown()
