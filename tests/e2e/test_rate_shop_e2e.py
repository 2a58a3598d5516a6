"""Acceptance, rate shopping across the five carrier sandboxes on loopback: one carrier made
to hang answers within its timeout + 100 ms with the other quotes and each rule's choice;
50 concurrent rate requests to one carrier fetch one OAuth token."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hub import tables as t
from hub.connectors import get_connector
from hub.db import Database
from hub.sandbox import Sandbox, load_sandbox
from hub.services.accounts import create_token
from hub.services.connections import create_connection

CARRIERS = ("ups", "fedex", "usps", "dhl_express", "easypost")
HUNG_TIMEOUT_S = 1.0
ADDRESS_FROM = {
    "name": "Shipper",
    "street1": "1 Dock Rd",
    "city": "Atlanta",
    "region": "GA",
    "postal_code": "30301",
    "country_code": "US",
    "phone": "4045550100",
}
ADDRESS_TO = {
    "name": "Ann Buyer",
    "street1": "350 5th Ave",
    "city": "New York",
    "region": "NY",
    "postal_code": "10118",
    "country_code": "US",
    "phone": "2125550100",
    "residential": True,
}


@pytest.fixture
def sandboxes() -> Iterator[dict[str, Sandbox]]:
    seed = random.randrange(1, 1_000_000)  # fresh credentials: no token cached from another test
    running = {name: load_sandbox(get_connector(name).sandbox or "", seed=seed).start() for name in CARRIERS}
    try:
        yield running
    finally:
        for sandbox in running.values():
            sandbox.stop()


def connect(db: Database, app: Flask, sandboxes: dict[str, Sandbox]) -> dict[str, int]:
    box = app.extensions["hub"].box
    ids = {}
    with db.session() as session:
        for name, sandbox in sandboxes.items():
            ids[name] = create_connection(
                session, box, name, f"{name} sandbox", sandbox.connection_values()
            ).id
    return ids


def api_client(app: Flask, db: Database) -> FlaskClient:
    with db.session() as session:
        token = create_token(session, "e2e")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def shop_body(**extra: Any) -> dict[str, Any]:
    return {
        "ship_from": ADDRESS_FROM,
        "ship_to": ADDRESS_TO,
        "parcels": [{"weight_g": 1200, "length_mm": 300, "width_mm": 200, "height_mm": 150}],
        **extra,
    }


def test_a_hung_carrier_costs_its_timeout_and_never_the_shop(
    app: Flask, hub_db: Database, sandboxes: dict[str, Sandbox]
) -> None:
    ids = connect(hub_db, app, sandboxes)
    with hub_db.session() as session:  # the hung carrier's own, shorter timeout (a per-connection setting)
        conn = session.get_one(t.Connection, ids["fedex"])
        conn.settings = {**conn.settings, "rate_timeout_s": HUNG_TIMEOUT_S}
    sandboxes["fedex"].set_faults(latency_ms=20_000)
    client = api_client(app, hub_db)
    deliver_by = (datetime.now(UTC).date() + timedelta(days=14)).isoformat()
    body = shop_body(rules={"strategy": "cheapest_by_date", "deliver_by": deliver_by})
    started = time.perf_counter()
    response = client.post("/api/v1/rates", json=body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.get_data(as_text=True)
    doc = response.json
    assert elapsed < HUNG_TIMEOUT_S + 0.1, f"the shop took {elapsed:.3f} s"
    assert [(f["carrier"], f["reason"]) for f in doc["failures"]] == [("fedex", "timeout")]
    quoted = {q["carrier"] for q in doc["quotes"]}
    assert quoted == {"ups", "usps", "dhl_express", "easypost"}, doc["failures"]
    cheapest = min(doc["quotes"], key=lambda q: float(q["price"]))
    assert doc["choices"]["cheapest"]["price"] == cheapest["price"]
    assert doc["choices"]["fastest"] is not None and doc["choices"]["cheapest_by_date"] is not None
    assert doc["chosen"] == doc["choices"]["cheapest_by_date"]
    assert all("carrier_ref" not in q for q in doc["quotes"]), "carrier handles are never shown"


def test_fifty_concurrent_rate_requests_fetch_one_token(
    app: Flask, hub_db: Database, sandboxes: dict[str, Sandbox]
) -> None:
    ids = connect(hub_db, app, {"ups": sandboxes["ups"]})
    client_token = api_client(app, hub_db).environ_base["HTTP_AUTHORIZATION"]

    def one(_: int) -> int:
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = client_token
        response = client.post("/api/v1/rates", json=shop_body(connection_ids=[ids["ups"]]))
        assert response.json["failures"] == [], response.json["failures"]
        return len(response.json["quotes"])

    with ThreadPoolExecutor(max_workers=50) as pool:
        counts = list(pool.map(one, range(50)))
    assert all(n > 0 for n in counts)
    assert sandboxes["ups"].token_requests == 1  # type: ignore[attr-defined]
