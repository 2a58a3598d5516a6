"""Quantity push: merchant-fulfilled quantity (``fulfillment_availability``, channel
``DEFAULT``) per SKU, by ``patchListingsItem`` for a few SKUs or one ``JSON_LISTINGS_FEED`` for
many, whichever the operations' rate limits say finishes first.

* Patches: one call per SKU (5 per second, burst 5); ``ACCEPTED`` is success (Amazon applies it
  asynchronously), ``INVALID`` or an error answer fails that SKU with Amazon's issues.
* Feed: the document is created, uploaded to its pre-signed URL, the feed created and polled
  until ``DONE``/``FATAL``/``CANCELLED``; the processing report is read and every ``ERROR``
  issue fails the SKU of its ``messageId`` (its code and message are the SKU's error); the
  others succeeded. At most ``MAX_FEED_MESSAGES`` SKUs per feed.

The choice: patches take ``(n - available patch tokens) / rate`` seconds; a feed takes what its
three rate-limited calls wait for plus its processing time (the last feed's, else
``FEED_TYPICAL_SECONDS``). The cheaper one wins: a handful of SKUs go by patch, thousands by feed.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from connectors.amazon.client import AmazonClient, error_messages
from hub.connectors import StockWrite, StockWriteResult
from hub.http import HttpError

log = logging.getLogger("connectors.amazon")

CHANNEL = "DEFAULT"  # merchant-fulfilled; AFN codes (AMAZON_NA, ...) are Amazon's own stock
ATTRIBUTE = "/attributes/fulfillment_availability"
FEED_TYPE = "JSON_LISTINGS_FEED"
CONTENT_TYPE = "application/json; charset=UTF-8"
#: ``messages`` maxItems of Amazon's listings feed schema v2
MAX_FEED_MESSAGES = 25_000
#: processing time assumed before this process has seen a feed finish (Amazon's is minutes; unconfirmed)
FEED_TYPICAL_SECONDS = 300.0
FEED_POLL_FIRST, FEED_POLL_GROWTH, FEED_POLL_MAX = 1.0, 1.5, 30.0
#: give up waiting for a feed after this long (the SKUs are reported as unknown, not failed silently)
FEED_TIMEOUT = 3600.0
PATCH_WORKERS = 4
DONE_STATES = frozenset({"DONE", "FATAL", "CANCELLED"})

BAD_LOCATION = "Amazon takes the merchant-fulfilled quantity only: location must be DEFAULT"
BAD_QUANTITY = "quantity must be 0 or more"

_FEED_SECONDS: dict[str, float] = {}
_FEED_SECONDS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Listings:
    client: AmazonClient
    seller_id: str
    marketplaces: tuple[str, ...]
    product_type: str = "PRODUCT"
    sleep: Callable[[float], None] = time.sleep


def patches(quantity: int) -> list[dict[str, Any]]:
    return [
        {
            "op": "replace",
            "path": ATTRIBUTE,
            "value": [{"fulfillment_channel_code": CHANNEL, "quantity": quantity}],
        }
    ]


def write_stock(listings: Listings, writes: Sequence[StockWrite]) -> list[StockWriteResult]:
    """One result per write, in order; of several writes to one SKU the last is sent and all
    get its result."""
    last = {w.sku: i for i, w in enumerate(writes)}
    outcome: dict[int, str | None] = {}
    send: list[int] = []
    for i in last.values():
        write = writes[i]
        if str(write.location_id or CHANNEL).upper() != CHANNEL:
            outcome[i] = BAD_LOCATION
        elif write.quantity < 0:
            outcome[i] = BAD_QUANTITY
        else:
            send.append(i)
    if send:
        how = choose(listings.client, len(send))
        log.info("pushing %d quantities by %s", len(send), how)
        chosen = _by_patch if how == "patch" else _by_feed
        outcome.update(chosen(listings, [(i, writes[i].sku, writes[i].quantity) for i in send]))
    return [
        StockWriteResult(w.sku, w.location_id, ok=outcome[last[w.sku]] is None, error=outcome[last[w.sku]])
        for w in writes
    ]


def choose(client: AmazonClient, n: int) -> str:
    """``patch`` or ``feed``: whichever the rate limits (as the buckets stand) finish sooner."""
    patch = client.bucket("patchListingsItem")
    patch_seconds = max(0.0, n - patch.available) / patch.refill_per_s
    feeds = -(-n // MAX_FEED_MESSAGES)
    waits = 0.0
    for operation in ("createFeedDocument", "createFeed", "getFeedDocument"):
        bucket = client.bucket(operation)
        waits = max(waits, max(0.0, feeds - bucket.available) / bucket.refill_per_s)
    feed_seconds = waits + feed_processing_seconds(client.scope)
    return "patch" if patch_seconds <= feed_seconds else "feed"


def feed_processing_seconds(scope: str) -> float:
    with _FEED_SECONDS_LOCK:
        return _FEED_SECONDS.get(scope, FEED_TYPICAL_SECONDS)


def _learn(scope: str, seconds: float) -> None:
    with _FEED_SECONDS_LOCK:
        _FEED_SECONDS[scope] = seconds


# -- patches -----------------------------------------------------------------------------------------


def _by_patch(listings: Listings, rows: list[tuple[int, str, int]]) -> dict[int, str | None]:
    def one(row: tuple[int, str, int]) -> tuple[int, str | None]:
        index, sku, quantity = row
        return index, patch_one(listings, sku, quantity)

    with ThreadPoolExecutor(
        max_workers=min(PATCH_WORKERS, len(rows)), thread_name_prefix="amazon-patch"
    ) as pool:
        return dict(pool.map(one, rows))


def patch_one(listings: Listings, sku: str, quantity: int) -> str | None:
    """None when Amazon accepted the quantity, else the reason."""
    body = {"productType": listings.product_type, "patches": patches(quantity)}
    try:
        response = listings.client.call(
            "patchListingsItem",
            path={"sellerId": listings.seller_id, "sku": sku},
            params={"marketplaceIds": ",".join(listings.marketplaces)},
            json=body,
            idempotent=True,  # an absolute quantity: safe to send again
        )
    except HttpError as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            return "; ".join(_issues_text(exc.body) or error_messages(exc.body)) or f"HTTP {exc.status}"
        return str(exc)
    data = response.json()
    if data.get("status") == "ACCEPTED":
        return None
    return "; ".join(_issues_text(response.text)) or f"Amazon answered {data.get('status')}"


def _issues_text(body: str) -> list[str]:
    try:
        data = json.loads(body)
    except ValueError:
        return []
    issues = data.get("issues") if isinstance(data, dict) else None
    return [
        f"{i.get('code')}: {i.get('message')}"
        for i in issues or []
        if isinstance(i, dict) and str(i.get("severity", "ERROR")).upper() == "ERROR"
    ]


# -- feeds -------------------------------------------------------------------------------------------


def feed_document(seller_id: str, product_type: str, rows: Sequence[tuple[int, str, int]]) -> dict[str, Any]:
    """The JSON_LISTINGS_FEED document; message ids are 1..n in ``rows`` order."""
    return {
        "header": {"sellerId": seller_id, "version": "2.0", "issueLocale": "en_US"},
        "messages": [
            {
                "messageId": n,
                "sku": sku,
                "operationType": "PATCH",
                "productType": product_type,
                "patches": patches(quantity),
            }
            for n, (_, sku, quantity) in enumerate(rows, start=1)
        ],
    }


def _by_feed(listings: Listings, rows: list[tuple[int, str, int]]) -> dict[int, str | None]:
    outcome: dict[int, str | None] = {}
    for start in range(0, len(rows), MAX_FEED_MESSAGES):
        chunk = rows[start : start + MAX_FEED_MESSAGES]
        outcome.update(run_feed(listings, chunk))
    return outcome


def run_feed(listings: Listings, rows: list[tuple[int, str, int]]) -> dict[int, str | None]:
    """Send one feed and read its report: write index -> error (None: accepted)."""
    client = listings.client
    document = json.dumps(feed_document(listings.seller_id, listings.product_type, rows)).encode()
    created = client.call("createFeedDocument", json={"contentType": CONTENT_TYPE}, idempotent=True).json()
    client.http.put(created["url"], data=document, headers={"Content-Type": CONTENT_TYPE})
    body = {
        "feedType": FEED_TYPE,
        "marketplaceIds": list(listings.marketplaces),
        "inputFeedDocumentId": created["feedDocumentId"],
    }
    feed_id = str(client.call("createFeed", json=body, idempotent=False).json()["feedId"])
    started = time.monotonic()
    feed = _wait(listings, feed_id, started)
    status = feed.get("processingStatus")
    if status not in DONE_STATES:
        reason = f"feed {feed_id} still {status} after {FEED_TIMEOUT:.0f} s: result unknown"
        return {index: reason for index, _, _ in rows}
    if status == "DONE":
        _learn(client.scope, time.monotonic() - started)
    report = None
    if feed.get("resultFeedDocumentId"):
        report = read_report(client, str(feed["resultFeedDocumentId"]))
    return report_outcome(feed_id, status, report, rows)


def _wait(listings: Listings, feed_id: str, started: float) -> dict[str, Any]:
    delay = FEED_POLL_FIRST
    while True:
        listings.sleep(delay)
        feed = listings.client.call("getFeed", path={"feedId": feed_id}).json()
        if feed.get("processingStatus") in DONE_STATES or time.monotonic() - started > FEED_TIMEOUT:
            return feed
        delay = min(delay * FEED_POLL_GROWTH, FEED_POLL_MAX)


def read_report(client: AmazonClient, document_id: str) -> dict[str, Any]:
    info = client.call("getFeedDocument", path={"feedDocumentId": document_id}).json()
    content = client.http.get(info["url"]).content
    # GZIP: the object itself is compressed (unless a Content-Encoding already undid it)
    if str(info.get("compressionAlgorithm") or "").upper() == "GZIP" and content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    return json.loads(content.decode("utf-8"))


def report_outcome(
    feed_id: str, status: str, report: dict[str, Any] | None, rows: Sequence[tuple[int, str, int]]
) -> dict[int, str | None]:
    """Each row's error from the processing report (``issues`` of severity ERROR by ``messageId``;
    an ERROR without one, or a FATAL/CANCELLED feed, fails every row)."""
    by_message: dict[int, list[str]] = {}
    general: list[str] = []
    for issue in (report or {}).get("issues") or []:
        if not isinstance(issue, dict) or str(issue.get("severity", "")).upper() != "ERROR":
            continue
        text = (
            f"{issue.get('code')}: {issue.get('message')}" if issue.get("code") else str(issue.get("message"))
        )
        if issue.get("attributeName"):
            text += f" ({issue['attributeName']})"
        message_id = issue.get("messageId")
        if isinstance(message_id, int):
            by_message.setdefault(message_id, []).append(text)
        else:
            general.append(text)
    if status != "DONE" and not general:
        general.append(f"feed {feed_id} ended {status}")
    outcome: dict[int, str | None] = {}
    for n, (index, _, _) in enumerate(rows, start=1):
        errors = by_message.get(n, []) + general
        outcome[index] = f"feed {feed_id}: {'; '.join(errors)}" if errors else None
    return outcome
