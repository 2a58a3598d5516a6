"""Run a connector's sandbox in its own process for a benchmark (so the hub's RSS and
CPU are its own). Prints ``url=<base URL>`` once it serves; stops when stdin closes.

    python bench/serve_sandbox.py shopify --kw orders=20000 --kw limits=false
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.connectors import get_connector
from hub.sandbox import load_sandbox


def parse_kw(pairs: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        name, _, raw = pair.partition("=")
        out[name] = json.loads(raw) if raw not in ("", None) else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("connector")
    parser.add_argument("--kw", action="append", default=[], help="constructor argument NAME=JSON")
    args = parser.parse_args()
    sandbox = load_sandbox(get_connector(args.connector).sandbox, **parse_kw(args.kw)).start()
    print(f"url={sandbox.url}", flush=True)
    print(f"values={json.dumps(sandbox.connection_values())}", flush=True)
    sys.stdin.read()
    sandbox.stop()


if __name__ == "__main__":
    main()
