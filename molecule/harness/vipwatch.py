"""Which containers hold a floating address (VIP), over time (stdlib only, runs on the host).

``watch`` polls, every ``--interval`` seconds, the local addresses of each named container's
network namespace (``/proc/<pid>/net/fib_trie``, read from the host: it works while a container
is paused, and a stopped container holds nothing) and writes a JSON line whenever the set of
holders changes::

    {"config": {...}}
    {"t": 1700000000.12, "holders": ["ha-lb1"]}
    {"summary": {"started": ..., "stopped": ..., "polls": N, "reason": "stop-file"}}

It stops by itself after ``--time-limit`` seconds, or earlier when ``--stop-file`` appears.
``moved`` reads such a file: the seconds from ``--since`` until a container other than
``--away-from`` held the VIP (null if none did), the holders then, and how long two containers
held it at once after ``--since``; with ``--wait S`` it reads the file again until the VIP
moved, for S seconds at most.

Usage::

    python3 vipwatch.py watch --vip 172.29.40.100 --containers ha-lb1,ha-lb2 --out vip.jsonl \\
        --time-limit 900 [--stop-file STOP] [--interval 0.05]
    python3 vipwatch.py moved vip.jsonl --since T --away-from ha-lb1 [--wait 10]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Container PIDs change when a container is started again: look them up this often.
PID_REFRESH = 0.5


def local_addresses(fib_trie: str) -> set[str]:
    """The addresses a namespace owns: /proc/net/fib_trie's entries marked ``/32 host LOCAL``."""
    found = set()
    last = None
    for line in fib_trie.splitlines():
        text = line.strip()
        if text.startswith(("|--", "+--")):
            last = text[3:].strip().split()[0]
        elif text == "/32 host LOCAL" and last is not None:
            found.add(last)
    return found


def container_pids(names: list[str]) -> dict[str, int]:
    """PID of each running container (0 when stopped or missing)."""
    proc = subprocess.run(
        ["docker", "inspect", "--format", "{{.Name}} {{.State.Pid}}", *names],
        capture_output=True,
        text=True,
        check=False,
    )
    pids = dict.fromkeys(names, 0)
    for line in proc.stdout.splitlines():
        name, _, pid = line.strip().lstrip("/").partition(" ")
        if name in pids and pid.isdigit():
            pids[name] = int(pid)
    return pids


def holders(pids: dict[str, int], vip: str) -> list[str]:
    out = []
    for name, pid in sorted(pids.items()):
        if pid <= 0:
            continue
        try:
            trie = Path(f"/proc/{pid}/net/fib_trie").read_text()
        except OSError:
            continue
        if vip in local_addresses(trie):
            out.append(name)
    return out


def watch(args: argparse.Namespace) -> int:
    ipaddress.ip_address(args.vip)  # refuses anything but an address
    names = [n for n in args.containers.split(",") if n]
    start = time.monotonic()
    started = time.time()
    polls = 0
    reason = "time-limit"
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"config": vars(args) | {"func": None}}) + "\n")
        previous: list[str] | None = None
        pids: dict[str, int] = {}
        next_refresh = 0.0
        while time.monotonic() - start < args.time_limit:
            if args.stop_file and os.path.exists(args.stop_file):
                reason = "stop-file"
                break
            now = time.monotonic()
            if now >= next_refresh:
                pids = container_pids(names)
                next_refresh = now + PID_REFRESH
            current = holders(pids, args.vip)
            polls += 1
            if current != previous:
                fh.write(json.dumps({"t": round(time.time(), 3), "holders": current}) + "\n")
                fh.flush()
                previous = current
            time.sleep(args.interval)
        summary = {"started": started, "stopped": time.time(), "polls": polls, "reason": reason}
        fh.write(json.dumps({"summary": summary}) + "\n")
    return 0


def moved(changes: list[dict], since: float, away_from: str) -> dict[str, Any]:
    """When, after ``since``, a container other than ``away_from`` first held the VIP."""
    result: dict[str, Any] = {"seconds": None, "holders": None, "both_seconds": 0.0}
    state: list[str] = []
    both_from = None
    both = 0.0
    for change in changes:
        t = change["t"]
        if t <= since:
            state = change["holders"]
            continue
        if both_from is not None:
            both += t - both_from
            both_from = None
        state = change["holders"]
        if len(state) > 1:
            both_from = t
        if result["seconds"] is None and any(h != away_from for h in state):
            result.update(seconds=round(t - since, 3), holders=state)
    if result["seconds"] is None and any(h != away_from for h in state):
        result.update(seconds=0.0, holders=state)  # it had moved already
    result["both_seconds"] = round(both, 3)
    return result


def read_changes(path: str) -> list[dict]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [obj for obj in map(json.loads, filter(None, lines)) if "t" in obj]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("watch", help="record who holds the VIP")
    w.add_argument("--vip", required=True)
    w.add_argument("--containers", required=True, help="comma-separated container names")
    w.add_argument("--out", required=True)
    w.add_argument("--time-limit", type=float, required=True)
    w.add_argument("--stop-file")
    w.add_argument("--interval", type=float, default=0.05)
    m = sub.add_parser("moved", help="when the VIP left a container")
    m.add_argument("file")
    m.add_argument("--since", type=float, required=True)
    m.add_argument("--away-from", required=True)
    m.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the move")
    args = parser.parse_args(argv)
    if args.command == "watch":
        if not 0 < args.time_limit <= 3600 or args.interval < 0.01:
            parser.error("--time-limit must be in (0, 3600] s and --interval at least 0.01 s")
        return watch(args)
    give_up = time.monotonic() + min(args.wait, 600)
    while True:
        result = moved(read_changes(args.file), args.since, args.away_from)
        if result["seconds"] is not None or time.monotonic() >= give_up:
            break
        time.sleep(0.1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
