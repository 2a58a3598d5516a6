"""Shopify inventory: the SKU → inventory item map (cached per connection), stock read per
location and absolute writes of ``available`` in batches of 250. Location ids are Shopify's
numeric (REST) ids, as strings, both ways."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from connectors.shopify.client import MAX_INPUT, ShopifyClient, VariantStock, gid
from hub.connectors import StockLevel, StockWrite, StockWriteResult

log = logging.getLogger("connectors.shopify")

#: unknown SKUs looked up one by one (in OR-ed chunks) up to this many; above, the whole map is reloaded
TARGETED_LOOKUP_MAX = 500
_LOCATION = re.compile(r"\d+|gid://shopify/Location/\d+")

UNKNOWN_SKU = "SKU not found in Shopify"
UNTRACKED = "Shopify does not track inventory for this SKU"
BAD_LOCATION = "not a Shopify location id (numeric id expected)"
NOT_APPLIED = "not applied: Shopify refused another quantity of the same call"


@dataclass(frozen=True)
class ItemRef:
    item_id: str  # gid://shopify/InventoryItem/<id>
    tracked: bool


@dataclass
class ItemMap:
    """SKU → inventory item of one connection."""

    items: dict[str, ItemRef] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: inventory item → SKU, the other way (an entry is trusted only while ``items`` agrees)
    skus: dict[str, str] = field(default_factory=dict)

    def absorb(self, variants: Iterable[VariantStock], *, complete: bool = False) -> list[VariantStock]:
        """Take what a read found (the first variant of a SKU wins; ``complete``: the read
        covered the whole shop, so SKUs it did not find are dropped). Returns the variants kept."""
        found: dict[str, VariantStock] = {}
        for variant in variants:
            if variant.sku in found:
                if found[variant.sku].item_id != variant.item_id:
                    log.warning("SKU %s is on several Shopify variants; using the first", variant.sku)
                continue
            found[variant.sku] = variant
        refs = {sku: ItemRef(v.item_id, v.tracked) for sku, v in found.items()}
        with self.lock:
            if complete:
                self.items = refs
                self.skus = {}
            else:
                self.items.update(refs)
            self.skus.update((ref.item_id, sku) for sku, ref in refs.items())
        return list(found.values())

    def sku_of(self, item_id: str) -> str | None:
        """The SKU whose listing is this inventory item (global id), if the map knows it."""
        with self.lock:
            sku = self.skus.get(item_id)
            ref = self.items.get(sku) if sku is not None else None
            return sku if ref is not None and ref.item_id == item_id else None

    def get(self, sku: str) -> ItemRef | None:
        with self.lock:
            return self.items.get(sku)

    def forget(self, sku: str) -> None:
        with self.lock:
            self.items.pop(sku, None)


_MAPS: dict[Hashable, ItemMap] = {}
_MAPS_LOCK = threading.Lock()


def item_map(key: Hashable) -> ItemMap:
    """The cached map of a connection (``key``: connection id and store URL)."""
    with _MAPS_LOCK:
        return _MAPS.setdefault(key, ItemMap())


def forget_maps() -> None:
    """Drop every cached map (tests; they reload on next use)."""
    with _MAPS_LOCK:
        _MAPS.clear()


def read_stock(client: ShopifyClient, items: ItemMap, skus: list[str] | None) -> list[StockLevel]:
    """``available`` per SKU per location (tracked items only); refreshes the map on the way."""
    if skus is not None and not skus:
        return []
    variants = items.absorb(client.variants(skus, levels=True), complete=skus is None)
    return [
        StockLevel(v.sku, location, available)
        for v in variants
        if v.tracked
        for location, available in v.levels
    ]


def sku_of_item(client: ShopifyClient, items: ItemMap, item_id: str) -> str | None:
    """The SKU the hub knows this inventory item (global id) by: from the map, else asked of
    Shopify (the item's SKU, then that SKU's variants, so the map keeps the variant it writes
    to). None for an item without a SKU, or not the one the SKU's stock is written to."""
    known = items.sku_of(item_id)
    if known is not None:
        return known
    found = client.inventory_item(item_id)
    if found is None:
        return None
    resolve(client, items, [found.sku])
    return items.sku_of(item_id)


def resolve(client: ShopifyClient, items: ItemMap, skus: Iterable[str]) -> dict[str, ItemRef]:
    """The items of ``skus``; SKUs the map does not know are looked up once (all together)."""
    wanted = list(dict.fromkeys(skus))
    unknown = [s for s in wanted if items.get(s) is None]
    if len(unknown) > TARGETED_LOOKUP_MAX:
        items.absorb(client.variants(None, levels=False), complete=True)
    elif unknown:
        items.absorb(client.variants(unknown, levels=False))
    return {s: ref for s in wanted if (ref := items.get(s)) is not None}


def write_stock(
    client: ShopifyClient, items: ItemMap, writes: Sequence[StockWrite]
) -> list[StockWriteResult]:
    """Set absolute quantities; one result per write, in order. An unknown SKU or a
    ``userErrors`` entry fails only its own write. Of several writes to one SKU and location,
    the last one is sent and all get its result."""
    last = {(w.sku, w.location_id): i for i, w in enumerate(writes)}
    refs = resolve(client, items, (w.sku for w in writes))
    outcome: dict[int, str | None] = {}  # write index -> error (None: ok)
    pending: list[int] = []
    for i in last.values():
        write, ref = writes[i], refs.get(writes[i].sku)
        if not _LOCATION.fullmatch(str(write.location_id)):
            outcome[i] = BAD_LOCATION
        elif ref is None:
            outcome[i] = UNKNOWN_SKU
        elif not ref.tracked:
            outcome[i] = UNTRACKED
        else:
            pending.append(i)
    for start in range(0, len(pending), MAX_INPUT):
        _send(client, items, writes, refs, pending[start : start + MAX_INPUT], outcome, resend=True)
    results = []
    for w in writes:
        error = outcome[last[(w.sku, w.location_id)]]
        results.append(StockWriteResult(w.sku, w.location_id, ok=error is None, error=error))
    return results


def _send(
    client: ShopifyClient,
    items: ItemMap,
    writes: Sequence[StockWrite],
    refs: dict[str, ItemRef],
    batch: list[int],
    outcome: dict[int, str | None],
    *,
    resend: bool,
) -> None:
    quantities = [
        (refs[writes[i].sku].item_id, gid("Location", writes[i].location_id), writes[i].quantity)
        for i in batch
    ]
    result = client.set_available(quantities)
    failed: dict[int, str] = {}
    general: list[str] = []
    for error in result.errors:
        text = f"{error.code}: {error.message}" if error.code else error.message
        if error.index is not None and 0 <= error.index < len(batch):
            index = batch[error.index]
            failed[index] = f"{failed[index]}; {text}" if index in failed else text
            if error.code == "INVALID_INVENTORY_ITEM":
                items.forget(writes[index].sku)  # re-resolved next time
        else:
            general.append(text)
    if general:
        for i in batch:
            outcome[i] = "; ".join(general)
        return
    outcome.update(failed)
    rest = [i for i in batch if i not in failed]
    if failed and rest and not result.applied:
        # nothing was applied (the mutation is all or nothing): send the others again, once
        if resend:
            _send(client, items, writes, refs, rest, outcome, resend=False)
            return
        for i in rest:
            outcome[i] = NOT_APPLIED
        return
    for i in rest:
        outcome[i] = None
