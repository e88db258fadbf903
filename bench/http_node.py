"""Row 2: single lookups over HTTP, one node as role ipgeo_service deploys it against Debian's
nginx answering them from the MMDB (libnginx-mod-http-geoip2), side by side in one run; the
same node behind an nginx LB, the previous worker class and the naive service beside them."""

from __future__ import annotations

import os
import shutil
from typing import Any

from .common import Bar, Row, WrkRun, median, median_ratio, wrk
from .constant_asgi import PATH as CONSTANT_PATH
from .servers import GEOIP2_MODULE, Gunicorn, Nginx, NginxGeoip2

CONNECTIONS = 32
GOAL_RATE = 0.4  # of nginx-geoip2's rate
GOAL_P99 = 3.0  # times nginx-geoip2's p99
# Label, role in the table and figure, and what a request goes through.
SYSTEMS = {
    "geoip2": (
        "nginx-geoip2 (2 workers)",
        "baseline",
        "Debian's nginx, 2 workers, geoip2 module answering from the MMDB",
    ),
    "node": (
        "ipgeo node as deployed",
        "ipgeo",
        "gunicorn, the role's worker class and count, native ASGI lookup path",
    ),
    "lb": ("ipgeo via nginx LB", "peer", "nginx (1 worker, upstream keepalive) -> the same node"),
    "ceiling": (
        "the same HTTP layer, constant body",
        "peer",
        "the node's gunicorn and worker class answering a constant ASGI body (no lookup, no "
        "metrics): the HTTP layer's own ceiling",
    ),
    "old": (
        "ipgeo node, previous worker class",
        "peer",
        "gunicorn, ipgeo.workers.ThreadWorker x 4 threads, WSGI fast path",
    ),
    "naive": (
        "naive service",
        "peer",
        "gunicorn sync workers, Flask view + maxminddb per request",
    ),
}


def node_workers() -> int:
    """The role's default for the deployed class (uvicorn's): one per CPU, at least 2."""
    return max(os.cpu_count() or 1, 2)


def measure(env: dict[str, str], ips: list[str], seconds: int, rounds: int) -> dict[str, Any]:
    """``rounds`` rounds of ``seconds``-second wrk runs, the systems alternated so that load
    from elsewhere hits all alike; nobody pinned (the node has the machine, as deployed)."""
    if not GEOIP2_MODULE.is_file() or not shutil.which("nginx"):
        raise SystemExit("nginx or libnginx-mod-http-geoip2 is missing: run scripts/bench-deps.sh")
    workers = node_workers()
    paths = [f"/v1/ip/{ip}" for ip in ips]
    runs: dict[str, list[WrkRun]] = {k: [] for k in SYSTEMS}
    servers: dict[str, Any] = {}
    try:
        servers["geoip2"] = NginxGeoip2(workers=2)
        servers["node"] = Gunicorn(workers, env)
        servers["lb"] = Nginx(servers["node"].port, cpus=set(range(os.cpu_count() or 1)))
        servers["ceiling"] = Gunicorn(workers, env, app="bench.constant_asgi:app")
        servers["old"] = Gunicorn(workers, env, kind="old")
        servers["naive"] = Gunicorn(workers, env, kind="naive")
        targets = {k: [CONSTANT_PATH] if k == "ceiling" else paths for k in SYSTEMS}
        for kind in SYSTEMS:  # warm up
            wrk(servers[kind].url, targets[kind], 2, CONNECTIONS, cpus=None)
        for _ in range(rounds):
            for kind in SYSTEMS:
                run = wrk(servers[kind].url, targets[kind], seconds, CONNECTIONS, cpus=None)
                runs[kind].append(run)
    finally:
        for server in reversed(list(servers.values())):
            server.stop()
    rates = {k: [r.rate for r in runs[k]] for k in SYSTEMS}
    return {
        "workers": workers,
        "seconds": seconds,
        "rounds": rounds,
        "paths": len(paths),
        "rate": {k: median(rates[k]) for k in SYSTEMS},
        "p99": {k: median(r.p99_ms for r in runs[k]) for k in SYSTEMS},
        "errors": {k: sum(r.errors for r in runs[k]) for k in SYSTEMS},
        "requests": {k: sum(r.requests for r in runs[k]) for k in SYSTEMS},
        "ratio": median_ratio(zip(rates["geoip2"], rates["node"], strict=True)),
        "lb_ratio": median_ratio(zip(rates["geoip2"], rates["lb"], strict=True)),
    }


def row(m: dict[str, Any]) -> Row:
    rate, p99, errors = m["rate"], m["p99"], m["errors"]
    p99_ratio = p99["node"] / p99["geoip2"]
    met = m["ratio"] >= GOAL_RATE and p99_ratio <= GOAL_P99 and errors["node"] == 0
    return Row(
        name=f"2. HTTP single lookup, one node vs nginx-geoip2 (wrk -t1 -c{CONNECTIONS})",
        unit="req/s",
        bars=tuple(
            Bar(label, rate[kind], role=role, p99_ms=p99[kind], errors=errors[kind])
            for kind, (label, role, _) in SYSTEMS.items()
        ),
        goal=GOAL_RATE * rate["geoip2"],
        goal_text=f">= {GOAL_RATE}x nginx-geoip2, p99 <= {GOAL_P99:.0f}x its p99",
        met=met,
        ratio_text=(
            f"{m['ratio']:.2f}x, p99 {p99_ratio:.1f}x (via the LB: {m['lb_ratio']:.2f}x; the "
            f"HTTP layer's constant ceiling {rate['ceiling'] / rate['geoip2']:.2f}x; "
            f"previous worker class {rate['old'] / rate['geoip2']:.2f}x; naive "
            f"{rate['naive'] / rate['geoip2']:.2f}x)"
        ),
        load=(
            f"`wrk -t1 -c{CONNECTIONS} --timeout 2s` (keep-alive), any core, {m['rounds']} rounds "
            f"of {m['seconds']} s runs of each system in turn after a 2 s warm-up, each request "
            f"`GET /v1/ip/<ip>` for one of the same {m['paths']:,} random public IPv4 the DB has "
            f"(every answer of every server a 200: anything else, socket errors and timeouts "
            f"are failures); node: {m['workers']} workers. What each went through: "
            + "; ".join(f"{label}: {what}" for label, _, what in SYSTEMS.values())
            + "; requests: "
            + ", ".join(f"{m['requests'][k]:,} {k}" for k in SYSTEMS)
        ),
    )
