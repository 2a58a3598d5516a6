"""Five-carrier rate shops through the hub's rate-shop service, each carrier sandbox (in its
own process) answering in 200 ms. Prints the median and p99 time of a shop and the hub's own
overhead per shop (shop time minus the slowest carrier call). Target: p99 under 260 ms.

    .venv/bin/python bench/rate_shop.py [--shops 200] [--latency-ms 200]

The last line is ``overhead_ms=<median overhead>``."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serve_sandbox import SandboxProcess
from hub.calllog import flush_call_log
from hub.crypto import SecretBox
from hub.db import Database
from hub.services.connections import create_connection
from hub.shipping.convert import address_from_json
from hub.shipping.model import Parcel, RateRequest
from hub.shipping.rules import RuleSet
from hub.shipping.shopping import run_shop

CARRIERS = ("ups", "fedex", "usps", "dhl_express", "easypost")
REQUEST = RateRequest(
    ship_from=address_from_json(
        {
            "name": "Shipper",
            "street1": "1 Dock Rd",
            "city": "Atlanta",
            "region": "GA",
            "postal_code": "30301",
            "country_code": "US",
            "phone": "4045550100",
        }
    ),
    ship_to=address_from_json(
        {
            "name": "Ann Buyer",
            "street1": "350 5th Ave",
            "city": "New York",
            "region": "NY",
            "postal_code": "10118",
            "country_code": "US",
            "phone": "2125550100",
            "residential": True,
        }
    ),
    parcels=(Parcel(1200, 300, 200, 150),),
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shops", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()

    sandboxes = {name: SandboxProcess(name) for name in CARRIERS}
    try:
        for sandbox in sandboxes.values():
            requests.patch(f"{sandbox.url}/_sandbox/faults", json={"latency_ms": args.latency_ms}, timeout=10)
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{tmp}/hub.db")
            db.upgrade()
            box = SecretBox("bench-secret-key")
            with db.session() as session:
                for name, sandbox in sandboxes.items():
                    create_connection(session, box, name, f"{name} sandbox", sandbox.values)
            for _ in range(args.warmup):  # tokens fetched, connections opened
                run_shop(db, box, "http://127.0.0.1", REQUEST, RuleSet(), "bench")
            shop_ms: list[float] = []
            overhead_ms: list[float] = []
            failures = 0
            for _ in range(args.shops):
                result = run_shop(db, box, "http://127.0.0.1", REQUEST, RuleSet(), "bench")
                outcome = result.outcome
                failures += len(outcome.failures)
                shop_ms.append(outcome.elapsed_ms)
                if outcome.carrier_ms:
                    overhead_ms.append(outcome.elapsed_ms - max(outcome.carrier_ms.values()))
            flush_call_log(db)  # the call log's background writer, before the file goes
            db.dispose()
    finally:
        for sandbox in sandboxes.values():
            sandbox.proc.stdin.close()  # type: ignore[union-attr]
            sandbox.proc.wait(timeout=10)
    print(
        f"shops={args.shops} carriers={len(CARRIERS)} carrier_latency_ms={args.latency_ms:g} "
        f"carrier_failures={failures}"
    )
    print(f"shop_median_ms={statistics.median(shop_ms):.1f}")
    print(f"shop_p99_ms={percentile(shop_ms, 0.99):.1f} (target < 260)")
    print(f"overhead_p99_ms={percentile(overhead_ms, 0.99):.1f}")
    print(f"overhead_ms={statistics.median(overhead_ms):.1f}")


if __name__ == "__main__":
    main()
