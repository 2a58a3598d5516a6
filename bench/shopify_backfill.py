"""Shopify backfill benchmark: 20,000 orders polled from the sandbox (its own process)
into SQLite.

1. Limits off: orders per second, peak RSS of the hub process, and RSS along the way
   (it must stay flat in the number of orders).
2. Limits on (bucket 40, leaking 2/s): elapsed time over the minimum the limits allow
   for the calls a backfill needs (one count plus one call per 250 orders):
   ``(calls - 40) / 2`` seconds.

Last line: ``ratio=<limits-on elapsed / minimum>``.

    python bench/shopify_backfill.py [--orders 20000]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BUCKET, LEAK, PAGE = 40, 2.0, 250


from serve_sandbox import SandboxProcess  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(values: dict, db_url: str) -> dict:
    """The hub side, in its own process: one full backfill."""
    from hub import tables as t
    from hub.config import Settings
    from hub.crypto import SecretBox
    from hub.db import Database
    from hub.services.connections import create_connection
    from hub.sync import poll_orders

    db = Database(db_url)
    db.upgrade()
    box = SecretBox("bench-key")
    with db.session() as s:
        cid = create_connection(s, box, "shopify", "bench", values | {"backfill_since": "2000-01-01"}).id
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            samples.append((time.perf_counter(), rss_mb()))

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    summary = poll_orders(db, box, Settings.from_env().public_url, cid)
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    with db.session() as s:
        stored = s.query(t.Order).count()
        calls = s.query(t.ApiCall).count()
        throttled = s.query(t.ApiCall).filter(t.ApiCall.status == 429).count()
    quarter = [round(rss, 1) for at, rss in samples if at - started >= 0][:: max(1, len(samples) // 4)]
    return {
        "status": summary.status,
        "error": summary.error,
        "stored": stored,
        "seconds": round(elapsed, 2),
        "calls": calls,
        "throttled": throttled,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_along_mb": quarter,
    }


def run(orders: int, limits: bool) -> dict:
    sandbox = SandboxProcess("shopify", orders=orders, limits=limits, seed=11)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps(sandbox.values), f"sqlite:///{tmp}/hub.db"],
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
    if result["status"] != "ok" or result["stored"] != orders:
        raise SystemExit(f"backfill incomplete: {result}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child[0]), args.child[1])))
        return
    free = run(args.orders, limits=False)
    print(
        f"limits off: {args.orders} orders in {free['seconds']} s = "
        f"{args.orders / free['seconds']:.0f} orders/s; {free['calls']} calls; "
        f"peak RSS {free['peak_rss_mb']} MB; RSS along the way {free['rss_along_mb']} MB"
    )
    limited = run(args.orders, limits=True)
    needed = 1 + math.ceil(args.orders / PAGE)
    minimum = max(needed - BUCKET, 0) / LEAK
    print(
        f"limits on: {args.orders} orders in {limited['seconds']} s; {limited['calls']} calls "
        f"({limited['throttled']} answered 429); minimum the limits allow for {needed} calls: {minimum:.1f} s"
    )
    if minimum == 0:
        raise SystemExit("every call fits in the burst: use more orders to measure pacing (default 20,000)")
    print(f"ratio={limited['seconds'] / minimum:.3f}")


if __name__ == "__main__":
    main()
