"""Shopify fulfilment push through fulfillment orders, idempotent by looking first.

Shopify keeps no field of ours on a fulfillment (``message`` is not returned, ``name`` is
Shopify's), so a shipment is found by its tracking number, else by its line items:

1. The order's active fulfillments carrying the tracking number: if they hold all the
   shipment's lines, nothing is created (``unchanged``, or ``updated`` when the company or
   URL differ); if some lines are missing (a create that failed half way), those are created.
2. Else, when the order's open fulfillment orders still hold the lines, one fulfillment per
   location is created (``created``).
3. Else, the fulfillments under one other tracking number holding exactly the shipment's lines
   are the same shipment with a new tracking number: their tracking is updated (``updated``).

A create whose answer was lost is never repeated by the HTTP layer; calling the push again
finds it in step 1. The one case the lines cannot tell apart: a new tracking number for a
shipment whose lines are still partly unfulfilled (a split shipment of identical lines looks
the same) is treated as a new shipment.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from connectors.shopify.client import ShopifyClient
from hub.connectors import PushResult, ShipmentPush

#: the hub's carrier code → Shopify's tracking company, spelled exactly as Shopify knows it
#: (case-sensitive; a known name gets Shopify's tracking links). Others send ``carrier_name``.
SHOPIFY_COMPANIES: dict[str, str] = {
    "ups": "UPS",
    "fedex": "FedEx",
    "usps": "USPS",
    "dhl_express": "DHL Express",
}
#: fulfillment statuses that hold no goods
INACTIVE = frozenset({"cancelled", "error", "failure"})
#: fulfillment-order statuses a merchant-managed app can fulfil (with ``create_fulfillment``)
FULFILLABLE = frozenset({"open", "in_progress"})


class FulfilmentError(ValueError):
    """The shipment cannot be pushed as it is (nothing left to fulfil, bad lines)."""


def company_for(shipment: ShipmentPush) -> str | None:
    return SHOPIFY_COMPANIES.get(shipment.carrier) or shipment.carrier_name.strip() or None


def tracking_info(shipment: ShipmentPush) -> dict[str, Any]:
    info: dict[str, Any] = {"number": shipment.tracking_number}
    if company := company_for(shipment):
        info["company"] = company
    if shipment.tracking_url:
        info["url"] = shipment.tracking_url
    return info


def push(client: ShopifyClient, shipment: ShipmentPush) -> PushResult:
    wanted = _wanted(shipment)
    order_id = shipment.order_external_id
    active = [f for f in client.fulfillments(order_id) if f.get("status") not in INACTIVE]
    mine = [f for f in active if shipment.tracking_number in _numbers(f)]
    if mine:
        covered = _lines(mine)
        missing = {line: n - covered[line] for line, n in wanted.items() if n > covered[line]}
        if not missing:
            stale = [f for f in mine if _differs(f, shipment)]
            for f in stale:
                client.update_tracking(f["id"], tracking_info(shipment), shipment.notify_customer)
            return PushResult("updated" if stale else "unchanged", _refs(mine))
        created = _create(client, shipment, missing, notify=False)
        return PushResult("created", _refs([*mine, *created]))
    try:
        created = _create(client, shipment, wanted, notify=True)
    except FulfilmentError as short:  # nothing left to fulfil: a new tracking number?
        previous = _same_shipment(active, wanted)
        if not previous:
            raise FulfilmentError(f"order {order_id}: {short}") from None
        for f in previous:
            client.update_tracking(f["id"], tracking_info(shipment), shipment.notify_customer)
        return PushResult("updated", _refs(previous))
    return PushResult("created", _refs(created))


def allocate(fulfillment_orders: list[dict[str, Any]], wanted: dict[str, int]) -> list[list[dict[str, Any]]]:
    """``line_items_by_fulfillment_order`` for ``wanted`` (order line id → quantity), one list
    per location (a fulfillment spans fulfillment orders of one location only). Raises
    ``FulfilmentError`` when the open fulfillment orders do not hold enough."""
    usable = [
        fo
        for fo in fulfillment_orders
        if fo.get("status") in FULFILLABLE and "create_fulfillment" in (fo.get("supported_actions") or ())
    ]

    def coverage(fo: dict[str, Any]) -> int:
        return sum(min(_fulfillable(li), wanted.get(str(li["line_item_id"]), 0)) for li in fo["line_items"])

    usable.sort(key=coverage, reverse=True)  # the fewest locations first
    need = dict(wanted)
    by_location: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for fo in usable:
        picked = []
        for li in fo["line_items"]:
            line = str(li["line_item_id"])
            take = min(need.get(line, 0), _fulfillable(li))
            if take > 0:
                picked.append({"id": li["id"], "quantity": take})
                need[line] -= take
        if picked:
            entry = {"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": picked}
            by_location[fo.get("assigned_location_id")].append(entry)
    short = {line: n for line, n in need.items() if n > 0}
    if short:
        lines = ", ".join(f"line {line} needs {n} more" for line, n in sorted(short.items()))
        raise FulfilmentError(f"open fulfillment orders do not hold the shipment ({lines})")
    return list(by_location.values())


def _create(
    client: ShopifyClient, shipment: ShipmentPush, wanted: dict[str, int], *, notify: bool
) -> list[dict[str, Any]]:
    groups = allocate(client.fulfillment_orders(shipment.order_external_id), wanted)
    created = []
    for n, group in enumerate(groups):
        body = {
            "notify_customer": shipment.notify_customer and notify and n == 0,  # one e-mail
            "tracking_info": tracking_info(shipment),
            "line_items_by_fulfillment_order": group,
        }
        created.append(client.create_fulfillment(body))
    return created


def _wanted(shipment: ShipmentPush) -> dict[str, int]:
    wanted: Counter[str] = Counter()
    for line in shipment.lines:
        if line.quantity < 0:
            raise FulfilmentError(f"line {line.line_external_id}: quantity {line.quantity} is negative")
        wanted[str(line.line_external_id)] += line.quantity
    wanted = +wanted  # drop zero quantities
    if not wanted:
        raise FulfilmentError(f"shipment {shipment.key} has no line items")
    if not shipment.tracking_number:
        raise FulfilmentError(f"shipment {shipment.key} has no tracking number")
    return dict(wanted)


def _numbers(fulfillment: dict[str, Any]) -> set[str]:
    numbers = set(fulfillment.get("tracking_numbers") or ())
    if fulfillment.get("tracking_number"):
        numbers.add(fulfillment["tracking_number"])
    return numbers


def _lines(fulfillments: Iterable[dict[str, Any]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for f in fulfillments:
        for li in f.get("line_items") or ():
            total[str(li["id"])] += int(li.get("quantity") or 0)
    return total


def _fulfillable(fo_line: dict[str, Any]) -> int:
    return int(fo_line.get("fulfillable_quantity") or 0)


def _differs(fulfillment: dict[str, Any], shipment: ShipmentPush) -> bool:
    company = company_for(shipment)
    if company and fulfillment.get("tracking_company") != company:
        return True
    urls = set(fulfillment.get("tracking_urls") or ()) | {fulfillment.get("tracking_url")}
    return bool(shipment.tracking_url) and shipment.tracking_url not in urls


def _same_shipment(active: list[dict[str, Any]], wanted: dict[str, int]) -> list[dict[str, Any]]:
    """The fulfillments under one tracking number holding exactly ``wanted`` (the newest such)."""
    by_number: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in active:
        by_number[f.get("tracking_number") or ""].append(f)
    groups = [group for group in by_number.values() if _lines(group) == Counter(wanted)]
    return max(groups, key=lambda g: max(int(f["id"]) for f in g), default=[])


def _refs(fulfillments: Iterable[dict[str, Any]]) -> str:
    return ",".join(sorted({str(f["id"]) for f in fulfillments}, key=int))
