"""UPS end to end on loopback: a hub connection built from the sandbox's connection values
(real HTTP both ways): token, rates under latency and a 429, a label bought, a purchase
whose answer is lost reconciled by Label Recovery with exactly one label sold, tracking to
delivered, and Track Alert events pushed into the hub's webhook inbox (a wrong credential
refused before anything is stored)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from connectors.ups import UpsConnector
from connectors.ups.sandbox import UpsSandbox
from hub import tables as t
from hub.app import create_app
from hub.db import Database
from hub.http import HttpError
from hub.sandbox import SandboxClock
from hub.services.connections import build_connector, create_connection
from hub.shipping.model import Address, LabelRequest, Parcel, RateRequest
from tests.conftest import LiveHub, make_settings, serve

START = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
STAGE = 3600.0
SHIPMENT = RateRequest(
    Address("Ann", "1 Main St", "Timonium", "21093", "US", region="MD"),
    Address("Bob", "2 Elm St", "Atlanta", "30301", "US", region="GA", residential=True),
    (Parcel(1500, 300, 200, 100),),
    ship_date=date(2026, 12, 7),
)


@pytest.fixture
def hub(tmp_path: Path, sqlite_db: Database) -> Iterator[LiveHub]:
    app = create_app(make_settings(tmp_path, sqlite_db.url, secret_key="ups-e2e-secret-key"))
    with serve(app) as live:
        yield live


@pytest.fixture
def sandbox() -> Iterator[UpsSandbox]:
    with UpsSandbox(clock=SandboxClock(START, speed=0), stage_seconds=STAGE) as box:
        yield box


def connect(hub: LiveHub, sandbox: UpsSandbox) -> tuple[int, UpsConnector]:
    h = hub.app.extensions["hub"]
    with hub.db.session() as session:
        conn = create_connection(session, h.box, "ups", "UPS sandbox", sandbox.connection_values())
        session.flush()
        session.expunge(conn)
    built = build_connector(h.db, h.box, conn, h.settings.public_url, max_attempts=3)
    assert isinstance(built, UpsConnector)
    return conn.id, built


def inbox_rows(db: Database, connection_id: int) -> int:
    with db.session() as session:
        query = (
            select(func.count()).select_from(t.InboxEvent).where(t.InboxEvent.connection_id == connection_id)
        )
        return session.scalar(query) or 0


def test_rates_label_and_tracking_to_delivered(hub: LiveHub, sandbox: UpsSandbox) -> None:
    _, ups = connect(hub, sandbox)
    assert ups.test_connection().ok
    sandbox.set_faults(latency_ms=50)
    sandbox.fail_next("429", path="/api/rating/")
    quotes = ups.rates(SHIPMENT)
    assert [q.service_code for q in quotes][:3] == ["03", "12", "02"]
    ground = quotes[0]
    assert ground.amount < ground.list_amount and ground.estimated_delivery == date(2026, 12, 11)
    sandbox.reset_faults()

    label = ups.buy_label(LabelRequest(SHIPMENT, "03", "e2e-key-1", "GIF"))
    assert label.label_data.startswith(b"GIF89a")
    assert sandbox.labels_sold("e2e-key-1") == 1
    statuses = []
    for _ in range(5):
        statuses.append(ups.track([label.tracking_number])[0].status)
        sandbox.advance(STAGE)
    assert statuses == ["pending", "picked_up", "in_transit", "out_for_delivery", "delivered"]
    delivered = ups.track([label.tracking_number])[0]
    assert delivered.delivered_at == datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    assert ups.track(["1ZA1B2C30399999999"]) == []
    # the connection test's own, the one every call above shared until the sandbox clock
    # passed its four-hour life, and its replacement after the 401
    assert sandbox.token_requests == 3


def test_a_lost_purchase_answer_is_found_again_and_sold_once(hub: LiveHub, sandbox: UpsSandbox) -> None:
    _, ups = connect(hub, sandbox)
    request = LabelRequest(SHIPMENT, "02", "e2e-lost-1", "PNG")
    sandbox.fail_next("lost_response", path="/api/shipments/")
    with pytest.raises(HttpError) as lost:
        ups.buy_label(request)
    assert lost.value.status is None  # no answer: the hub must reconcile, not buy again
    found = ups.find_label(request)
    assert sandbox.labels_sold() == 1 and sandbox.labels_sold("e2e-lost-1") == 1
    assert found.tracking_number == sandbox.sales[0].numbers[0]
    assert found.label_data.startswith(b"\x89PNG")
    assert ups.void_label(found)
    assert sandbox.voids == 1
    assert ups.track([found.tracking_number])[0].status == "cancelled"


def test_an_expired_token_is_replaced_once(hub: LiveHub, sandbox: UpsSandbox) -> None:
    _, ups = connect(hub, sandbox)
    ups.rates(SHIPMENT)
    sandbox.expire_tokens()
    ups.rates(SHIPMENT)
    assert sandbox.token_requests == 2


def test_track_alert_events_reach_the_hub_inbox(hub: LiveHub, sandbox: UpsSandbox) -> None:
    cid, ups = connect(hub, sandbox)
    label = ups.buy_label(LabelRequest(SHIPMENT, "03", "e2e-hook-1", "GIF"))
    assert ups.subscribe_tracking([label.tracking_number]) == [label.tracking_number]
    sandbox.advance(4 * STAGE)
    assert sandbox.deliver_pending() == [200, 200, 200, 200]
    assert inbox_rows(hub.db, cid) == 4
    assert sandbox.deliver_pending() == []

    with hub.db.session() as session:
        bodies = [bytes(row.body) for row in session.scalars(select(t.InboxEvent))]
    trackers = [tr for body in bodies for tr in ups.trackers_from_webhook(json.loads(body))]
    assert {tr.status for tr in trackers} == {"picked_up", "in_transit", "out_for_delivery", "delivered"}

    assert ups.ctx.webhook_url is not None
    forged = requests.post(
        ups.ctx.webhook_url,
        data=bodies[0],
        headers={"credential": "guessed", "User-Agent": "UPSPubSubTrackingService"},
        timeout=5,
    )
    assert forged.status_code == 401
    assert inbox_rows(hub.db, cid) == 4
