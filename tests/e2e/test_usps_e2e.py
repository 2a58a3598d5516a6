"""USPS end to end on loopback: a stored connection (the form's values, encrypted) built into a
connector with the real HTTP layer, against the USPS sandbox: token, rates, a label whose answer
is lost (the HTTP retry and the lookup both give the one label sold), a 401 refreshed, a void,
and tracking that reaches delivered."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import tenacity
from sqlalchemy import select

from connectors.usps import UspsConnector
from connectors.usps.sandbox import UspsSandbox
from hub import tables as t
from hub.carriers import LabelNotFound
from hub.crypto import SecretBox
from hub.db import Database
from hub.http import HttpError
from hub.oauth import TokenCache
from hub.sandbox import SandboxClock
from hub.services.connections import build_connector, create_connection
from hub.shipping.document import dump_quote
from hub.shipping.model import Address, LabelRequest, Parcel, RateRequest
from tests.contracts import validate_shipping

BOX = SecretBox("usps-e2e-test-key")
FROM = Address("Sam Wilson", "45 L St SW", "Washington", "20024", "US", region="DC")
TO = Address("Nick Fury", "2700 S Jefferson Ave", "St. Louis", "63104", "US", region="MO")
SHIPMENT = RateRequest(FROM, TO, (Parcel(1000, 300, 200, 100),), reference="HUB-1")


@pytest.fixture(autouse=True)
def fresh_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("connectors.usps.client.TOKENS", TokenCache())
    monkeypatch.setattr(tenacity.nap, "sleep", lambda seconds: None)  # retries at once


@pytest.fixture
def box() -> Iterator[UspsSandbox]:
    with UspsSandbox(clock=SandboxClock(speed=0)) as sandbox:
        yield sandbox


def connect(db: Database, box: UspsSandbox, max_attempts: int = 5) -> UspsConnector:
    with db.session() as session:
        cid = create_connection(session, BOX, "usps", "USPS", box.connection_values()).id
    with db.session() as session:
        connection = session.scalars(select(t.Connection).where(t.Connection.id == cid)).one()
        session.expunge(connection)
    built = build_connector(db, BOX, connection, "http://127.0.0.1:5000", max_attempts=max_attempts)
    assert isinstance(built, UspsConnector)
    return built


def buy(usps: UspsConnector, key: str) -> LabelRequest:
    quote = next(q for q in usps.rates(SHIPMENT) if q.service_code == "PRIORITY_MAIL")
    return LabelRequest(SHIPMENT, quote.service_code, key, carrier_ref=quote.carrier_ref)


def test_connection_rates_and_one_token_for_many_threads(sqlite_db: Database, box: UspsSandbox) -> None:
    usps = connect(sqlite_db, box)
    assert usps.test_connection().ok
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(len(usps.rates(SHIPMENT)))) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [3] * 20
    assert box.state()["token_requests"] == 1
    validate_shipping({"kind": "rates", "quotes": [dump_quote(q) for q in usps.rates(SHIPMENT)]})


def test_a_lost_label_answer_is_retried_and_sells_one_label(sqlite_db: Database, box: UspsSandbox) -> None:
    usps = connect(sqlite_db, box)
    request = buy(usps, f"shipment-{uuid.uuid4()}")
    box.fail_next("lost_response", path=r"^/labels/v3/label$")
    label = usps.buy_label(request)
    assert label.label_data.startswith(b"%PDF")
    assert box.stats.faults["lost_response"] == 1
    assert box.labels_sold == 1
    assert list(box.state()["sold_by_key"].values()) == [1]
    assert usps.find_label(request).tracking_number == label.tracking_number


def test_a_purchase_given_up_is_found_again_and_never_bought_twice(
    sqlite_db: Database, box: UspsSandbox
) -> None:
    usps = connect(sqlite_db, box, max_attempts=1)
    request = buy(usps, str(uuid.uuid4()))
    with pytest.raises(LabelNotFound):
        usps.find_label(request)
    box.fail_next("lost_response", path=r"^/labels/v3/label$")
    with pytest.raises(HttpError) as info:
        usps.buy_label(request)
    assert info.value.status is None  # no answer: the hub does not know whether it bought
    found = usps.find_label(request)
    assert box.labels_sold == 1
    assert usps.buy_label(request).tracking_number == found.tracking_number  # a replay, not a sale
    assert box.labels_sold == 1


def test_a_revoked_token_is_refreshed_once(sqlite_db: Database, box: UspsSandbox) -> None:
    usps = connect(sqlite_db, box)
    usps.rates(SHIPMENT)
    box.revoke_tokens()
    assert len(usps.rates(SHIPMENT)) == 3
    assert box.state()["token_requests"] == 2


def test_tracking_reaches_delivered_and_a_void_cancels(sqlite_db: Database, box: UspsSandbox) -> None:
    usps = connect(sqlite_db, box)
    label = usps.buy_label(buy(usps, str(uuid.uuid4())))
    statuses = []
    for _ in range(6):
        [tracker] = usps.track([label.tracking_number])
        statuses.append(tracker.status)
        box.clock.advance(timedelta(hours=4))
    assert statuses == ["pending", "picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    assert tracker.delivered_at is not None and tracker.estimated_delivery is not None
    assert usps.track(["9400000000000000000000"]) == []
    other = usps.buy_label(buy(usps, str(uuid.uuid4())))
    assert usps.void_label(other)
    assert box.state()["voids"] == 1


def test_a_429_from_the_quota_is_waited_out(sqlite_db: Database, box: UspsSandbox) -> None:
    usps = connect(sqlite_db, box)
    box.fail_next("429", path="/shipments/")
    assert len(usps.rates(SHIPMENT)) == 3
    assert box.stats.faults["429"] == 1
