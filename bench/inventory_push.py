"""Inventory push benchmark: 10,000 SKUs changed at once in the hub reach the Shopify sandbox
(its own process, GraphQL cost limits on: 2,000 points, restoring 100 a second).

The hub learns the SKUs' inventory items (the variant map, ``MAP_COST`` points a page of 250)
and sets ``available`` with ``inventorySetQuantities`` (250 a call, ``MUTATION_COST`` points).
The minimum the limits allow is the points those calls need beyond the full bucket, at the
restore rate: ``(pages * MAP_COST + calls * MUTATION_COST - 2000) / 100`` seconds.

Prints elapsed time, API calls, failed updates and the ratio; last line ``ratio=<figure>``.

    python bench/inventory_push.py [--skus 10000]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from serve_sandbox import SandboxProcess  # noqa: E402

BUCKET, RESTORE = 2000.0, 100.0


def child(values: dict, db_url: str, skus: int) -> dict:
    """The hub side, in its own process: the change, then the sender until the queue is empty."""
    from sqlalchemy import func, insert, select

    from hub import tables as t
    from hub.crypto import SecretBox
    from hub.db import Database
    from hub.inventory.catalogue import ensure_location
    from hub.inventory.outbox import enqueue_push
    from hub.inventory.sender import push_stock
    from hub.services.connections import build_connector, create_connection

    db = Database(db_url)
    db.upgrade()
    box = SecretBox("bench-key")
    with db.session() as s:
        conn = create_connection(s, box, "shopify", "bench", values)
        cid = conn.id
        s.flush()
        s.expunge(conn)
    probe = build_connector(db, box, conn, "http://hub.test").read_stock(["SBX-0001"])
    with db.session() as s:  # where the hub writes: the shop's first location
        where = {"stock_location": probe[0].location_id}
        s.get(t.Connection, cid).settings = dict(conn.settings or {}) | where
        s.execute(t.ApiCall.__table__.delete())
    with db.session() as s:
        loc = ensure_location(s, "WH").id
        s.execute(insert(t.Sku), [{"sku": f"SBX-{i + 1:04d}", "created_at": t.utcnow()} for i in range(skus)])
        ids = list(s.scalars(select(t.Sku.id)))
        s.execute(
            insert(t.StockLevel),
            [{"sku_id": i, "location_id": loc, "on_hand": 1000 + i % 97, "reserved": 0} for i in ids],
        )
        queued = enqueue_push(s, ids)  # 10,000 SKUs changed at once
    started = time.perf_counter()
    summary = push_stock(db, box, "http://hub.test", cid)
    elapsed = time.perf_counter() - started
    with db.session() as s:
        calls = s.scalar(select(func.count()).select_from(t.ApiCall)) or 0
        left = s.scalar(select(func.count()).select_from(t.StockPush)) or 0
        published = s.scalar(select(func.count()).select_from(t.StockPublication)) or 0
    return {
        "queued": queued,
        "sent": summary.sent,
        "failed": summary.failed,
        "left": left,
        "published": published,
        "calls": calls,
        "seconds": round(elapsed, 2),
        "errors": summary.errors[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child[0]), args.child[1], int(args.child[2]))))
        return
    from connectors.shopify.client import MAP_COST, MAP_PAGE, MAX_INPUT, MUTATION_COST

    sandbox = SandboxProcess("shopify", skus=args.skus, orders=1, limits=True, locations=1, seed=5)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    json.dumps(sandbox.values),
                    f"sqlite:///{tmp}/hub.db",
                    str(args.skus),
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=False,
            )
    finally:
        sandbox.close()
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    pages, mutations = math.ceil(args.skus / MAP_PAGE), math.ceil(args.skus / MAX_INPUT)
    points = pages * MAP_COST + mutations * MUTATION_COST
    minimum = max(points - BUCKET, 0) / RESTORE
    print(
        f"{result['queued']} SKUs queued; {result['sent']} updates sent, {result['failed']} failed, "
        f"{result['left']} left in the queue, {result['published']} published values recorded"
    )
    print(
        f"elapsed {result['seconds']} s; {result['calls']} API calls ({pages} map pages + {mutations} "
        f"inventorySetQuantities needed); minimum the limits allow for {points:.0f} points: {minimum:.1f} s"
    )
    if result["errors"]:
        print(f"errors: {result['errors']}")
    if result["failed"] or result["sent"] != args.skus:
        raise SystemExit("not every update reached the sandbox")
    if minimum == 0:
        raise SystemExit("everything fits in the bucket: use more SKUs to measure pacing")
    print(f"ratio={result['seconds'] / minimum:.3f}")


if __name__ == "__main__":
    main()
