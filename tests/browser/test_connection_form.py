"""A new user's first steps in a real browser: log in, add a Shopify connection (and
get it wrong first), see it with its secrets masked, edit it without retyping them,
be refused a form without its CSRF token, and look at the orders.

``tests/integration/test_web.py`` checks the same rules with Flask's test client;
here chromium drives the real server, so the HTML, the redirects, the cookies and the
form fields are the ones a person gets."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select

from hub import tables as t
from hub.ingest import IngestItem, ingest_orders
from hub.services.connections import create_connection
from tests.browser.conftest import ARTIFACTS, LiveHub
from tests.conftest import ADMIN_PASSWORD
from tests.factories import make_order

pytestmark = pytest.mark.browser

TOKEN = "shpat_browser0test0token0c0ffee0d00d"
SECRET = "whsec-browser-test-secret-7f3a91"
STORE = "https://demo-store.myshopify.com"
SCREENSHOT = ARTIFACTS / "orders-page.png"


def log_in(page: Page, hub: LiveHub, path: str = "/orders/") -> None:
    """Open ``path`` logged out, land on the login page, log in, arrive at ``path``."""
    page.goto(hub.url(path))
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("heading", name="Log in to the hub")).to_be_visible()
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(hub.url(path))
    expect(page.locator("header")).to_contain_text("admin")


def connections(hub: LiveHub) -> list[t.Connection]:
    with hub.db.session() as session:
        return list(session.scalars(select(t.Connection)))


def below(upper: Locator, lower: Locator) -> bool:
    a, b = upper.bounding_box(), lower.bounding_box()
    assert a is not None and b is not None
    return b["y"] >= a["y"] + a["height"] - 1


def assert_message_next_to(page: Page, field: str, next_field: str, message: str) -> None:
    """The message is shown under its own input, before the next field's input."""
    error = page.locator(f"#error-{field}")
    expect(error).to_be_visible()
    expect(error).to_contain_text(message)
    assert below(page.locator(f"#{field}"), error), f"{message!r} is not under #{field}"
    assert below(error, page.locator(f"#{next_field}")), f"{message!r} is not above #{next_field}"


def test_logged_out_visitor_is_sent_to_login_and_back(live_hub: LiveHub, page: Page) -> None:
    log_in(page, live_hub, "/orders/")
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()
    expect(page.get_by_text("No orders yet.")).to_be_visible()


def test_add_shopify_connection_then_edit_without_retyping_secrets(live_hub: LiveHub, page: Page) -> None:
    log_in(page, live_hub)

    # Connections → Add Shopify, with a wrong store address and no access token
    page.locator("header").get_by_role("link", name="Connections").click()
    expect(page.get_by_text("No connections yet.")).to_be_visible()
    page.get_by_role("link", name=re.compile(r"^Add Shopify")).click()
    expect(page.get_by_role("heading", name="Add a Shopify connection")).to_be_visible()
    page.locator("#name").fill("Demo store")
    page.locator("#store_url").fill("https://example.com")
    page.locator("#api_secret").fill(SECRET)
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("alert")).to_contain_text("Please correct the fields marked below")
    assert_message_next_to(
        page, "store_url", "access_token", "Store address must be https://your-store.myshopify.com"
    )
    assert_message_next_to(page, "access_token", "api_secret", "Admin API access token is required")
    expect(page.locator("#name")).to_have_value("Demo store")
    expect(page.locator("#store_url")).to_have_value("https://example.com")
    expect(page.locator("#api_secret")).to_have_value("")
    assert SECRET not in page.content(), "a typed secret must not be echoed back"
    assert connections(live_hub) == []
    page.locator("header").get_by_role("link", name="Connections").click()
    expect(page.get_by_text("No connections yet.")).to_be_visible()
    expect(page.locator("table")).to_have_count(0)

    # everything filled in properly
    page.get_by_role("link", name=re.compile(r"^Add Shopify")).click()
    page.locator("#name").fill("Demo store")
    page.locator("#store_url").fill(STORE)
    page.locator("#access_token").fill(TOKEN)
    page.locator("#api_secret").fill(SECRET)
    page.locator("#api_version").fill("2026-07")
    page.locator("#backfill_since").fill("2026-01-01")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(r"/connections/\d+$"))
    expect(page.get_by_role("status")).to_have_text("Connection saved.")
    expect(page.get_by_role("heading", name="Demo store")).to_be_visible()
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(STORE)
    expect(page.locator('[data-secret-set="access_token"]')).to_have_text(re.compile(r"\(set\)"))
    expect(page.locator('[data-secret-set="api_secret"]')).to_have_text(re.compile(r"\(set\)"))
    [conn] = connections(live_hub)
    expect(page.locator("#webhook-url")).to_have_text(live_hub.url(f"/webhooks/shopify/{conn.webhook_key}"))
    for text in (page.content(), page.locator("body").inner_text()):
        assert TOKEN not in text and SECRET not in text
    show_url = page.url

    # edit: the secrets are not in the form; change only the display name
    page.get_by_role("link", name="Edit").click()
    expect(page).to_have_url(show_url + "/edit")
    expect(page.get_by_role("heading", name="Edit Demo store")).to_be_visible()
    for secret_field in ("access_token", "api_secret"):
        field = page.locator(f"#{secret_field}")
        expect(field).to_have_attribute("type", "password")
        expect(field).to_have_value("")
        assert not field.get_attribute("value"), f"#{secret_field} carries a value attribute"
        expect(page.locator(f'[data-secret-set="{secret_field}"]')).to_have_text(
            "A value is stored. Leave blank to keep it."
        )
    assert TOKEN not in page.content() and SECRET not in page.content()
    expect(page.locator("#store_url")).to_have_value(STORE)
    expect(page.locator("#name")).to_have_value("Demo store")
    page.locator("#name").fill("Demo store (renamed)")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(show_url)
    expect(page.get_by_role("heading", name="Demo store (renamed)")).to_be_visible()
    [conn] = connections(live_hub)
    assert conn.name == "Demo store (renamed)"
    credentials = live_hub.app.extensions["hub"].box.decrypt(conn.credentials_encrypted)
    assert credentials["access_token"] == TOKEN
    assert credentials["api_secret"] == SECRET
    assert credentials["store_url"] == STORE


def add_connection_directly(hub: LiveHub, name: str = "Demo store") -> int:
    box = hub.app.extensions["hub"].box
    values = {"store_url": STORE, "access_token": TOKEN, "api_secret": SECRET, "api_version": "2026-07"}
    with hub.db.session() as session:
        return create_connection(session, box, "shopify", name, values).id


def test_form_without_its_csrf_token_is_refused(live_hub: LiveHub, page: Page) -> None:
    conn_id = add_connection_directly(live_hub)
    log_in(page, live_hub, f"/connections/{conn_id}/edit")
    page.locator("#name").fill("Changed without a token")
    form = page.locator("form.card")
    expect(form.locator('input[name="csrf_token"]')).to_have_count(1)
    form.evaluate("f => f.querySelector('input[name=csrf_token]').remove()")
    expect(form.locator('input[name="csrf_token"]')).to_have_count(0)

    with page.expect_response(lambda r: r.request.method == "POST" and "/edit" in r.url) as posted:
        page.get_by_role("button", name="Save").click()
    assert posted.value.status == 400
    expect(page.locator("body")).to_contain_text("The CSRF token is missing")
    [conn] = connections(live_hub)
    assert conn.name == "Demo store"


def test_orders_page_lists_the_orders(live_hub: LiveHub, page: Page) -> None:
    conn_id = add_connection_directly(live_hub)
    orders = [make_order(i) for i in range(10)]
    live_hub.db.transaction(
        lambda s: ingest_orders(s, conn_id, [IngestItem(o, {"id": o.external_id}) for o in orders])
    )
    with live_hub.db.session() as session:
        assert session.scalar(select(func.count()).select_from(t.Order)) == 10

    log_in(page, live_hub, "/connections/")
    page.locator("header").get_by_role("link", name="Orders").click()
    expect(page).to_have_url(live_hub.url("/orders/"))
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(10)
    for order in orders:
        expect(page.get_by_role("link", name=order.number, exact=True)).to_be_visible()
    expect(rows.first).to_contain_text("Demo store")
    expect(page.get_by_text("No orders yet.")).to_have_count(0)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.is_file()
    assert SCREENSHOT.stat().st_size > 20_000, "the screenshot is suspiciously small"
