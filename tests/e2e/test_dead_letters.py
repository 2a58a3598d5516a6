"""One bad order is parked with its reason and does not stop the rest; it can be replayed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import mappings.shopify
from connectors.shopify.sandbox import ShopifySandbox
from hub import tables as t
from hub.app import create_app
from hub.db import Database
from hub.inbox import process_event
from hub.services.connections import create_connection
from hub.sync import poll_orders
from tests.conftest import LiveHub, csrf_from, make_settings, serve


@pytest.fixture
def sandbox() -> Iterator[ShopifySandbox]:
    with ShopifySandbox(seed=3, orders=30, limits=False).start() as running:
        yield running


@pytest.fixture
def hub(tmp_path: Path, sqlite_db: Database) -> Iterator[LiveHub]:
    with serve(create_app(make_settings(tmp_path, sqlite_db.url))) as live:
        yield live


def test_bad_order_is_parked_and_replayable(hub: LiveHub, sandbox: ShopifySandbox, monkeypatch) -> None:
    bad_id = sandbox.all_orders()[5]["id"]
    with sandbox.lock:
        sandbox._history[bad_id][-1][1]["line_items"][0]["quantity"] = "two"
    h = hub.app.extensions["hub"]
    values = sandbox.connection_values() | {"backfill_since": (datetime.now(UTC) - timedelta(days=60)).date()}
    with h.db.session() as session:
        cid = create_connection(session, h.box, "shopify", "Sandbox", values).id
    summary = poll_orders(h.db, h.box, h.settings.public_url, cid)
    assert summary.status == "ok" and summary.dead == 1
    with h.db.session() as session:
        assert session.scalar(select(func.count()).select_from(t.Order)) == 29
        dead = session.scalars(select(t.InboxEvent).where(t.InboxEvent.state == "dead")).one()
    assert dead.source == "poll" and "line_items[0].quantity" in dead.last_error

    # the connection page lists it with a Replay button; replaying with the bug still there keeps it dead
    from hub.services.accounts import create_user

    with h.db.session() as session:
        create_user(session, "admin", "correct horse battery")
    client = hub.app.test_client()
    login = client.get("/login").get_data(as_text=True)
    client.post(
        "/login",
        data={"username": "admin", "password": "correct horse battery", "csrf_token": csrf_from(login)},
    )
    page = client.get(f"/connections/{cid}").get_data(as_text=True)
    assert "Dead letters" in page and "line_items[0].quantity" in page
    assert process_event(h.db, h.box, h.settings.public_url, dead.id, replay=True) == "dead"

    # after a fix (here: the mapping learns to read the word), Replay brings the order in
    original = mappings.shopify.map_order

    def lenient(document):
        order = document.get("order", document)
        for line in order.get("line_items", []):
            if line.get("quantity") == "two":
                line["quantity"] = 2
        return original(document)

    monkeypatch.setattr(mappings.shopify, "map_order", lenient)
    response = client.post(
        f"/connections/{cid}/dead-letters/{dead.id}/replay", data={"csrf_token": csrf_from(page)}
    )
    assert response.status_code == 302
    with h.db.session() as session:
        assert session.scalar(select(func.count()).select_from(t.Order)) == 30
        assert session.get(t.InboxEvent, dead.id).state == "done"
