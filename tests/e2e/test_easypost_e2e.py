"""EasyPost end to end on loopback: the hub (real HTTP, a stored connection) against the EasyPost
sandbox (real HTTP): rates, a purchase whose answer is lost (retried, or reconciled by
``find_label``) selling exactly one label, a refund, tracking to delivered, and signed tracker
Events accepted by the hub's webhook endpoint while a forged one is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from connectors.easypost import EasyPostConnector
from connectors.easypost.sandbox import EasyPostSandbox
from hub import tables as t
from hub.app import create_app
from hub.db import Database
from hub.http import HttpError
from hub.sandbox import SandboxClock
from hub.services.connections import build_connector, create_connection
from hub.shipping.model import Address, LabelRequest, Parcel, RateRequest
from tests.conftest import LiveHub, make_settings, serve

REQUEST = RateRequest(
    Address("Jack Sparrow", "388 Townsend St", "San Francisco", "94107", "US", region="CA"),
    Address("Elizabeth Swan", "179 N Harbor Dr", "Redondo Beach", "90277", "US", region="CA"),
    (Parcel(1200, 300, 200, 150),),
)


@pytest.fixture
def hub(tmp_path: Path, sqlite_db: Database) -> Iterator[LiveHub]:
    with serve(create_app(make_settings(tmp_path, sqlite_db.url))) as live:
        yield live


@pytest.fixture
def sandbox() -> Iterator[EasyPostSandbox]:
    with EasyPostSandbox(seed=7, clock=SandboxClock(speed=0)) as box:
        yield box


def connect(hub: LiveHub, sandbox: EasyPostSandbox, max_attempts: int = 5) -> EasyPostConnector:
    h = hub.app.extensions["hub"]
    with hub.db.session() as session:
        conn = create_connection(session, h.box, "easypost", "EasyPost", sandbox.connection_values())
        session.flush()
        session.expunge(conn)
    built = build_connector(h.db, h.box, conn, h.settings.public_url, max_attempts=max_attempts)
    assert isinstance(built, EasyPostConnector)
    return built


def test_rates_and_a_lost_purchase_answer_sell_one_label(hub: LiveHub, sandbox: EasyPostSandbox) -> None:
    connector = connect(hub, sandbox)
    sandbox.set_faults(latency_ms=20)
    quotes = connector.rates(REQUEST)
    assert {q.service_name.split()[0] for q in quotes} == {"USPS", "UPS", "FedEx"}
    cheapest = min(quotes, key=lambda q: q.amount)
    sandbox.fail_next("lost_response", path=r"/buy$")
    request = LabelRequest(REQUEST, cheapest.service_code, "idem-1", "PDF", cheapest.carrier_ref)
    label = connector.buy_label(request)  # the retry is refused (postage exists): read back
    assert label.label_data.startswith(b"%PDF-") and label.carrier_name
    assert connector.find_label(request).tracking_number == label.tracking_number
    assert sandbox.labels_sold == 1 and sandbox.stats.faults["lost_response"] == 1
    assert connector.void_label(label) and connector.void_label(label)
    assert requests.get(f"{sandbox.url}/_sandbox/refunds", timeout=5).json()["total"] == 1


def test_a_lost_answer_without_retries_is_reconciled_by_find_label(
    hub: LiveHub, sandbox: EasyPostSandbox
) -> None:
    connector = connect(hub, sandbox, max_attempts=1)
    quote = connector.rates(REQUEST)[0]
    request = LabelRequest(REQUEST, quote.service_code, "idem-2", "PNG", quote.carrier_ref)
    sandbox.fail_next("lost_response", path=r"/buy$")
    with pytest.raises(HttpError) as lost:
        connector.buy_label(request)
    assert lost.value.status is None
    found = connector.find_label(request)
    assert found.label_data.startswith(b"\x89PNG") and found.carrier_ref == quote.carrier_ref.split(":")[0]
    assert requests.get(f"{sandbox.url}/_sandbox/labels", timeout=5).json()["total"] == 1


def test_tracking_to_delivered_by_poll_and_signed_webhooks(hub: LiveHub, sandbox: EasyPostSandbox) -> None:
    connector = connect(hub, sandbox)
    assert connector.register_webhooks() == ["webhook created"]
    assert connector.register_webhooks() == []
    quote = connector.rates(REQUEST)[0]
    label = connector.buy_label(LabelRequest(REQUEST, quote.service_code, "idem-3", "ZPL", quote.carrier_ref))
    statuses = []
    for _ in range(4):
        requests.post(f"{sandbox.url}/_sandbox/clock/advance", json={"seconds": 10 * 3600}, timeout=5)
        (tracker,) = connector.track([label.tracking_number, "9400000000000000000000"])
        statuses.append(tracker.status)
    assert statuses == ["in_transit", "in_transit", "out_for_delivery", "delivered"]
    assert tracker.delivered_at is not None and tracker.events[-1].status == "pending"
    deliveries = requests.get(f"{sandbox.url}/_sandbox/deliveries", timeout=5).json()
    assert deliveries["pending"] == 0 and {d["status"] for d in deliveries["deliveries"]} == {200}
    with hub.db.session() as session:
        stored = session.scalars(select(t.InboxEvent.topic)).all()
    assert stored.count("tracker.updated") == 4 and stored.count("tracker.created") == 1
    event = json.dumps({"id": "evt_forged", "description": "tracker.updated"}).encode()
    hook_url = connector.ctx.webhook_url or ""
    forged = requests.post(
        hook_url, data=event, headers={"X-Hmac-Signature": "hmac-sha256-hex=00"}, timeout=5
    )
    unsigned = requests.post(hook_url, data=event, timeout=5)
    assert (forged.status_code, unsigned.status_code) == (401, 401)
