"""Row 3: single lookups at a fixed rate (open loop), p50 / p99 / p99.9 and errors: one node as
deployed, the same node behind the nginx LB, and nginx-geoip2."""

from __future__ import annotations

import os
from typing import Any

from .common import Bar, Row, fixed_rate, percentile
from .http_node import node_workers
from .servers import Gunicorn, Nginx, NginxGeoip2

RATE = 5000
CONNECTIONS = 64
GOAL_P99 = 3.0  # times nginx-geoip2's p99 at the same rate
SYSTEMS = {
    "geoip2": ("nginx-geoip2 (2 workers)", "baseline"),
    "node": ("ipgeo node as deployed", "ipgeo"),
    "lb": ("ipgeo via nginx LB", "peer"),
}


def measure(env: dict[str, str], ips: list[str], seconds: int) -> dict[str, Any]:
    paths = [f"/v1/ip/{ip}" for ip in ips]
    servers: dict[str, Any] = {}
    result: dict[str, Any] = {"seconds": seconds, "paths": len(paths)}
    try:
        servers["geoip2"] = NginxGeoip2(workers=2)
        servers["node"] = Gunicorn(node_workers(), env)
        servers["lb"] = Nginx(servers["node"].port, cpus=set(range(os.cpu_count() or 1)))
        for kind in SYSTEMS:
            fixed_rate(servers[kind].url, paths, RATE, 1, CONNECTIONS)  # warm up
            run = fixed_rate(servers[kind].url, paths, RATE, seconds, CONNECTIONS)
            lat = run.latencies_ms or (float("nan"),)
            result[kind] = {
                "sent": run.sent,
                "errors": run.errors,
                "seconds": run.seconds,
                **{f"p{p}": percentile(lat, p) for p in (50, 99, 99.9)},
            }
    finally:
        for server in reversed(list(servers.values())):
            server.stop()
    return result


def row(m: dict[str, Any]) -> Row:
    p99_ratio = m["node"]["p99"] / m["geoip2"]["p99"]
    return Row(
        name=f"3. HTTP single lookup at a fixed {RATE:,}/s, p99",
        unit="ms",
        bars=tuple(
            Bar(label, m[kind]["p99"], role=role, p99_ms=m[kind]["p99"], errors=m[kind]["errors"])
            for kind, (label, role) in SYSTEMS.items()
        ),
        goal=GOAL_P99 * m["geoip2"]["p99"],
        goal_text=f"0 errors, p99 <= {GOAL_P99:.0f}x nginx-geoip2's",
        met=p99_ratio <= GOAL_P99 and m["node"]["errors"] == 0,
        decimals=2,
        lower_is_better=True,
        ratio_text="; ".join(
            f"{kind}: p50 {m[kind]['p50']:.2f} / p99 {m[kind]['p99']:.2f} / p99.9 "
            f"{m[kind]['p99.9']:.2f} ms, {m[kind]['errors']:,} errors of {m[kind]['sent']:,}"
            for kind in SYSTEMS
        ),
        load=(
            f"open loop at {RATE:,} requests/s for {m['seconds']} s per system (after 1 s of "
            f"warm-up), one Python asyncio client (uvloop) with {CONNECTIONS} keep-alive "
            f"connections, any core; latency counted from the time each request was due, so "
            f"queueing counts; a request without a 2xx answer within 2 s is an error; the same "
            f"{m['paths']:,} public IPv4 as row 2"
        ),
    )
