"""Runs, health, dead letters and schedules in the web UI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hub import tables as t
from hub.db import Database
from hub.health import JobHealth, judge
from hub.inbox import park_dead_letter
from hub.runs import record_run
from hub.services.connections import create_connection
from tests.conftest import csrf_from

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
MAGENTO = {
    "store_url": "https://shop.example.com",
    "consumer_key": "ck0123456789abcdef",
    "consumer_secret": "cs0123456789abcdef",
    "access_token": "at0123456789abcdef",
    "access_token_secret": "ats0123456789abcdef",
}


def magento(app: Flask, name: str = "Magento") -> int:
    h = app.extensions["hub"]
    with h.db.session() as session:
        return create_connection(session, h.box, "magento", name, MAGENTO).id


def amazon_schedule_probe(app: Flask) -> int:
    h = app.extensions["hub"]
    with h.db.session() as session:
        conn = t.Connection(
            kind="channel", connector="amazon", name="Amazon", webhook_key="k-amz", settings={}
        )
        session.add(conn)
        session.flush()
        return conn.id


def job(**kw: object) -> JobHealth:
    values: dict[str, object] = {
        "job": "poll_orders",
        "every_s": 60,
        "last_run": NOW,
        "last_status": "ok",
        "last_success": NOW,
        "consecutive_failures": 0,
        "next_run": NOW + timedelta(seconds=60),
        "last_error": None,
    }
    return JobHealth(**(values | kw))  # type: ignore[arg-type]


def test_judge_states() -> None:
    assert judge((job(),), True, NOW) == ("ok", "ok")
    assert judge((job(),), False, NOW)[0] == "paused"
    assert judge((job(last_run=None, last_success=None, last_status=None),), True, NOW)[0] == "new"
    state, message = judge((job(consecutive_failures=3, last_error="HttpError: 503"),), True, NOW)
    assert state == "failing" and "3 time(s)" in message and "503" in message
    stale = job(last_success=NOW - timedelta(minutes=10))
    assert judge((stale,), True, NOW)[0] == "silent"
    assert judge((job(last_success=NOW - timedelta(minutes=4)),), True, NOW)[0] == "ok"


def test_runs_page_and_a_runs_log(client: FlaskClient, app: Flask, hub_db: Database) -> None:
    cid = magento(app)
    outcome = record_run(hub_db, "push_tracking", cid, lambda: {"updates_pushed": 2})
    page = client.get("/runs").get_data(as_text=True)
    assert "push_tracking" in page and "updates_pushed 2" in page and "Magento" in page
    filtered = client.get("/runs?job=poll_orders").get_data(as_text=True)
    assert "push_tracking</td>" not in filtered.split('id="runs"')[1], "the filter keeps other jobs out"
    assert "push_tracking</td>" in page.split('id="runs"')[1]
    detail = client.get(f"/runs/{outcome.run_id}").get_data(as_text=True)
    assert "run by " in detail
    assert client.get("/runs/99999").status_code == 404


def test_a_failing_connection_shows_a_banner_and_on_the_health_page(
    client: FlaskClient, app: Flask, hub_db: Database
) -> None:
    cid = magento(app)
    assert "attention-banner" not in client.get("/orders/").get_data(as_text=True)

    def fail() -> None:
        raise RuntimeError("store answered 503")

    record_run(hub_db, "poll_orders", cid, fail)
    record_run(hub_db, "poll_orders", cid, fail)
    page = client.get("/orders/").get_data(as_text=True)
    assert "attention-banner" in page and "failed 2 time(s) in a row" in page and "503" in page
    health = client.get("/health").get_data(as_text=True)
    assert "failing" in health and "poll_orders" in health
    record_run(hub_db, "poll_orders", cid, lambda: None)
    assert "attention-banner" not in client.get("/orders/").get_data(as_text=True)


def dead_outbox(hub_db: Database, cid: int) -> int:
    with hub_db.session() as session:
        message = t.OutboxMessage(
            connection_id=cid,
            topic="fulfilment.push",
            key="shipment:1:tracking:X",
            payload={"order_external_id": "9", "tracking_number": "X"},
            state="dead",
            attempts=8,
            last_error="HttpError: 500",
        )
        session.add(message)
        session.flush()
        return message.id


def test_dead_letters_page_discard_and_retry_are_recorded(
    client: FlaskClient, app: Flask, hub_db: Database
) -> None:
    cid = magento(app)
    with hub_db.session() as session:
        park_dead_letter(session, cid, {"increment_id": "bad"}, "MappingError: items: missing")
    message_id = dead_outbox(hub_db, cid)
    page = client.get("/dead-letters").get_data(as_text=True)
    assert (
        "MappingError: items: missing" in page
        and "HttpError: 500" in page
        and "shipment:1:tracking:X" in page
    )
    token = csrf_from(page)
    assert client.post(f"/dead-letters/outbox/{message_id}/discard").status_code == 400, "CSRF required"
    response = client.post(f"/dead-letters/outbox/{message_id}/discard", data={"csrf_token": token})
    assert response.status_code == 302
    with hub_db.session() as session:
        assert session.get(t.OutboxMessage, message_id).state == "discarded"
        event_id = session.scalar(select(t.InboxEvent.id))
    client.post(f"/dead-letters/inbox/{event_id}/retry", data={"csrf_token": token})
    with hub_db.session() as session:
        audit = [(a.who, a.action, a.target_kind, a.target_id) for a in session.scalars(select(t.AuditEntry))]
        event = session.get(t.InboxEvent, event_id)
    assert audit == [("admin", "discard", "outbox", message_id), ("admin", "retry", "inbox", event_id)]
    assert event.attempts == 2, "the retry ran it again"
    assert (
        client.post(f"/dead-letters/inbox/{event_id}/explode", data={"csrf_token": token}).status_code == 404
    )
    assert client.post("/dead-letters/outbox/424242/retry", data={"csrf_token": token}).status_code == 404


def test_schedule_form_keeps_channel_minimums_and_changes_nothing_on_error(
    client: FlaskClient, app: Flask, hub_db: Database
) -> None:
    cid = amazon_schedule_probe(app)
    page = client.get(f"/connections/{cid}/schedule").get_data(as_text=True)
    assert 'name="poll_orders"' in page and "at least 120 s" in page
    token = csrf_from(page)
    bad = client.post(f"/connections/{cid}/schedule", data={"csrf_token": token, "poll_orders": "60"})
    assert bad.status_code == 422 and "rate limits allow no faster" in bad.get_data(as_text=True)
    junk = client.post(f"/connections/{cid}/schedule", data={"csrf_token": token, "poll_orders": "soon"})
    assert junk.status_code == 422
    with hub_db.session() as session:
        assert session.get(t.Connection, cid).schedule == {}
    ok = client.post(
        f"/connections/{cid}/schedule",
        data={"csrf_token": token, "poll_orders": "600", "push_tracking": "30"},
    )
    assert ok.status_code == 302
    with hub_db.session() as session:
        assert session.get(t.Connection, cid).schedule == {"poll_orders": 600}, "defaults are not stored"


def test_discarding_an_inbox_event_only_takes_a_dead_one(app: Flask, hub_db: Database) -> None:
    from hub.inbox import discard_event

    cid = magento(app)
    with hub_db.session() as session:
        park_dead_letter(session, cid, {"increment_id": "bad"}, "MappingError")
        event_id = session.scalar(select(t.InboxEvent.id))
    assert discard_event(hub_db, event_id) is True
    assert discard_event(hub_db, event_id) is False, "already discarded: left as it was"
    with hub_db.session() as session:
        assert session.get(t.InboxEvent, event_id).state == "discarded"
