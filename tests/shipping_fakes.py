"""A fake carrier connector for the shipping tests (registered for the test's duration),
driven by its connection settings and one shared ledger of labels sold."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

import pytest
import requests

from hub import tables as t
from hub.carriers import CARRIER_CAPABILITIES, CannotReconcile, CarrierConnector, LabelNotFound
from hub.connectors import Capability, FieldSpec, TestResult, WebhookDelivery, registry
from hub.crypto import SecretBox
from hub.db import Database
from hub.http import HttpError
from hub.shipping.model import Label, LabelRequest, RateQuote, RateRequest, Tracker, TrackingEvent
from hub.shipping.status import build_tracker


@dataclass
class Ledger:
    """What the fake carrier has sold, and the faults it is told to inject."""

    sold: dict[str, Label] = field(default_factory=dict)
    buy_calls: int = 0
    lose_answers: int = 0  # the next N purchases are made, then the answer is lost
    refuse: str | None = None  # a 4xx refusal for every purchase
    trackers: dict[str, Tracker] = field(default_factory=dict)
    track_calls: list[list[str]] = field(default_factory=list)
    voided: list[str] = field(default_factory=list)
    hang: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeCarrier(CarrierConnector):
    name = "fake_carrier"
    display_name = "Fake Carrier"
    capabilities = CARRIER_CAPABILITIES | {Capability.TRACKING_WEBHOOK}
    fields = (
        FieldSpec("secret", "Webhook secret", type="secret", required=False),
        FieldSpec("carrier", "Carrier", group="settings", required=False),
    )
    track_batch_size = 2
    label_formats = ("PNG", "PDF")
    rate_timeout_s = 5.0
    ledger: ClassVar[Ledger] = Ledger()

    @classmethod
    def base_url(cls, credentials: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        return "http://fake-carrier.invalid"

    def test_connection(self) -> TestResult:
        return TestResult(True, "ok")

    def rates(self, request: RateRequest) -> list[RateQuote]:
        s = self.ctx.settings
        if s.get("hang"):
            self.ledger.hang.wait(30)
        if s.get("fail"):
            raise HttpError(f"POST /rates: {s['fail']}", url="/rates", status=503)
        carrier = s.get("carrier") or "ups"
        return [
            RateQuote(
                carrier,
                code,
                f"{carrier} {code}",
                Decimal(amount),
                None,
                "USD",
                days,
                None,
                False,
                carrier_ref=f"rate_{carrier}_{code}",
            )
            for code, amount, days in s.get("quotes", [["GND", "10.00", 5], ["AIR", "30.00", 1]])
        ]

    def buy_label(self, request: LabelRequest) -> Label:
        ledger = self.ledger
        with ledger.lock:
            ledger.buy_calls += 1
            if ledger.refuse:
                raise HttpError(f"POST /labels: 400 {ledger.refuse}", url="/labels", status=400)
            if request.idempotency_key in ledger.sold:  # a carrier that honours the key
                label = ledger.sold[request.idempotency_key]
            else:
                number = f"1ZFAKE{len(ledger.sold) + 1:06d}"
                label = Label(
                    number,
                    request.label_format,
                    b"\x89PNG fake " + number.encode(),
                    f"shp_{number}",
                    Decimal("10.00"),
                    "USD",
                )
                ledger.sold[request.idempotency_key] = label
            if ledger.lose_answers > 0:
                ledger.lose_answers -= 1
                raise HttpError("POST /labels: no answer in time", url="/labels") from requests.Timeout()
        return label

    def find_label(self, request: LabelRequest) -> Label:
        if self.ctx.settings.get("no_lookup"):
            raise CannotReconcile("the fake carrier has no lookup")
        with self.ledger.lock:
            label = self.ledger.sold.get(request.idempotency_key)
        if label is None:
            raise LabelNotFound(request.idempotency_key)
        return label

    def void_label(self, label: Label) -> bool:
        self.ledger.voided.append(label.tracking_number)
        return True

    def track(self, tracking_numbers: list[str]) -> list[Tracker]:
        assert len(tracking_numbers) <= self.track_batch_size
        self.ledger.track_calls.append(list(tracking_numbers))
        return [self.ledger.trackers[n] for n in tracking_numbers if n in self.ledger.trackers]

    @classmethod
    def verify_webhook(cls, credentials: Mapping[str, Any], headers: Mapping[str, str], body: bytes) -> bool:
        secret = credentials.get("secret") or ""
        given = headers.get("X-Fake-Signature", "")
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return bool(secret) and hmac.compare_digest(given, expected)

    @classmethod
    def webhook_delivery(cls, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
        return WebhookDelivery(key=json.loads(body)["id"], topic="tracker.updated")

    def trackers_from_webhook(self, payload: Any) -> list[Tracker]:
        return [tracker_from_json(payload["tracker"])]


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event(at: str, status: str, code: str = "X", **kw: Any) -> TrackingEvent:
    return TrackingEvent(datetime.fromisoformat(at).replace(tzinfo=UTC), status, code, f"{status} scan", **kw)  # type: ignore[arg-type]


def tracker(number: str, *events: TrackingEvent, carrier: str = "ups", eta: date | None = None) -> Tracker:
    return build_tracker(carrier, number, events, eta)


def tracker_json(tr: Tracker) -> dict[str, Any]:
    return {
        "number": tr.tracking_number,
        "events": [[e.at.isoformat(), e.status, e.code] for e in tr.events],
    }


def tracker_from_json(data: dict[str, Any]) -> Tracker:
    evs = [
        TrackingEvent(datetime.fromisoformat(at), status, code, f"{status} scan")
        for at, status, code in data["events"]
    ]
    return build_tracker("ups", data["number"], evs)


@pytest.fixture
def fake_carrier() -> Iterator[type[FakeCarrier]]:
    registry()["fake_carrier"] = FakeCarrier
    FakeCarrier.ledger = Ledger()
    try:
        yield FakeCarrier
    finally:
        FakeCarrier.ledger.hang.set()
        registry().pop("fake_carrier", None)


def add_carrier(db: Database, box: SecretBox, name: str, secret: str = "whsec", **settings: Any) -> int:
    with db.session() as s:
        conn = t.Connection(
            kind="carrier",
            connector="fake_carrier",
            name=name,
            credentials_encrypted=box.encrypt({"secret": secret}),
            settings=settings,
            schedule={},
            webhook_key=f"key-{name}",
            enabled=True,
        )
        s.add(conn)
        s.flush()
        return conn.id


def add_order_and_location(db: Database, *, reserved: bool = True) -> tuple[int, int]:
    """A channel order with two lines (3 of A, 1 of B), and location WH1 with an address where
    the routing reserved them. Returns (order id, location id)."""
    from hub.ingest import IngestItem, ingest_orders
    from tests.factories import make_order

    with db.session() as s:
        s.add(
            t.Connection(
                kind="channel",
                connector="shopify",
                name="shop",
                webhook_key="shop-key",
                settings={},
                schedule={},
            )
        )
    order = make_order(1, lines=2)
    db.transaction(lambda s: ingest_orders(s, 1, [IngestItem(order, {})]))
    with db.session() as s:
        row = s.query(t.Order).one()
        canonical = dict(row.canonical)
        canonical["lines"] = [dict(line) for line in canonical["lines"]]
        canonical["lines"][0]["quantity"], canonical["lines"][1]["quantity"] = 3, 1
        row.canonical = canonical
        for line in s.query(t.OrderLine).filter(t.OrderLine.order_id == row.id):
            line.quantity = 3 if line.position == 0 else 1
        loc = t.Location(code="WH1", name="Main warehouse", priority=1, regions=[])
        s.add(loc)
        s.add(t.Location(code="WH2", name="Second", priority=2, regions=[]))
        s.flush()
        s.add(
            t.LocationAddress(
                location_id=loc.id,
                name="Shipper",
                line1="1 Dock Rd",
                city="Atlanta",
                region="GA",
                postal_code="30301",
                country_code="US",
            )
        )
        if reserved:
            sku = t.Sku(sku="SKU-A")
            s.add(sku)
            s.flush()
            for line in canonical["lines"]:
                s.add(
                    t.Reservation(
                        order_id=row.id,
                        line_external_id=line["external_id"],
                        sku_id=sku.id,
                        location_id=loc.id,
                        state="reserved",
                        quantity=line["quantity"],
                    )
                )
        return row.id, loc.id
