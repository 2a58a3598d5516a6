"""FedEx end to end on loopback: a connection stored by the hub from the sandbox's own form
values, its connector built as the hub builds it (call log, masking, limiter), against the
FedEx sandbox over real HTTP with faults switched on.

FedEx has no idempotency key and no purchase lookup: a label purchase whose answer is lost
must not be repeated, ``find_label`` says it cannot reconcile, and the sandbox has sold
exactly one label under the hub's key. FedEx pushes nothing the hub can take (its webhooks are
an unpublished paid product): tracking is polled, and moves to delivered."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import tenacity
from sqlalchemy import select

from connectors.fedex import FedexConnector
from connectors.fedex.client import FedexError
from connectors.fedex.sandbox import FedexSandbox
from hub import tables as t
from hub.calllog import flush_call_log
from hub.carriers import CannotReconcile
from hub.connectors import Capability
from hub.crypto import SecretBox
from hub.db import Database
from hub.sandbox import SandboxClock
from hub.services.connections import build_connector, create_connection
from hub.shipping.model import Address, LabelRequest, Parcel, RateRequest

SHIPMENT = RateRequest(
    Address("Ann Lee", "1 Main St", "Memphis", "38118", "US", region="TN", phone="9015550100"),
    Address(
        "Bob Roe", "2 Oak Ave", "Austin", "78701", "US", region="TX", phone="5125550100", residential=True
    ),
    (Parcel(2300, 300, 200, 100),),
    reference="SHP-1",
)


@pytest.fixture
def sandbox() -> Iterator[FedexSandbox]:
    clock = SandboxClock(datetime(2024, 7, 1, 15, 0, tzinfo=UTC), speed=0)
    with FedexSandbox(seed=11, clock=clock, step=timedelta(minutes=20)) as running:
        yield running


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries wait through tenacity's sleep: none here (the faults are queued, not timed)."""
    monkeypatch.setattr(tenacity.nap, "sleep", lambda seconds: None)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox("fedex-e2e-key")


def connector(db: Database, box: SecretBox, sandbox: FedexSandbox) -> FedexConnector:
    with db.session() as session:
        connection = create_connection(session, box, "fedex", "FedEx", sandbox.connection_values())
        session.flush()
        session.expunge(connection)
    built = build_connector(db, box, connection, "https://hub.example.com")
    assert isinstance(built, FedexConnector)
    return built


def test_rates_labels_and_tracking(sqlite_db: Database, box: SecretBox, sandbox: FedexSandbox) -> None:
    fedex = connector(sqlite_db, box, sandbox)
    assert fedex.test_connection().ok
    sandbox.set_faults(latency_ms=20)
    sandbox.token_requests = 0

    # 50 threads shop rates at once: one token
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def shop() -> None:
        barrier.wait()
        try:
            results.append(len(fedex.rates(SHIPMENT)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=shop) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and results == [5] * 50
    assert sandbox.token_requests == 1
    sandbox.set_faults(latency_ms=0)

    quote = min(fedex.rates(SHIPMENT), key=lambda q: q.amount)
    label = fedex.buy_label(LabelRequest(SHIPMENT, quote.service_code, "label-key-1"))
    assert label.label_data.startswith(b"%PDF") and label.amount is not None
    assert sandbox.labels_sold_for("label-key-1") == 1

    # tracking by poll, through 429 and 500 faults (a Track call is safe to repeat)
    sandbox.fail_next("429", path="/track/")
    sandbox.fail_next("500", path="/track/")
    statuses = []
    for _ in range(5):
        (tracker,) = fedex.track([label.tracking_number, "000000000000"])
        statuses.append(tracker.status)
        sandbox.tick()
    assert statuses == ["pending", "picked_up", "in_transit", "out_for_delivery", "delivered"]
    assert tracker.delivered_at is not None

    # a second label, voided before FedEx has it
    spare = fedex.buy_label(LabelRequest(SHIPMENT, "FEDEX_2_DAY", "label-key-2", label_format="ZPL"))
    assert spare.label_format == "ZPL" and spare.label_data.startswith(b"^XA")
    assert fedex.void_label(spare) is True
    assert sandbox.voids == [spare.tracking_number]

    flush_call_log(sqlite_db)
    with sqlite_db.session() as session:
        logged = " ".join(f"{c.url} {c.error}" for c in session.scalars(select(t.ApiCall)))
    assert "/track/v1/trackingnumbers" in logged
    for secret in (sandbox.api_key, sandbox.secret_key):
        assert secret not in logged


def test_a_lost_label_answer_is_never_bought_again(
    sqlite_db: Database, box: SecretBox, sandbox: FedexSandbox
) -> None:
    fedex = connector(sqlite_db, box, sandbox)
    request = LabelRequest(SHIPMENT, "FEDEX_GROUND", "label-key-lost")
    sandbox.fail_next("lost_response", path="/ship/v1/shipments$")
    with pytest.raises(FedexError, match=r"label purchase failed"):
        fedex.buy_label(request)
    with pytest.raises(CannotReconcile):
        fedex.find_label(request)
    assert sandbox.labels_sold_for("label-key-lost") == 1
    assert sandbox.labels_sold == 1


def test_a_503_on_ship_is_not_retried(sqlite_db: Database, box: SecretBox, sandbox: FedexSandbox) -> None:
    fedex = connector(sqlite_db, box, sandbox)
    sandbox.fail_next("503", path="/ship/v1/shipments$")
    with pytest.raises(FedexError, match=r"SERVICE.UNAVAILABLE.ERROR"):
        fedex.buy_label(LabelRequest(SHIPMENT, "FEDEX_GROUND", "label-key-503"))
    assert sandbox.stats.count("POST", "/ship/v1/shipments") == 1


def test_expired_tokens_are_refreshed_once(
    sqlite_db: Database, box: SecretBox, sandbox: FedexSandbox
) -> None:
    fedex = connector(sqlite_db, box, sandbox)
    fedex.rates(SHIPMENT)
    before = sandbox.token_requests
    sandbox.expire_tokens()
    assert fedex.rates(SHIPMENT)
    assert sandbox.token_requests == before + 1


def test_fedex_is_polled_not_pushed() -> None:
    assert Capability.TRACKING_WEBHOOK not in FedexConnector.capabilities
    assert FedexConnector.verify_webhook({}, {"fdx-signature": "x"}, b"{}") is False
