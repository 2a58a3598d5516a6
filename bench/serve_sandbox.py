"""Run a connector's sandbox in its own process for a benchmark (so the hub's RSS and
CPU are its own). Prints ``url=<base URL>`` once it serves; stops when stdin closes.

    python bench/serve_sandbox.py shopify --kw orders=20000 --kw limits=false
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.connectors import get_connector
from hub.sandbox import load_sandbox


class SandboxProcess:
    """A connector's sandbox in a child process: ``url`` and the connection ``values``."""

    def __init__(self, connector: str, **kw: object) -> None:
        args = [item for name, value in kw.items() for item in ("--kw", f"{name}={json.dumps(value)}")]
        self.proc = subprocess.Popen(
            [sys.executable, __file__, connector, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip().removeprefix("url=")
        self.values = json.loads(self.proc.stdout.readline().strip().removeprefix("values="))

    def stats(self) -> dict[str, object]:
        return requests.get(f"{self.url}/_sandbox/stats", timeout=10).json()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


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
