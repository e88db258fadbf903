"""Asks a Prometheus's HTTP API what a Molecule scenario needs to assert, printing one JSON object.

Runs on the monitoring host (its Prometheus listens on loopback), with the standard library only:

  promwatch.py targets --expect N            every active target up, N of them
  promwatch.py query EXPR                    an instant query's result vector; with --expect N
                                             (and --label k=v) waits until it has N series (each
                                             with that label value)
  promwatch.py alert NAME --match k=v --state firing|absent --since EPOCH
                                             the alert reaches the state; the seconds it took
                                             since EPOCH (when the event started) and since the
                                             alert's activeAt (when Prometheus first saw it)

Every wait polls every 0.25 s and gives up after --timeout seconds (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

POLL = 0.25


def api(base: str, path: str, **params: str) -> Any:
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    if body.get("status") != "success":
        raise RuntimeError(f"{url}: {body}")
    return body["data"]


def epoch(rfc3339: str) -> float:
    """Seconds since the epoch of Prometheus's timestamps (nanoseconds, Z or an offset)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", rfc3339)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {rfc3339!r}")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + zone).timestamp() + float("0." + (m.group(2) or "0"))


def targets(base: str, expect: int) -> tuple[bool, dict[str, Any]]:
    active = api(base, "/api/v1/targets", state="active")["activeTargets"]
    rows = [
        {"job": t["labels"].get("job"), "node": t["labels"].get("node"), "health": t["health"]}
        for t in active
    ]
    ok = len(rows) == expect and all(r["health"] == "up" for r in rows)
    return ok, {"targets": sorted(rows, key=lambda r: (r["job"], r["node"]))}


def query(
    base: str, expr: str, expect: int | None, labels: dict[str, str]
) -> tuple[bool, dict[str, Any]]:
    result = api(base, "/api/v1/query", query=expr)["result"]
    ok = expect is None or (
        len(result) == expect
        and all(all(r["metric"].get(k) == v for k, v in labels.items()) for r in result)
    )
    return ok, {"result": result}


def alert(
    base: str, name: str, match: dict[str, str], state: str, since: float
) -> tuple[bool, dict[str, Any]]:
    found = [
        a
        for a in api(base, "/api/v1/alerts")["alerts"]
        if a["labels"].get("alertname") == name
        and all(a["labels"].get(k) == v for k, v in match.items())
    ]
    now = time.time()
    if state == "absent":
        return not found, {"alert": name, "state": "absent", "after_s": round(now - since, 2)}
    firing = [a for a in found if a["state"] == "firing"]
    if not firing:
        return False, {"alert": name, "seen": [a["state"] for a in found]}
    active_at = epoch(firing[0]["activeAt"])
    return True, {
        "alert": name,
        "state": "firing",
        "after_s": round(now - since, 2),
        "after_active_s": round(now - active_at, 2),
        "active_after_s": round(active_at - since, 2),
    }


def wait(check: Any, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while True:
        try:
            ok, last = check()
        except OSError as exc:  # Prometheus (re)starting
            ok, last = False, {"error": str(exc)}
        if ok:
            print(json.dumps({"ok": True, **last}))
            return 0
        if time.monotonic() >= deadline:
            print(json.dumps({"ok": False, "timeout_s": timeout, **last}))
            return 1
        time.sleep(POLL)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:9090")
    p.add_argument("--timeout", type=float, default=60.0)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("targets")
    t.add_argument("--expect", type=int, required=True)
    q = sub.add_parser("query")
    q.add_argument("expr")
    q.add_argument("--expect", type=int, default=None, help="wait for this many series")
    q.add_argument("--label", action="append", default=[], help="label=value every series has")
    a = sub.add_parser("alert")
    a.add_argument("name")
    a.add_argument("--match", action="append", default=[], help="label=value")
    a.add_argument("--state", choices=["firing", "absent"], required=True)
    a.add_argument("--since", type=float, default=None, help="epoch seconds of the event")
    args = p.parse_args(argv)
    base = args.url.rstrip("/")
    if args.cmd == "targets":
        return wait(lambda: targets(base, args.expect), args.timeout)
    if args.cmd == "query":
        labels = dict(m.split("=", 1) for m in args.label)
        return wait(lambda: query(base, args.expr, args.expect, labels), args.timeout)
    match = dict(m.split("=", 1) for m in args.match)
    since = args.since if args.since is not None else time.time()
    return wait(lambda: alert(base, args.name, match, args.state, since), args.timeout)


if __name__ == "__main__":
    sys.exit(main())
