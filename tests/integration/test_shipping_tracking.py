"""Tracking (SQLite and PostgreSQL): polls in the carrier's batch size, merged timelines,
one hub event per status change, final states kept, retirement; carrier webhooks verified
before anything is stored, deduplicated through the inbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from hub import tables as t
from hub.crypto import SecretBox
from hub.db import Database
from hub.inbox import process_event
from hub.shipping.labels import purchase_label
from hub.shipping.model import Parcel
from hub.shipping.shipments import create_shipment
from hub.shipping.tracking import apply_trackers, refresh_tracking
from tests import shipping_fakes
from tests.shipping_fakes import (
    FakeCarrier,
    add_carrier,
    add_order_and_location,
    event,
    sign,
    tracker,
    tracker_json,
)

BOX = SecretBox("test-master-key-for-shipping")
URL = "http://hub.test"
fake_carrier = shipping_fakes.fake_carrier


def _labelled(db: Database, count: int, box: SecretBox = BOX) -> tuple[int, list[int]]:
    order_id, _loc = add_order_and_location(db)
    carrier_id = add_carrier(db, box, "ups-fake")
    ids = []
    for _ in range(count):
        sid = db.transaction(
            lambda s: (
                create_shipment(s, order_id=order_id, parcels=[Parcel(500)], lines=[shipping_fakes_line()]).id
            )
        )
        assert (
            purchase_label(db, box, URL, sid, connection_id=carrier_id, service_code="GND").state
            == "labelled"
        )
        ids.append(sid)
    return carrier_id, ids


def shipping_fakes_line() -> object:
    from hub.shipping.shipments import WantedLine

    return WantedLine("1-0", 1)


def _shipment(db: Database, sid: int) -> t.Shipment:
    with db.session() as s:
        row = s.get_one(t.Shipment, sid)
        s.expunge(row)
        return row


def _status_events(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.scalars(
            select(t.HubEvent).where(t.HubEvent.topic == "shipment.status_changed").order_by(t.HubEvent.id)
        )
        return [(r.payload["from"], r.payload["to"]) for r in rows]


def test_poll_in_batches_merges_and_raises_one_event_per_change(
    db: Database, fake_carrier: type[FakeCarrier]
) -> None:
    carrier_id, ids = _labelled(db, 3)
    numbers = [_shipment(db, sid).tracking_number for sid in ids]
    ledger = FakeCarrier.ledger
    ledger.trackers[numbers[0]] = tracker(numbers[0], event("2026-05-01T10:00:00", "picked_up"))
    ledger.trackers[numbers[1]] = tracker(
        numbers[1],
        event("2026-05-01T10:00:00", "in_transit"),
        event("2026-05-02T08:00:00", "out_for_delivery"),
    )
    later = datetime.now(UTC) + timedelta(hours=1)
    run = refresh_tracking(db, BOX, URL, carrier_id, now=later)
    assert sorted(len(batch) for batch in ledger.track_calls) == [1, 2], "batches of track_batch_size=2"
    assert (run.polled, run.changed, run.unknown) == (3, 2, 1)
    first, second, third = (_shipment(db, sid) for sid in ids)
    assert first.tracking_status == "picked_up" and second.tracking_status == "out_for_delivery"
    assert second.next_track_at - later == timedelta(minutes=20), "polled sooner near delivery"
    assert first.next_track_at - later == timedelta(hours=2)
    assert third.tracking_status == "pending" and third.next_track_at > later
    assert sorted(_status_events(db)) == [("pending", "out_for_delivery"), ("pending", "picked_up")]
    ledger.track_calls.clear()
    assert refresh_tracking(db, BOX, URL, carrier_id, now=later).polled == 0, "nothing due yet"
    again = refresh_tracking(db, BOX, URL, carrier_id, now=later + timedelta(hours=5))
    assert again.changed == 0 and len(_status_events(db)) == 2, "the same events change nothing"


def test_delivered_holds_against_a_late_older_event(db: Database, fake_carrier: type[FakeCarrier]) -> None:
    carrier_id, (sid,) = _labelled(db, 1)
    number = _shipment(db, sid).tracking_number
    now = datetime.now(UTC)

    def apply(*events: object) -> None:
        db.transaction(lambda s: apply_trackers(s, carrier_id, [tracker(number, *events)], "webhook", now))  # type: ignore[arg-type]

    apply(event("2026-05-03T15:00:00", "delivered", "D"))
    apply(event("2026-05-02T08:00:00", "out_for_delivery", "OT"))
    apply(event("2026-05-03T15:00:00", "delivered", "D"))
    row = _shipment(db, sid)
    assert row.tracking_status == "delivered" and row.tracking_active is False and row.next_track_at is None
    assert [e["status"] for e in row.tracker["events"]] == ["delivered", "out_for_delivery"]
    assert _status_events(db) == [("pending", "delivered")]


def test_tracking_retires_after_90_days(db: Database, fake_carrier: type[FakeCarrier]) -> None:
    carrier_id, (sid,) = _labelled(db, 1)
    run = refresh_tracking(db, BOX, URL, carrier_id, now=datetime.now(UTC) + timedelta(days=91))
    assert run.retired == 1 and run.polled == 0
    assert _shipment(db, sid).tracking_active is False


@pytest.fixture
def hub_app(app: Flask, fake_carrier: type[FakeCarrier]) -> Flask:
    return app


def test_carrier_webhook_is_verified_stored_once_and_merged(hub_app: Flask, hub_db: Database) -> None:
    box = hub_app.extensions["hub"].box
    _carrier_id, (sid,) = _labelled(hub_db, 1, box)
    number = _shipment(hub_db, sid).tracking_number
    client = hub_app.test_client()
    body = json.dumps(
        {
            "id": "evt_1",
            "tracker": tracker_json(tracker(number, event("2026-05-01T10:00:00+00:00", "in_transit"))),
        }
    ).encode()
    path = "/webhooks/carriers/fake_carrier/key-ups-fake"
    bad = client.post(path, data=body, headers={"X-Fake-Signature": "0" * 64})
    assert bad.status_code == 401
    with hub_db.session() as s:
        assert s.scalar(select(t.InboxEvent)) is None, "nothing stored before the signature is right"
    assert client.post("/webhooks/carriers/fake_carrier/wrong-key", data=body).status_code == 404
    for _ in range(2):
        ok = client.post(path, data=body, headers={"X-Fake-Signature": sign("whsec", body)})
        assert ok.status_code == 200
    hub_app.extensions["hub"].dispatcher.shutdown(wait=True)
    with hub_db.session() as s:
        rows = list(s.scalars(select(t.InboxEvent)))
    assert len(rows) == 1 and rows[0].duplicate_count == 1 and rows[0].state == "done"
    assert "X-Fake-Signature" not in rows[0].headers
    assert _shipment(hub_db, sid).tracking_status == "in_transit"
    assert process_event(hub_db, box, URL, rows[0].id, replay=True) == "done"
    assert _status_events(hub_db) == [("pending", "in_transit")], "a replay changes nothing"
