"""A merchant ships an order in a real browser: open the order (its lines reserved at the demo
location ``main``, which has a ship-from address), "Create shipment" with a parcel's weight and
size, "Get rates" from the carrier sandboxes running on loopback, "Buy label" on one quote, and
see the label on the shipment page with its tracking number and the push-back to the order's
channel waiting in "Sent to the channel".

``tests/integration/test_newcomer_flow.py`` walks the same flow with Flask's test client; here
chromium clicks the real buttons of the real server and loads the label as a person's browser does."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from hub import tables as t
from hub.connectors import get_connector
from hub.ingest import IngestItem, ingest_orders
from hub.inventory.catalogue import ensure_sku
from hub.inventory.stock import set_on_hand
from hub.model import Address
from hub.runner import DEMO_LOCATION, seed_demo
from hub.sandbox import Sandbox, load_sandbox
from hub.services.connections import create_connection
from tests.browser.conftest import ARTIFACTS, LiveHub
from tests.browser.test_connection_form import add_connection_directly, log_in
from tests.factories import make_order

pytestmark = pytest.mark.browser

CARRIERS = ("ups", "fedex", "usps", "dhl_express", "easypost")
SCREENSHOT = ARTIFACTS / "shipment-page.png"
#: content type → the first bytes of such a file
LABEL_IMAGES = {"image/png": b"\x89PNG", "image/gif": b"GIF8"}
SHIP_TO = Address(
    name="Ann Buyer",
    line1="350 5th Ave",
    city="New York",
    region="NY",
    postal_code="10118",
    country_code="US",
    phone="2125550100",
)


@pytest.fixture
def carrier_sandboxes() -> Iterator[dict[str, Sandbox]]:
    seed = random.randrange(1, 1_000_000)  # fresh credentials: no token cached from another test
    running: dict[str, Sandbox] = {}
    try:
        for name in CARRIERS:
            running[name] = load_sandbox(get_connector(name).sandbox or "", seed=seed).start()
        yield running
    finally:
        for sandbox in running.values():
            sandbox.stop()


def connect_carriers(hub: LiveHub, sandboxes: dict[str, Sandbox]) -> dict[str, int]:
    box = hub.app.extensions["hub"].box
    with hub.db.session() as session:
        return {
            name: create_connection(session, box, name, f"{name} sandbox", sandbox.connection_values()).id
            for name, sandbox in sandboxes.items()
        }


def order_reserved_at_main(hub: LiveHub) -> int:
    """A channel order to a US address, every line reserved at ``main`` (seeded as the demo does)."""
    with hub.app.app_context():
        seed_demo([])  # the location ``main`` and its ship-from address
    channel = add_connection_directly(hub)
    order = replace(
        make_order(7, lines=2),
        status="open",
        payment_status="paid",
        fulfillment_status="unfulfilled",
        cancelled_at=None,
        currency="USD",
        shipping_address=SHIP_TO,
    )
    with hub.db.session() as session:
        main = session.scalars(select(t.Location).where(t.Location.code == DEMO_LOCATION)).one()
        for line in order.lines:
            assert line.sku is not None
            set_on_hand(session, ensure_sku(session, line.sku, line.name).id, main.id, 50)
    [result] = hub.db.transaction(
        lambda s: ingest_orders(s, channel, [IngestItem(order, {"id": order.external_id})])
    )
    with hub.db.session() as session:
        held = set(
            session.execute(
                select(t.Reservation.state, t.Reservation.location_id).where(
                    t.Reservation.order_id == result.order_id
                )
            ).all()
        )
    assert held == {("reserved", main.id)}, held
    return result.order_id


def test_merchant_buys_a_label_from_the_order_page(
    live_hub: LiveHub, page: Page, carrier_sandboxes: dict[str, Sandbox]
) -> None:
    carriers = connect_carriers(live_hub, carrier_sandboxes)
    order_id = order_reserved_at_main(live_hub)

    log_in(page, live_hub, f"/orders/{order_id}")
    page.get_by_role("link", name="Create shipment").click()
    expect(page).to_have_url(live_hub.url(f"/orders/{order_id}/shipments/new"))
    expect(page.get_by_role("heading", name=re.compile(r"^New shipment"))).to_be_visible()
    page.get_by_label("Weight (g)").fill("1200")
    page.get_by_label("Length (mm)").fill("300")
    page.get_by_label("Width (mm)").fill("200")
    page.get_by_label("Height (mm)").fill("150")
    page.get_by_role("button", name="Create shipment").click()

    expect(page).to_have_url(re.compile(r"/shipments/\d+$"))
    shipment_id = int(page.url.rsplit("/", 1)[1])
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("1 Dock Rd")  # from main's ship-from address
    expect(facts).to_contain_text("350 5th Ave")
    expect(facts).to_contain_text("1200 g, 300\u00d7200\u00d7150 mm")
    expect(page.locator("#label-state")).to_have_text("none")
    expect(page.locator("#quotes")).to_have_count(0)

    page.get_by_role("button", name="Get rates").click()
    expect(page.get_by_text("0 carrier(s) failed.")).to_be_visible()
    quotes = page.locator("#quotes tbody tr")
    for name in CARRIERS:
        expect(quotes.filter(has_text=f"{name} sandbox").first).to_be_visible()
    expect(page.locator("#failures")).to_have_count(0)
    expect(page.locator("#quotes tr.chosen")).to_have_count(1)

    ups = quotes.filter(has_text="ups sandbox").first
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/label")):
        ups.get_by_role("button", name="Buy label").click()
    expect(page.get_by_text("Label: label bought.")).to_be_visible()
    expect(page.locator("#label-state")).to_have_text("labelled")

    with live_hub.db.session() as session:
        shipment = session.get_one(t.Shipment, shipment_id)
        tracking, connection_id = shipment.tracking_number, shipment.carrier_connection_id
    assert tracking and connection_id == carriers["ups"]
    expect(facts).to_contain_text(tracking)
    expect(facts).to_contain_text("ups sandbox")
    expect(page.get_by_role("button", name="Buy label")).to_have_count(0)  # a labelled shipment

    label = page.locator("#label")
    expect(label).to_be_visible()
    tag = label.evaluate("e => e.tagName")
    if tag == "IMG":
        expect(label).to_have_js_property("complete", True)
        assert label.evaluate("img => img.naturalWidth") > 0, "the label image did not load"
        source, kinds = label.get_attribute("src"), LABEL_IMAGES
    else:
        assert tag == "OBJECT", f"#label is a <{tag.lower()}>, not a shown label"
        expect(label).to_have_attribute("type", "application/pdf")
        source, kinds = label.get_attribute("data"), {"application/pdf": b"%PDF"}
    assert source is not None
    fetched = page.request.get(live_hub.url(source))  # what the browser showed, with the page's cookies
    assert fetched.ok, fetched.status
    content_type = fetched.headers["content-type"].split(";")[0]
    assert content_type in kinds, content_type
    assert fetched.body().startswith(kinds[content_type]), fetched.body()[:16]

    pushes = page.locator("#channel-pushes tbody tr")
    expect(page.get_by_role("heading", name="Sent to the channel")).to_be_visible()
    expect(pushes).to_have_count(1)
    expect(pushes.first.locator("td").nth(0)).to_have_text(f"tracking:{tracking}")
    expect(pushes.first.locator("td").nth(1)).to_have_text("pending")
    expect(pushes.first.locator("td").nth(3)).to_have_text("0")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.is_file()
    assert SCREENSHOT.stat().st_size > 20_000, "the screenshot is suspiciously small"
