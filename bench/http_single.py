"""Row 2: HTTP single lookups against a constant JSON endpoint, one sync gunicorn worker."""

from __future__ import annotations

import shutil
from typing import Any

from .common import (
    SERVER_CPUS,
    WRK_CONNECTIONS,
    WRK_THREADS,
    Bar,
    Row,
    WrkRun,
    median,
    median_ratio,
    wrk,
)
from .servers import Gunicorn, Nginx

GOAL_RATIO = 0.95
RUN_SECONDS = 3
# The three endpoints measured, in the order each round runs them: label and role.
LABELS = {
    "constant": ("constant JSON (/healthz)", "baseline"),
    "lookup": ("ipgeo lookup (fast path)", "ipgeo"),
    "flask": ("ipgeo lookup via the Flask view", "peer"),
}
KINDS = tuple(LABELS)


def measure(env: dict[str, str], ips: list[str], rounds: int) -> dict[str, Any]:
    """``rounds`` rounds of short wrk runs, the endpoints alternated so that load from
    elsewhere hits all alike; rates are medians of the runs, ratios medians of the rounds'
    ratios, p99 the median of the runs' p99, errors summed."""
    server = Gunicorn(1, env, cpus=SERVER_CPUS)
    front = Nginx(server.port) if shutil.which("nginx") else None
    url = front.url if front else server.url
    try:
        lookup = [f"/v1/ip/{ip}" for ip in ips]
        paths = {
            "constant": ["/healthz"],
            "lookup": lookup,
            # ?lang= sends the same lookups through the Flask view instead of the fast path.
            "flask": [f"{p}?lang=en" for p in lookup],
        }
        for kind in KINDS:  # warm up
            wrk(url, paths[kind], 2)
        runs: dict[str, list[WrkRun]] = {kind: [] for kind in KINDS}
        for _ in range(rounds):
            for kind in KINDS:
                runs[kind].append(wrk(url, paths[kind], RUN_SECONDS))
    finally:
        if front:
            front.stop()
        server.stop()
    rates = {kind: [r.rate for r in runs[kind]] for kind in KINDS}
    return {
        "via": "nginx -> gunicorn" if front else "gunicorn directly (nginx not installed)",
        "rounds": rounds,
        "paths": len(ips),
        "rate": {kind: median(rates[kind]) for kind in KINDS},
        "p99": {kind: median(r.p99_ms for r in runs[kind]) for kind in KINDS},
        "errors": {kind: sum(r.errors for r in runs[kind]) for kind in KINDS},
        "requests": {kind: sum(r.requests for r in runs[kind]) for kind in KINDS},
        "ratio": median_ratio(zip(rates["constant"], rates["lookup"], strict=True)),
        "flask_ratio": median_ratio(zip(rates["constant"], rates["flask"], strict=True)),
    }


def row(m: dict[str, Any]) -> Row:
    rate, p99, errors = m["rate"], m["p99"], m["errors"]
    ratio = m["ratio"]
    return Row(
        name=f"2. HTTP single lookup vs constant ({m['via']})",
        unit="req/s",
        bars=tuple(
            Bar(label, rate[kind], role=role, p99_ms=p99[kind], errors=errors[kind])
            for kind, (label, role) in LABELS.items()
        ),
        goal=GOAL_RATIO * rate["constant"],
        goal_text=f">= {GOAL_RATIO}x constant",
        met=ratio >= GOAL_RATIO and sum(errors.values()) == 0,
        ratio_text=f"{ratio:.2f} (via the Flask view: {m['flask_ratio']:.2f})",
        load=(
            f"`wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS}` (keep-alive) on core 1 through "
            f"{m['via']}, one sync worker on core 0; {m['rounds']} rounds of {RUN_SECONDS} s "
            f"runs of `/healthz`, `/v1/ip/<ip>` and `/v1/ip/<ip>?lang=en` in turn, each "
            f"request one of {m['paths']:,} random IPv4 in the DB; "
            + ", ".join(f"{m['requests'][k]:,} {k} requests" for k in KINDS)
        ),
    )
