"""Did a drained backend get requests? For the slb Molecule scenario's rolling upgrade.

Reads the SLB test double's call log (its ``/_double/calls`` answer, a JSON list) and a load
generator run (molecule/harness/loadgen.py JSON lines). A server is drained from the answer of a
successful write that set its weight to 0 (``done``) until a later successful write gave it a
weight above 0 arrived (``time``). Prints one JSON object: per node, its drain windows, the
requests sent inside them and how many of those that node answered (it must be 0), and the
weights the writes asked for, in order.

Usage::

    python3 drained.py CALLS.json RUN.jsonl --server slb-app1=i-app1 --server slb-app2=i-app2
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any


def drain_windows(calls: list[dict], server_id: str) -> list[tuple[float, float]]:
    """(start, end) wall times in which ``server_id`` had weight 0 (end inf: never undone)."""
    windows: list[tuple[float, float]] = []
    start: float | None = None
    for call in sorted(calls, key=lambda c: c["time"]):
        weight = (call.get("weights") or {}).get(server_id)
        if not call.get("ok") or not call.get("write") or weight is None:
            continue
        if int(weight) == 0 and start is None:
            start = float(call.get("done", call["time"]))
        elif int(weight) > 0 and start is not None:
            windows.append((start, float(call["time"])))
            start = None
    if start is not None:
        windows.append((start, math.inf))
    return windows


def weight_changes(calls: list[dict]) -> list[list[Any]]:
    """[server id, weight] of every successful write that named a weight, in order."""
    changes = []
    for call in sorted(calls, key=lambda c: c["time"]):
        if call.get("ok") and call.get("write"):
            for server_id, weight in (call.get("weights") or {}).items():
                changes.append([server_id, int(weight)])
    return changes


def load_records(path: str | Path) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                obj = json.loads(line)
                if "i" in obj:
                    records.append(obj)
    return records


def check(calls: list[dict], records: list[dict], servers: dict[str, str]) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for node, server_id in servers.items():
        windows = drain_windows(calls, server_id)
        inside = [r for r in records if any(a <= r["t"] < b for a, b in windows)]
        nodes[node] = {
            "server_id": server_id,
            "windows": [[a, None if math.isinf(b) else b] for a, b in windows],
            "seconds": round(sum(b - a for a, b in windows if not math.isinf(b)), 3),
            "sent_inside": len(inside),
            "served_inside": sum(1 for r in inside if r.get("node") == node),
        }
    return {"nodes": nodes, "weights": weight_changes(calls)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("calls", help="the double's call log, a JSON list")
    parser.add_argument("run", help="the load generator's JSON lines file")
    parser.add_argument("--server", action="append", default=[], metavar="NODE=SERVER_ID")
    args = parser.parse_args(argv)
    servers = {}
    for item in args.server:
        node, sep, server_id = item.partition("=")
        if not sep or not node or not server_id:
            parser.error(f"--server wants NODE=SERVER_ID, got {item!r}")
        servers[node] = server_id
    with open(args.calls, encoding="utf-8") as fh:
        calls = json.load(fh)
    print(json.dumps(check(calls, load_records(args.run), servers), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
