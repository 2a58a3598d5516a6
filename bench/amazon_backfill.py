"""Amazon backfill benchmark: orders polled from the Amazon sandbox (its own process, its real
per-operation limits) into SQLite, against the minimum those limits allow.

The published limits make a real backfill long (v2026 searchOrders: one page of 100 per 180 s
after a burst of 20; v0: one getOrderItems per order at 0.5/s after a burst of 30), so the
sandbox's limits run ``speed`` times faster than real time; its ``x-amzn-RateLimit-Limit``
header says so and the connector adopts it. The minimum for a run is, over the operations it
used, the longest ``(calls - burst) / (rate x speed)``: the time the busiest bucket needs.

1. v2026, 2,000 orders: 20 pages, all inside the burst (no minimum to compare with: shown).
2. v0, 2,000 orders: 20 getOrders + 2,000 getOrderItems, paced by the item calls.
3. v2026, 20,000 orders: 200 pages, 180 of them paced by searchOrders.

Last line: ``ratio=<the larger elapsed / minimum of runs 2 and 3>`` (target <= 1.10).

    python bench/amazon_backfill.py [--orders 2000] [--big 20000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from serve_sandbox import SandboxProcess  # noqa: E402

from connectors.amazon.sandbox import LIMITS  # noqa: E402

#: sandbox URL rule -> operation (LIMITS key)
RULES = {
    "/orders/2026-01-01/orders": "searchOrders",
    "/orders/v0/orders": "v0_getOrders",
    "/orders/v0/orders/<order_id>/orderItems": "v0_getOrderItems",
}


def child(values: dict, db_url: str) -> dict:
    """The hub side, in its own process: one full backfill."""
    from hub import tables as t
    from hub.crypto import SecretBox
    from hub.db import Database
    from hub.services.connections import create_connection
    from hub.sync import poll_orders

    db = Database(db_url)
    db.upgrade()
    box = SecretBox("bench-key")
    with db.session() as s:
        cid = create_connection(s, box, "amazon", "bench", values | {"backfill_since": "2000-01-01"}).id
    started = time.perf_counter()
    summary = poll_orders(db, box, "http://127.0.0.1", cid)
    elapsed = time.perf_counter() - started
    with db.session() as s:
        stored = s.query(t.Order).count()
        distinct = s.query(t.Order.external_id).distinct().count()
    return {
        "status": summary.status,
        "error": summary.error,
        "stored": stored,
        "distinct": distinct,
        "seconds": round(elapsed, 3),
    }


def run(orders: int, api: str, speed: float) -> dict:
    sandbox = SandboxProcess("amazon", orders=orders, speed=speed, seed=11, skus=100)
    try:
        values = sandbox.values | {"orders_api": api}
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps(values), f"sqlite:///{tmp}/hub.db"],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=False,
            )
        stats = sandbox.stats()
    finally:
        sandbox.close()
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status"] != "ok" or result["stored"] != orders or result["distinct"] != orders:
        raise SystemExit(f"backfill incomplete: {result}")
    calls: dict[str, int] = {}
    throttled = 0
    for row in stats["requests"]:
        operation = RULES.get(row["rule"])
        if operation is None:
            continue
        if row["status"] == 429:
            throttled += row["count"]
        else:
            calls[operation] = calls.get(operation, 0) + row["count"]
    minimum = 0.0
    for operation, n in calls.items():
        rate, burst = LIMITS[operation]
        minimum = max(minimum, max(0, n - burst) / (rate * speed))
    return result | {"calls": calls, "throttled": throttled, "minimum": minimum, "speed": speed}


def line(label: str, r: dict) -> str:
    calls = ", ".join(f"{n} {op}" for op, n in sorted(r["calls"].items()))
    text = f"{label}: {r['stored']} orders in {r['seconds']:.2f} s; {calls}; {r['throttled']} answered 429"
    if r["minimum"] > 0:
        text += (
            f"; limits x{r['speed']:g}: minimum {r['minimum']:.2f} s, ratio {r['seconds'] / r['minimum']:.3f}"
        )
    else:
        text += "; every call inside the burst (no minimum to compare with)"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--big", type=int, default=20_000, help="orders of the paced v2026 run")
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child[0]), args.child[1])))
        return
    burst = run(args.orders, "v2026", speed=1)
    print(line(f"v2026 searchOrders, real limits, {args.orders} orders", burst))
    v0 = run(args.orders, "v0", speed=100)
    print(line(f"v0 getOrders + getOrderItems, {args.orders} orders", v0))
    big = run(args.big, "v2026", speed=1000)
    print(line(f"v2026 searchOrders, {args.big} orders", big))
    ratios = [r["seconds"] / r["minimum"] for r in (v0, big) if r["minimum"] > 0]
    print(f"ratio={max(ratios):.3f}")


if __name__ == "__main__":
    main()
