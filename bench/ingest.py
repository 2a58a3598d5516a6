"""Ingest benchmark: 10,000 varied canonical orders (2 to 20 lines each) into SQLite and
into PostgreSQL, in pages of 100 as a poll commits them.

Each database runs in its own child process so its peak RSS is its own. Prints orders
per second (time spent in ingest only; generating the orders is outside the clock),
peak RSS, and RSS at checkpoints to show memory stays flat in the number of orders.
Last line: ``orders_per_s=<PostgreSQL figure>``.

    python bench/ingest.py [--orders N] [--page N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

DEFAULT_PG = os.environ.get("HUB_TEST_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(url: str, n: int, page: int) -> dict:
    from hub import tables as t
    from hub.db import Database
    from hub.ingest import IngestItem, ingest_orders
    from hub.schemas import dump_order
    from tests.factories import make_order

    db = Database(url)
    db.upgrade()
    with db.session() as s:
        conn = t.Connection(
            kind="channel",
            connector="shopify",
            name="bench",
            webhook_key=uuid.uuid4().hex,
            settings={},
            schedule={},
        )
        s.add(conn)
        s.flush()
        cid = conn.id
    rng = random.Random(42)
    spent = 0.0
    lines = 0
    checkpoints: dict[int, float] = {}
    for start in range(0, n, page):
        orders = [make_order(i, rng) for i in range(start, min(start + page, n))]
        items = [IngestItem(o, dump_order(o), "poll") for o in orders]  # raw: the channel's JSON stand-in
        lines += sum(len(o.lines) for o in orders)
        t0 = time.perf_counter()
        db.transaction(lambda s, items=items: ingest_orders(s, cid, items))
        spent += time.perf_counter() - t0
        done = start + len(orders)
        if done in (n // 10, n // 2, n):
            checkpoints[done] = round(rss_mb(), 1)
    with db.session() as s:
        stored = s.query(t.Order).count()
    db.dispose()
    return {
        "orders": n,
        "stored": stored,
        "lines": lines,
        "seconds": round(spent, 3),
        "orders_per_s": round(n / spent, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_at": checkpoints,
    }


def run_child(url: str, n: int, page: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, "--orders", str(n), "--page", str(page)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fresh_pg_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"hub_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def report(label: str, r: dict) -> None:
    print(
        f"{label}: {r['orders']} orders ({r['lines']} lines) in {r['seconds']} s = "
        f"{r['orders_per_s']} orders/s; "
        f"peak RSS {r['peak_rss_mb']} MB; RSS at {r['rss_at']} MB; stored {r['stored']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--postgres", default=DEFAULT_PG)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.orders, args.page)))
        return
    from hub.db import normalise_url

    with tempfile.TemporaryDirectory() as tmp:
        sqlite = run_child(f"sqlite:///{tmp}/bench.db", args.orders, args.page)
    report("sqlite", sqlite)
    url, drop = fresh_pg_database(normalise_url(args.postgres))
    try:
        pg = run_child(url, args.orders, args.page)
    finally:
        drop()
    report("postgresql", pg)
    print(f"orders_per_s={pg['orders_per_s']}")


if __name__ == "__main__":
    main()
