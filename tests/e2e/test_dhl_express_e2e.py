"""DHL Express end to end on loopback: a stored connection (the hub's own connection
service, call log and masking) against the DHL Express sandbox over real HTTP, with faults.

DHL Express has no OAuth token (Basic auth on every call), no idempotency key, no void and
no tracking push: a purchase whose answer is lost is looked up by its reference and reported
as :class:`CannotReconcile`, and DHL has sold exactly one label."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import tenacity
from flask import Flask
from sqlalchemy import select

from connectors.dhl_express import DhlExpressConnector
from connectors.dhl_express.sandbox import DhlExpressSandbox
from hub import tables as t
from hub.calllog import flush_call_log
from hub.carriers import CannotReconcile
from hub.http import HttpError
from hub.sandbox import SandboxClock
from hub.services.connections import build_connector, create_connection, run_test
from hub.shipping.model import Address, LabelRequest, Parcel, RateRequest


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tenacity.nap, "sleep", lambda _: None)


@pytest.fixture
def sandbox() -> Iterator[DhlExpressSandbox]:
    with DhlExpressSandbox(clock=SandboxClock(speed=0)) as box:
        yield box


@pytest.fixture
def connection(app: Flask, sandbox: DhlExpressSandbox) -> t.Connection:
    hub = app.extensions["hub"]
    with hub.db.session() as session:
        conn = create_connection(session, hub.box, "dhl_express", "DHL", sandbox.connection_values())
        session.flush()
        session.expunge(conn)
    return conn


@pytest.fixture
def dhl(app: Flask, connection: t.Connection) -> DhlExpressConnector:
    hub = app.extensions["hub"]
    built = build_connector(hub.db, hub.box, connection, hub.settings.public_url)
    assert isinstance(built, DhlExpressConnector)
    return built


def shipment() -> RateRequest:
    return RateRequest(
        Address("Ann", "Main St 1", "Bonn", "53113", "DE", company="Shop", phone="+49 228 1"),
        Address("Bob", "Ring 2", "Berlin", "10115", "DE", phone="+49 30 2"),
        (Parcel(1800, 300, 200, 150), Parcel(700)),
        reference="SHIP-7",
    )


def buy(dhl: DhlExpressConnector, key: str) -> Any:
    quote = dhl.rates(shipment())[0]
    return dhl.buy_label(LabelRequest(shipment(), quote.service_code, key, carrier_ref=quote.carrier_ref))


def test_test_connection(app: Flask, connection: t.Connection, sandbox: DhlExpressSandbox) -> None:
    hub = app.extensions["hub"]
    assert run_test(hub.db, hub.box, connection, hub.settings.public_url).ok
    assert sandbox.auth["accepted"] == 1


def test_rates_with_latency_and_a_retried_503(dhl: DhlExpressConnector, sandbox: DhlExpressSandbox) -> None:
    sandbox.set_faults(latency_ms=50)
    sandbox.fail_next("503", path="/rates")
    quotes = dhl.rates(shipment())
    assert [q.service_code for q in quotes] == ["N", "1"]
    assert all(q.amount > 0 and q.estimated_days == 1 for q in quotes)
    assert sandbox.stats.count("POST", "/mydhlapi/rates") == 2


def test_buy_a_label(dhl: DhlExpressConnector, sandbox: DhlExpressSandbox) -> None:
    label = buy(dhl, "order-1-label")
    assert label.label_data.startswith(b"%PDF") and len(label.parcel_tracking_numbers) == 2
    assert sandbox.labels_sold == 1 and sandbox.labels_for("order-1-label") == 1


def test_a_lost_answer_buys_nothing_twice(dhl: DhlExpressConnector, sandbox: DhlExpressSandbox) -> None:
    request = LabelRequest(shipment(), "N", "order-2-label", carrier_ref="N")
    sandbox.fail_next("lost_response", path="/shipments$")
    with pytest.raises(HttpError):
        dhl.buy_label(request)
    assert sandbox.labels_sold == 1  # DHL made it; the answer never arrived and was not retried
    with pytest.raises(CannotReconcile) as caught:
        dhl.find_label(request)
    (waybill,) = sandbox.shipments
    assert waybill in str(caught.value) and "reprint it in MyDHL+" in str(caught.value)
    assert sandbox.labels_sold == 1 and sandbox.labels_for("order-2-label") == 1


def test_a_dropped_purchase_is_not_retried_either(
    dhl: DhlExpressConnector, sandbox: DhlExpressSandbox
) -> None:
    sandbox.fail_next("drop", path="/shipments$")
    with pytest.raises(HttpError):
        dhl.buy_label(LabelRequest(shipment(), "N", "order-3-label"))
    assert sandbox.labels_sold == 0
    with pytest.raises(CannotReconcile, match="no shipment under reference order-3-label"):
        dhl.find_label(LabelRequest(shipment(), "N", "order-3-label"))


def test_tracking_moves_to_delivered(dhl: DhlExpressConnector, sandbox: DhlExpressSandbox) -> None:
    numbers = [buy(dhl, f"order-{i}").tracking_number for i in range(3)]
    statuses = []
    for _ in range(16):
        (first, *rest) = dhl.track([*numbers, "0000000000"])
        assert len(rest) == 2
        if not statuses or statuses[-1] != first.status:
            statuses.append(first.status)
        sandbox.clock.advance(timedelta(hours=2))
    assert statuses == ["pending", "picked_up", "in_transit", "out_for_delivery", "delivered"]
    assert first.delivered_at is not None and first.events[0].code == "OK"


def test_no_secret_in_the_call_log(app: Flask, dhl: DhlExpressConnector, sandbox: DhlExpressSandbox) -> None:
    sandbox.fail_next("500", path="/shipments$")
    with pytest.raises(HttpError):
        dhl.buy_label(LabelRequest(shipment(), "N", "order-4-label"))
    dhl.track(["0000000000"])
    db = app.extensions["hub"].db
    flush_call_log(db)
    with db.session() as session:
        rows = session.execute(select(t.ApiCall).order_by(t.ApiCall.id)).scalars().all()
    assert [(r.method, r.status) for r in rows] == [("POST", 500), ("GET", 404)]  # the purchase: not retried
    logged = " ".join(f"{r.url} {r.error}" for r in rows)
    assert sandbox.api_secret not in logged and "Basic" not in logged
