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
    stock = {"push_inventory:1": 15, "reconcile_inventory:1": 3600}
    shopify = seconds(connection_jobs(conn("shopify")))
    assert shopify == {"poll_orders:1": 60, "check_webhooks:1": 3600} | push | stock
    woo = seconds(connection_jobs(conn("woocommerce")))
    assert woo == {"poll_orders:1": 60, "check_webhooks:1": 900} | push | stock
    magento = seconds(connection_jobs(conn("magento")))
    assert magento == {"poll_orders:1": 60} | push | stock, "no subscriptions to check"
    write_only = {"push_inventory:1": 15}  # the hub does not read Amazon's stock: nothing to reconcile
    amazon = seconds(connection_jobs(conn("amazon")))
    assert amazon == {"poll_orders:1": 300} | push | write_only, "no queue: nothing to drain"
    with_queue = seconds(connection_jobs(conn("amazon", settings={"sqs_queue_url": "https://sqs.example/q"})))
    assert with_queue == {"poll_orders:1": 300, "drain_notifications:1": 30} | push | write_only
    ups = seconds(connection_jobs(conn("ups")))
    assert ups == {"refresh_tracking:1": 300, "reconcile_labels:1": 120}, "a carrier has no channel jobs"


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
    assert {j.id for j in scheduler.get_jobs()} == {
        "poll_orders:1",
        "push_tracking:1",
        "push_inventory:1",
        "reconcile_inventory:1",
    }
    with hub_db.session() as session:
        session.execute(update(t.Connection).values(schedule={"poll_orders": 120}))
    refresh_jobs(scheduler, app)
    assert scheduler.get_job("poll_orders:1").trigger.interval.total_seconds() == 120
    assert scheduler.get_job("push_tracking:1").trigger.interval.total_seconds() == 30
    with hub_db.session() as session:
        session.execute(update(t.Connection).values(enabled=False))
    refresh_jobs(scheduler, app)
    assert scheduler.get_jobs() == []
