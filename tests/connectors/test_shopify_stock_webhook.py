"""Shopify ``inventory_levels/update`` against `responses`: the body (a REST InventoryLevel, the
shape of ``inventory_levels_list.json``) becomes the stock of one channel SKU at one location,
read at the body's ``updated_at``; the inventory item is found through the connector's SKU map,
asked of Shopify once when the map does not know it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from connectors.shopify import ShopifyConnector, inventory
from hub.connectors import ConnectionContext, Ignored, StockChanged, StockLevel
from hub.http import HttpClient
from tests.contracts import FIXTURES

BASE = "https://demo.myshopify.com/admin/api/2026-07/"
GRAPHQL = BASE + "graphql.json"
TOPIC = "inventory_levels/update"
#: REST InventoryLevels from the official library's stubs: a webhook body has this shape
LEVELS = json.loads((FIXTURES / "shopify" / "inventory_levels_list.json").read_text())["inventory_levels"]
BODY = next(lv for lv in LEVELS if (lv["inventory_item_id"], lv["location_id"]) == (808950810, 655441491))
READ_AT = datetime(2025, 7, 2, 16, 29, 59, tzinfo=UTC)  # "2025-07-02T11:29:59-05:00"


@pytest.fixture(autouse=True)
def fresh_maps() -> Iterator[None]:
    inventory.forget_maps()
    yield
    inventory.forget_maps()


def connector(connection_id: int | None = 7) -> ShopifyConnector:
    credentials = {"store_url": "https://demo.myshopify.com", "access_token": "shpat_abc", "api_secret": "s"}
    ctx = ConnectionContext(
        connection_id, credentials, {"api_version": "2026-07"}, HttpClient(BASE, max_attempts=2)
    )
    return ShopifyConnector(ctx)


def cost() -> dict[str, Any]:
    status = {"maximumAvailable": 2000, "currentlyAvailable": 1990, "restoreRate": 100}
    return {"cost": {"requestedQueryCost": 1, "actualQueryCost": 1, "throttleStatus": status}}


def gid(n: int) -> str:
    return f"gid://shopify/InventoryItem/{n}"


class Shop:
    """Answers the item lookup (``inventoryItem``) and the SKU search (``productVariants``)."""

    def __init__(self, items: dict[int, str], variants: list[tuple[str, int]] | None = None) -> None:
        self.items = items  # inventory item id -> its SKU
        self.variants = variants if variants is not None else [(sku, item) for item, sku in items.items()]
        self.asked: list[str] = []

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        name = re.match(r"\s*query (\w+)", body["query"]).group(1)
        self.asked.append(name)
        if name == "HubItemSku":
            item_id = int(body["variables"]["id"].rsplit("/", 1)[1])
            sku = self.items.get(item_id)
            data: dict[str, Any] = {
                "inventoryItem": None if sku is None else {"id": gid(item_id), "sku": sku, "tracked": True}
            }
        else:
            assert name == "HubVariantItems", name
            wanted = set(re.findall(r'sku:"([^"]+)"', body["variables"]["query"]))
            nodes = [
                {"sku": sku, "inventoryItem": {"id": gid(item), "tracked": True}}
                for sku, item in self.variants
                if sku in wanted
            ]
            info = {"hasNextPage": False, "endCursor": None}
            data = {"productVariants": {"pageInfo": info, "nodes": nodes}}
        return 200, {"Content-Type": "application/json"}, json.dumps({"data": data, "extensions": cost()})


def serve(shop: Shop) -> None:
    responses.add_callback(responses.POST, GRAPHQL, callback=shop)


@responses.activate
def test_an_unknown_item_is_looked_up_once_then_comes_from_the_map() -> None:
    shop = Shop({808950810: "SKU-A", 39072856: "SKU-B"})
    serve(shop)
    c = connector()
    assert c.handle_webhook(TOPIC, BODY) == [StockChanged((StockLevel("SKU-A", "655441491", 1),), READ_AT)]
    assert shop.asked == ["HubItemSku", "HubVariantItems"], "the item's SKU, then that SKU's variant"
    other = next(
        lv for lv in LEVELS if (lv["inventory_item_id"], lv["location_id"]) == (808950810, 487838322)
    )
    # another instance of the same connection shares the map: no call at all
    assert connector().handle_webhook(TOPIC, other) == [
        StockChanged((StockLevel("SKU-A", "487838322", 9),), READ_AT)
    ]
    assert len(responses.calls) == 2


@responses.activate
def test_the_map_filled_by_a_stock_read_answers_without_a_call() -> None:
    serve(Shop({}))
    c = connector()
    c.items.absorb([inventory.VariantStock("SKU-B", gid(39072856), True)])
    body = next(lv for lv in LEVELS if (lv["inventory_item_id"], lv["location_id"]) == (39072856, 655441491))
    [action] = c.handle_webhook(TOPIC, body)
    assert action == StockChanged((StockLevel("SKU-B", "655441491", 3),), READ_AT)
    assert action.at.utcoffset() is not None and action.at == READ_AT
    assert len(responses.calls) == 0


@responses.activate
def test_an_item_shopify_does_not_know_or_without_sku_is_ignored() -> None:
    shop = Shop({})
    serve(shop)
    [action] = connector().handle_webhook(TOPIC, BODY)
    assert isinstance(action, Ignored) and "808950810" in action.reason
    assert shop.asked == ["HubItemSku"]


@responses.activate
def test_a_second_variant_of_a_sku_is_not_the_listing_the_hub_writes() -> None:
    """Two variants carry SKU-A; the hub writes to the first (the map's rule), so a level of the
    other one's item is not the hub's listing."""
    shop = Shop({808950810: "SKU-A"}, variants=[("SKU-A", 111), ("SKU-A", 808950810)])
    serve(shop)
    [action] = connector().handle_webhook(TOPIC, BODY)
    assert isinstance(action, Ignored)
    assert shop.asked == ["HubItemSku", "HubVariantItems"]


@responses.activate
def test_an_untracked_level_is_ignored_without_a_call() -> None:
    serve(Shop({808950810: "SKU-A"}))
    [action] = connector().handle_webhook(TOPIC, BODY | {"available": None})
    assert isinstance(action, Ignored) and "not tracked" in action.reason
    assert len(responses.calls) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"location_id": None}, "location_id"),
        ({"inventory_item_id": "gid://shopify/InventoryItem/1"}, "inventory_item_id"),
        ({"updated_at": "2025-07-02T11:29:59"}, "updated_at"),  # no offset: not a moment
        ({"updated_at": "yesterday"}, "updated_at"),
        ({"available": "7"}, "available"),
    ],
)
@responses.activate
def test_a_malformed_body_is_a_clear_error(change: dict[str, Any], field: str) -> None:
    serve(Shop({808950810: "SKU-A"}))
    with pytest.raises(ValueError, match=field):
        connector().handle_webhook(TOPIC, BODY | change)
    assert len(responses.calls) == 0


@responses.activate
def test_big_ids_and_string_ids_are_kept_exact() -> None:
    big = 271878346596884015  # beyond a double's exact integers
    shop = Shop({big: "SKU-BIG"})
    serve(shop)
    body = BODY | {"inventory_item_id": str(big), "location_id": 24826418, "available": 0}
    assert connector().handle_webhook(TOPIC, body) == [
        StockChanged((StockLevel("SKU-BIG", "24826418", 0),), READ_AT)
    ]
