"""The scheduler: turns each connection's schedule into APScheduler jobs.

``hub run`` starts it inside the web process; ``python scheduler.py`` (or
``hub scheduler``) runs it alone.
Jobs are plain functions taking ids (``hub.jobs``), so the same function can later
run on a worker queue.
"""

from __future__ import annotations

import logging
import signal
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from hub.jobs import prune_call_log

log = logging.getLogger("hub.scheduler")


def build_scheduler(app: Flask) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
    )
    scheduler.add_job(prune_call_log, "interval", hours=1, args=[app], id="prune_call_log", jitter=60)
    return scheduler


def main() -> None:
    from hub.app import create_app

    app = create_app()
    scheduler = build_scheduler(app)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    scheduler.start()
    log.info("scheduler running with %d jobs", len(scheduler.get_jobs()))
    stop.wait()
    scheduler.shutdown()
