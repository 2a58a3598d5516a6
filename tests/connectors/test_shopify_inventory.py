"""Shopify inventory against `responses`: GraphQL paging, batches of 250, userErrors on their
SKUs, the SKU map refreshed once per call, the GraphQL cost bucket and THROTTLED."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import responses
import tenacity

from connectors.shopify import ShopifyConnector, client, inventory
from connectors.shopify.client import ShopifyGraphQLError
from hub.connectors import Capability, ConnectionContext, StockLevel, StockWrite
from hub.http import HttpClient, HttpError
from hub.ratelimit import TokenBucket
from tests.contracts import FIXTURES

BASE = "https://demo.myshopify.com/admin/api/2026-07/"
GRAPHQL = BASE + "graphql.json"
MAIN, STORE = "655441491", "487838322"
LEVELS_LIST = json.loads((FIXTURES / "shopify" / "inventory_levels_list.json").read_text())
LEVELS_SET = json.loads((FIXTURES / "shopify" / "inventory_levels_set.json").read_text())


@pytest.fixture(autouse=True)
def fresh_maps() -> Iterator[None]:
    inventory.forget_maps()
    yield
    inventory.forget_maps()


def connector(connection_id: int | None = None, version: str = "2026-07", **http: Any) -> ShopifyConnector:
    credentials = {"store_url": "https://demo.myshopify.com", "access_token": "shpat_abc", "api_secret": "s"}
    ctx = ConnectionContext(
        connection_id, credentials, {"api_version": version}, HttpClient(BASE, max_attempts=4, **http)
    )
    return ShopifyConnector(ctx)


def cost(requested: float = 100, available: float = 1900, maximum: float = 2000, rate: float = 100) -> dict:
    status = {"maximumAvailable": maximum, "currentlyAvailable": available, "restoreRate": rate}
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": 10, "throttleStatus": status}}


def answer(data: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"data": data, "extensions": cost(**kw)}


def item_gid(n: int | str) -> str:
    return f"gid://shopify/InventoryItem/{n}"


def level(location: str, available: int) -> dict[str, Any]:
    return {
        "location": {"id": f"gid://shopify/Location/{location}"},
        "quantities": [{"name": "available", "quantity": available}],
    }


def variant(sku: str | None, item: int, levels: list[dict] | None = None, **kw: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"id": item_gid(item), "tracked": kw.get("tracked", True)}
    if levels is not None:
        more = kw.get("more")
        info = {"hasNextPage": more is not None, "endCursor": more}
        node["inventoryLevels"] = {"pageInfo": info, "nodes": levels}
    return {"sku": sku, "inventoryItem": node}


def variants_page(nodes: list[dict], after: str | None = None) -> dict[str, Any]:
    info = {"hasNextPage": after is not None, "endCursor": after}
    return answer({"productVariants": {"pageInfo": info, "nodes": nodes}})


def sent() -> list[dict[str, Any]]:
    return [json.loads(call.request.body) for call in responses.calls]


def operation(body: dict[str, Any]) -> str:
    return re.match(r"\s*(?:query|mutation) (\w+)", body["query"]).group(1)


class FakeShop:
    """A `responses` callback answering the SKU lookups and the mutation like Shopify."""

    def __init__(self, items: dict[str, int], mutation: Callable[[dict], dict] | None = None) -> None:
        self.items = items  # sku -> inventory item id
        self.mutation = mutation or (
            lambda _input: {"inventoryAdjustmentGroup": {"id": "g"}, "userErrors": []}
        )

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        if operation(body) == "HubVariantItems":
            asked = {json.loads(term) for term in re.findall(r'sku:("[^"]*")', body["variables"]["query"])}
            nodes = [variant(sku, n) for sku, n in self.items.items() if sku in asked]
            return 200, {}, json.dumps(variants_page(nodes))
        result = self.mutation(body["variables"]["input"])
        return 200, {}, json.dumps(answer({"inventorySetQuantities": result}, requested=10))


def test_declares_inventory_capabilities_and_affordable_queries() -> None:
    assert {Capability.INVENTORY_READ, Capability.INVENTORY_WRITE} <= ShopifyConnector.capabilities
    assert max(client.STOCK_COST, client.MAP_COST, client.MORE_LEVELS_COST) <= client.MAX_QUERY_COST


# -- read ------------------------------------------------------------------------------------------


@responses.activate
def test_read_stock_pages_through_variants() -> None:
    responses.post(
        GRAPHQL,
        json=variants_page(
            [
                variant("A", 1, [level(MAIN, 5), level(STORE, 0)]),
                variant("", 2, [level(MAIN, 9)]),  # no SKU: not the hub's
                variant("UNTRACKED", 3, [level(MAIN, 1)], tracked=False),
            ],
            after="cursor-1",
        ),
    )
    responses.post(GRAPHQL, json=variants_page([variant("B", 4, [level(STORE, 12)])]))
    levels = connector().read_stock()
    assert levels == [StockLevel("A", MAIN, 5), StockLevel("A", STORE, 0), StockLevel("B", STORE, 12)]
    first, second = sent()
    assert operation(first) == "HubVariantStock"
    assert 'quantities(names: ["available"])' in first["query"] and "pageInfo" in first["query"]
    assert first["variables"] == {
        "first": client.STOCK_PAGE,
        "after": None,
        "query": None,
        "levels": client.LEVELS_PAGE,
    }
    assert second["variables"]["after"] == "cursor-1"


@responses.activate
def test_read_stock_follows_an_items_further_levels() -> None:
    responses.post(GRAPHQL, json=variants_page([variant("A", 1, [level(MAIN, 5)], more="lv-1")]))
    more = {"pageInfo": {"hasNextPage": True, "endCursor": "lv-2"}, "nodes": [level(STORE, 6)]}
    last = {"pageInfo": {"hasNextPage": False, "endCursor": "lv-3"}, "nodes": [level("24826418", 7)]}
    responses.post(GRAPHQL, json=answer({"inventoryItem": {"inventoryLevels": more}}))
    responses.post(GRAPHQL, json=answer({"inventoryItem": {"inventoryLevels": last}}))
    assert [(x.location_id, x.available) for x in connector().read_stock()] == [
        (MAIN, 5),
        (STORE, 6),
        ("24826418", 7),
    ]
    _, second, third = sent()
    assert operation(second) == "HubItemLevels"
    assert second["variables"] == {"id": item_gid(1), "first": client.MORE_LEVELS_PAGE, "after": "lv-1"}
    assert third["variables"]["after"] == "lv-2"


@responses.activate
def test_read_some_skus_searches_them_and_keeps_exact_matches() -> None:
    responses.post(
        GRAPHQL,
        json=variants_page([variant("A", 1, [level(MAIN, 5)]), variant("A-2", 2, [level(MAIN, 1)])]),
    )
    assert connector().read_stock(["A", 'we"ird']) == [StockLevel("A", MAIN, 5)]
    assert sent()[0]["variables"]["query"] == 'sku:"A" OR sku:"we\\"ird"'
    assert connector().read_stock([]) == [] and len(responses.calls) == 1


@responses.activate
def test_rest_samples_read_and_written_through_graphql() -> None:
    """The REST samples' numbers, asked through GraphQL: same ids, same quantities."""
    levels = LEVELS_LIST["inventory_levels"]
    skus = {808950810: "SHOE-RED", 39072856: "SHOE-BLUE"}
    nodes = [
        variant(
            sku,
            item,
            [level(str(x["location_id"]), x["available"]) for x in levels if x["inventory_item_id"] == item],
        )
        for item, sku in skus.items()
    ]
    responses.post(GRAPHQL, json=variants_page(nodes))
    c = connector()
    read = {(x.sku, x.location_id): x.available for x in c.read_stock()}
    assert read == {(skus[x["inventory_item_id"]], str(x["location_id"])): x["available"] for x in levels}

    request = LEVELS_SET["request"]["body"]
    responses.post(
        GRAPHQL,
        json=answer({"inventorySetQuantities": {"inventoryAdjustmentGroup": {"id": "g"}, "userErrors": []}}),
    )
    [result] = c.write_stock([StockWrite("SHOE-RED", str(request["location_id"]), request["available"])])
    assert result.ok
    mutation = sent()[-1]
    assert len(responses.calls) == 2, "the read filled the SKU map: no lookup before the write"
    assert mutation["variables"]["input"]["quantities"] == [
        {
            "inventoryItemId": item_gid(request["inventory_item_id"]),
            "locationId": f"gid://shopify/Location/{request['location_id']}",
            "quantity": LEVELS_SET["response"]["inventory_level"]["available"],
            "changeFromQuantity": None,
        }
    ]


# -- write -----------------------------------------------------------------------------------------


@responses.activate
def test_600_writes_go_in_three_calls_of_at_most_250() -> None:
    items = {f"SKU-{i:03d}": 1000 + i for i in range(200)}
    responses.add_callback(responses.POST, GRAPHQL, callback=FakeShop(items))
    pairs = [(sku, loc) for sku in items for loc in (MAIN, STORE, "24826418")]
    writes = [StockWrite(sku, loc, n) for n, (sku, loc) in enumerate(pairs)]
    results = connector().write_stock(writes)
    assert len(results) == 600 and all(r.ok for r in results)
    assert [(r.sku, r.location_id) for r in results] == [(w.sku, w.location_id) for w in writes]
    bodies = sent()
    lookups = [b for b in bodies if operation(b) == "HubVariantItems"]
    mutations = [b for b in bodies if operation(b) == "HubSetStock"]
    assert len(lookups) == 200 // client.SKU_CHUNK
    assert [len(m["variables"]["input"]["quantities"]) for m in mutations] == [250, 250, 100]
    keys = [re.search(r'@idempotent\(key: "([0-9a-f-]{36})"\)', m["query"]).group(1) for m in mutations]
    assert len(set(keys)) == 3
    for m in mutations:
        payload = m["variables"]["input"]
        assert payload["name"] == "available" and payload["reason"] == "correction"
        assert "ignoreCompareQuantity" not in payload
        assert all(q["changeFromQuantity"] is None for q in payload["quantities"])
    first = mutations[0]["variables"]["input"]["quantities"][0]
    assert first == {
        "inventoryItemId": item_gid(1000),
        "locationId": f"gid://shopify/Location/{MAIN}",
        "quantity": 0,
        "changeFromQuantity": None,
    }


@responses.activate
def test_before_2026_01_the_compare_check_is_switched_off_instead() -> None:
    responses.add_callback(responses.POST, GRAPHQL, callback=FakeShop({"A": 1}))
    assert connector(version="2025-10").write_stock([StockWrite("A", MAIN, 3)])[0].ok
    mutation = sent()[-1]
    assert "@idempotent" not in mutation["query"]
    assert mutation["variables"]["input"]["ignoreCompareQuantity"] is True
    assert "changeFromQuantity" not in mutation["variables"]["input"]["quantities"][0]


@responses.activate
def test_user_errors_land_on_their_skus_and_the_rest_is_sent_again() -> None:
    inputs: list[dict] = []

    def mutation(payload: dict) -> dict:
        inputs.append(payload)
        if len(inputs) == 1:  # all or nothing: one refused quantity, nothing applied
            error = {
                "code": "INVALID_LOCATION",
                "field": ["input", "quantities", "1", "locationId"],
                "message": "The specified location could not be found.",
            }
            return {"inventoryAdjustmentGroup": None, "userErrors": [error]}
        return {"inventoryAdjustmentGroup": {"id": "g"}, "userErrors": []}

    responses.add_callback(responses.POST, GRAPHQL, callback=FakeShop({"A": 1, "B": 2, "C": 3}, mutation))
    results = connector().write_stock(
        [StockWrite("A", MAIN, 1), StockWrite("B", "999", 2), StockWrite("C", MAIN, 3)]
    )
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == "INVALID_LOCATION: The specified location could not be found."
    assert [len(i["quantities"]) for i in inputs] == [3, 2]
    assert [q["inventoryItemId"] for q in inputs[1]["quantities"]] == [item_gid(1), item_gid(3)]


@responses.activate
def test_user_errors_after_an_applied_call_are_not_sent_again() -> None:
    calls: list[dict] = []

    def mutation(payload: dict) -> dict:
        calls.append(payload)
        error = {
            "code": "ITEM_NOT_STOCKED_AT_LOCATION",
            "field": ["input", "quantities", "0", "locationId"],
            "message": "not stocked",
        }
        return {"inventoryAdjustmentGroup": {"id": "g"}, "userErrors": [error]}

    responses.add_callback(responses.POST, GRAPHQL, callback=FakeShop({"A": 1, "B": 2}, mutation))
    results = connector().write_stock([StockWrite("A", STORE, 1), StockWrite("B", MAIN, 2)])
    assert [(r.ok, r.error) for r in results] == [
        (False, "ITEM_NOT_STOCKED_AT_LOCATION: not stocked"),
        (True, None),
    ]
    assert len(calls) == 1


@responses.activate
def test_an_error_without_a_quantity_fails_the_whole_call() -> None:
    def mutation(payload: dict) -> dict:
        error = {
            "code": "INVALID_REASON",
            "field": ["input", "reason"],
            "message": "The specified reason is invalid.",
        }
        return {"inventoryAdjustmentGroup": None, "userErrors": [error]}

    responses.add_callback(responses.POST, GRAPHQL, callback=FakeShop({"A": 1, "B": 2}, mutation))
    results = connector().write_stock([StockWrite("A", MAIN, 1), StockWrite("B", MAIN, 2)])
    assert [r.error for r in results] == ["INVALID_REASON: The specified reason is invalid."] * 2


@responses.activate
def test_unknown_skus_refresh_the_map_once_per_call() -> None:
    shop = FakeShop({"A": 1, "B": 2})
    responses.add_callback(responses.POST, GRAPHQL, callback=shop)
    c = connector(connection_id=41)
    assert all(r.ok for r in c.write_stock([StockWrite("A", MAIN, 1)]))
    assert [operation(b) for b in sent()] == ["HubVariantItems", "HubSetStock"]

    responses.calls.reset()
    results = c.write_stock(
        [
            StockWrite("A", MAIN, 1),
            StockWrite("X", MAIN, 1),
            StockWrite("B", MAIN, 2),
            StockWrite("Y", STORE, 1),
        ]
    )
    assert [(r.sku, r.ok) for r in results] == [("A", True), ("X", False), ("B", True), ("Y", False)]
    assert results[1].error == inventory.UNKNOWN_SKU
    lookups = [b for b in sent() if operation(b) == "HubVariantItems"]
    assert len(lookups) == 1, "one refresh for all unknown SKUs of the call"
    assert lookups[0]["variables"]["query"] == 'sku:"X" OR sku:"B" OR sku:"Y"'
    assert len(sent()[-1]["variables"]["input"]["quantities"]) == 2, "unknown SKUs are not sent"

    responses.calls.reset()
    connector(connection_id=41).write_stock([StockWrite("B", STORE, 5)])  # another instance, same connection
    assert [operation(b) for b in sent()] == ["HubSetStock"], "the map is cached per connection"

    responses.calls.reset()
    shop.items["X"] = 24  # a new variant in Shopify
    assert connector(connection_id=41).write_stock([StockWrite("X", MAIN, 5)])[0].ok
    assert [operation(b) for b in sent()] == ["HubVariantItems", "HubSetStock"]


@responses.activate
def test_writes_that_cannot_be_sent_fail_alone() -> None:
    responses.add_callback(responses.POST, GRAPHQL, callback=FakeShop({"A": 1, "U": 2}))
    inventory.item_map((None, BASE)).items["U"] = inventory.ItemRef(item_gid(2), tracked=False)
    writes = [
        StockWrite("A", "Main warehouse", 1),
        StockWrite("U", MAIN, 1),
        StockWrite("A", MAIN, 1),
        StockWrite("A", MAIN, 7),
    ]
    results = connector().write_stock(writes)
    assert [r.error for r in results] == [inventory.BAD_LOCATION, inventory.UNTRACKED, None, None]
    [mutation] = [b for b in sent() if operation(b) == "HubSetStock"]
    assert [q["quantity"] for q in mutation["variables"]["input"]["quantities"]] == [7], "the last write wins"


@responses.activate
def test_a_lost_answer_to_the_mutation_is_sent_again_with_the_same_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tenacity.nap, "sleep", lambda _s: None)
    inventory.item_map((None, BASE)).items["A"] = inventory.ItemRef(item_gid(1), tracked=True)
    responses.post(GRAPHQL, body=requests.ConnectionError("connection reset by peer"))
    responses.post(
        GRAPHQL,
        json=answer({"inventorySetQuantities": {"inventoryAdjustmentGroup": {"id": "g"}, "userErrors": []}}),
    )
    assert connector().write_stock([StockWrite("A", MAIN, 3)])[0].ok
    first, second = (call.request.body for call in responses.calls)
    assert first == second, "the same idempotency key: Shopify answers the first result again"


# -- GraphQL cost bucket -----------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def throttled(requested: float, available: float, rate: float = 100.0) -> dict[str, Any]:
    error = {
        "message": "Throttled",
        "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev"},
    }
    return {"errors": [error], "extensions": cost(requested=requested, available=available, rate=rate)}


@responses.activate
def test_throttled_waits_what_throttle_status_says() -> None:
    fake = FakeTime()
    c = connector()
    c.client.graphql_bucket = TokenBucket(*client.GRAPHQL_BUCKET, clock=lambda: fake.now, sleep=fake.sleep)
    responses.post(GRAPHQL, json=throttled(requested=852, available=352, rate=100))
    responses.post(GRAPHQL, json=variants_page([variant("A", 1, [level(MAIN, 5)])]))
    assert c.read_stock() == [StockLevel("A", MAIN, 5)]
    assert fake.sleeps == [pytest.approx((852 - 352) / 100)]
    assert len(responses.calls) == 2 and responses.calls[0].request.body == responses.calls[1].request.body


@responses.activate
def test_throttled_too_often_gives_up() -> None:
    fake = FakeTime()
    c = connector()
    c.client.graphql_bucket = TokenBucket(*client.GRAPHQL_BUCKET, clock=lambda: fake.now, sleep=fake.sleep)
    responses.post(GRAPHQL, json=throttled(requested=852, available=0, rate=50))
    with pytest.raises(ShopifyGraphQLError) as caught:
        c.read_stock()
    assert caught.value.codes == ["THROTTLED"]
    assert len(responses.calls) == client.MAX_THROTTLED
    assert fake.sleeps[0] == pytest.approx(852 / 50)


@responses.activate
def test_throttle_status_keeps_the_cost_bucket_in_step_and_spares_the_rest_bucket() -> None:
    rest = TokenBucket(40, 2)
    c = connector(connection_id=77, limiter=rest)
    responses.post(
        GRAPHQL,
        json=variants_page([], after=None) | {"extensions": cost(available=120, maximum=4000, rate=200)},
    )
    assert c.read_stock() == []
    bucket = c.client.graphql_bucket
    assert bucket.capacity == 4000 and bucket.refill_per_s == 200
    assert 120 <= bucket.available < 130
    assert rest.available > 39, "GraphQL pays in points, not in REST calls"
    assert connector(connection_id=77).client.graphql_bucket is bucket, "one bucket per connection"


@responses.activate
def test_query_errors_raise() -> None:
    error = {
        "message": "Field 'nope' doesn't exist on type 'QueryRoot'",
        "extensions": {"code": "undefinedField"},
    }
    responses.post(GRAPHQL, json={"errors": [error]})
    with pytest.raises(ShopifyGraphQLError, match="doesn't exist"):
        connector().read_stock()
    responses.replace(responses.POST, GRAPHQL, status=401, json={"errors": "[API] Invalid API key"})
    with pytest.raises(HttpError):
        connector().read_stock()
