"""The stock page in a real browser: find a SKU, change its stock with a reason, see the
new figures and the change in its history, set a reorder point and see it listed as low."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from hub import tables as t
from hub.inventory.catalogue import ensure_location, ensure_sku
from hub.inventory.stock import set_on_hand
from tests.browser.conftest import LiveHub
from tests.browser.test_connection_form import log_in

pytestmark = pytest.mark.browser


def test_adjust_stock_and_reorder_point(page: Page, live_hub: LiveHub) -> None:
    with live_hub.db.session() as s:
        main = ensure_location(s, "main", "Main warehouse")
        for i in range(3):
            sku = ensure_sku(s, f"MUG-{i}", f"Mug {i}")
            set_on_hand(s, sku.id, main.id, 10 + i)
    log_in(page, live_hub, "/stock/")
    expect(page.locator("#stock tbody tr")).to_have_count(3)
    page.get_by_label("SKU or name").fill("mug 1")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#stock tbody tr")).to_have_count(1)
    page.get_by_role("link", name="MUG-1").click()
    expect(page.get_by_role("heading", name="MUG-1")).to_be_visible()
    expect(page.locator("#totals .on-hand")).to_have_text("11")

    form = page.locator("#adjust-form")
    form.get_by_label("Units").fill("-4")
    form.get_by_label("Reason").fill("dropped a box")
    form.get_by_role("button", name="Save change").click()
    expect(page.get_by_role("status")).to_contain_text("changed by -4")
    expect(page.locator("#totals .on-hand")).to_have_text("7")
    expect(page.locator("#history tbody tr").first).to_contain_text("dropped a box")

    form.get_by_label("Units").fill("-100")  # more than on hand: refused, nothing changes
    form.get_by_label("Reason").fill("oops")
    form.get_by_role("button", name="Save change").click()
    expect(page.locator("#adjust-form .field-error")).to_contain_text("would take on_hand below 0")
    expect(page.locator("#totals .on-hand")).to_have_text("7")

    reorder = page.locator("#reorder-form")
    reorder.get_by_label("Reorder point").fill("8")
    reorder.get_by_role("button", name="Save reorder point").click()
    expect(page.locator("#low-badge")).to_be_visible()
    page.get_by_role("link", name="Stock", exact=True).first.click()
    page.get_by_label("low stock only").check()
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#stock tbody tr")).to_have_count(1)
    expect(page.locator("#stock tbody tr")).to_have_attribute("data-sku", "MUG-1")
    with live_hub.db.session() as s:
        assert s.scalar(select(t.HubEvent.topic)) == "stock.low"
