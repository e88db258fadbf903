"""What the LB itself saw: counts and request times from nginx_lb's JSON access log (stdlib only).

Reads the JSON lines of the access log (roles/nginx_lb's ``ipgeo_json`` format) from a file or
standard input, keeps those of one user agent (``--user-agent``, e.g. the overload generator's),
and prints the count and the p50/p99 of ``request_time`` (milliseconds; nginx measures them to
the millisecond) of each kind of answer:

- admitted: 2xx;
- shed: 503 that nginx answered without reaching a node (``upstream_addr`` is the upstream
  group's name, as it is for a request refused by max_conns);
- other: anything else.

These are the LB's times, from the request's first byte read to the last byte written: unlike
the generator's own figures, they do not include the time the client process waited for the
CPU it shares with the fleet.

Usage::

    docker exec ha-lb1 tail -n +N /var/log/nginx/ipgeo-access.log \\
        | python3 accesslog.py - --user-agent ipgeo-ha-overload
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable
from typing import IO, Any


def kind(entry: dict) -> str:
    status = int(entry.get("status", 0))
    if 200 <= status < 300:
        return "admitted"
    upstream = str(entry.get("upstream_addr", ""))
    if status == 503 and upstream and ":" not in upstream:
        return "shed"
    return "other"


def _pct_ms(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1] * 1000, 1)


def summarize(lines: Iterable[str], user_agent: str | None = None) -> dict[str, Any]:
    times: dict[str, list[float]] = {"admitted": [], "shed": [], "other": []}
    statuses: dict[str, int] = {}
    unreadable = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if user_agent is not None and entry.get("user_agent") != user_agent:
                continue
            which = kind(entry)
            request_time = float(entry["request_time"])
        except (ValueError, KeyError, TypeError):
            unreadable += 1
            continue
        times[which].append(request_time)
        if which == "other":
            statuses[str(entry["status"])] = statuses.get(str(entry["status"]), 0) + 1
    out: dict[str, Any] = {}
    for name, values in times.items():
        out[name] = len(values)
        out[f"{name}_p50_ms"] = _pct_ms(values, 50)
        out[f"{name}_p99_ms"] = _pct_ms(values, 99)
    out["other_statuses"] = statuses
    out["unreadable"] = unreadable
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("log", help="the access log's JSON lines, - for standard input")
    parser.add_argument("--user-agent", help="only the requests of this user agent")
    args = parser.parse_args(argv)
    fh: IO[str]
    if args.log == "-":
        fh = sys.stdin
        print(json.dumps(summarize(fh, args.user_agent)))
    else:
        with open(args.log, encoding="utf-8", errors="replace") as fh:
            print(json.dumps(summarize(fh, args.user_agent)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
