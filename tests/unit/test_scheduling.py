"""The scheduler's job list follows the connections: capabilities, declarations, pauses."""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import update

from hub import tables as t
from hub.db import Database
from hub.scheduling import connection_jobs, refresh_jobs


def conn(connector: str, cid: int = 1, *, enabled: bool = True, settings=None, schedule=None) -> t.Connection:
    return t.Connection(
        id=cid,
        kind="channel",
        connector=connector,
        name=f"c{cid}",
        webhook_key=f"k{cid}",
        enabled=enabled,
        settings=settings or {},
        schedule=schedule or {},
    )


def seconds(jobs: dict) -> dict[str, int]:
    return {job_id: every for job_id, (_func, every) in jobs.items()}


def test_jobs_follow_capabilities_and_declarations() -> None:
    push = {"push_tracking:1": 30}
    assert seconds(connection_jobs(conn("shopify"))) == {"poll_orders:1": 60, "check_webhooks:1": 3600} | push
    assert (
        seconds(connection_jobs(conn("woocommerce"))) == {"poll_orders:1": 60, "check_webhooks:1": 900} | push
    )
    magento = seconds(connection_jobs(conn("magento")))
    assert magento == {"poll_orders:1": 60} | push, "no subscriptions to check"
    assert seconds(connection_jobs(conn("amazon"))) == {"poll_orders:1": 300} | push, (
        "no queue: nothing to drain"
    )
    with_queue = conn("amazon", settings={"sqs_queue_url": "https://sqs.example/q"})
    assert seconds(connection_jobs(with_queue)) == {"poll_orders:1": 300, "drain_notifications:1": 30} | push


def test_a_paused_connection_runs_nothing_and_its_own_schedule_wins() -> None:
    assert connection_jobs(conn("shopify", enabled=False)) == {}
    assert seconds(connection_jobs(conn("shopify", schedule={"poll_orders": 15})))["poll_orders:1"] == 15


def test_refresh_adds_changes_and_removes_jobs(app: Flask, hub_db: Database) -> None:
    with hub_db.session() as session:
        session.add(conn("magento", 1))
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)  # running, as in `hub run`, but no job fires during the test
    try:
        check_refresh(scheduler, app, hub_db)
    finally:
        scheduler.shutdown(wait=False)


def check_refresh(scheduler: BackgroundScheduler, app: Flask, hub_db: Database) -> None:
    refresh_jobs(scheduler, app)
    assert {j.id for j in scheduler.get_jobs()} == {"poll_orders:1", "push_tracking:1"}
    with hub_db.session() as session:
        session.execute(update(t.Connection).values(schedule={"poll_orders": 120}))
    refresh_jobs(scheduler, app)
    assert scheduler.get_job("poll_orders:1").trigger.interval.total_seconds() == 120
    assert scheduler.get_job("push_tracking:1").trigger.interval.total_seconds() == 30
    with hub_db.session() as session:
        session.execute(update(t.Connection).values(enabled=False))
    refresh_jobs(scheduler, app)
    assert scheduler.get_jobs() == []
