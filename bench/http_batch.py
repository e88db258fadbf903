"""Row 3: HTTP batch lookups, 1000 addresses a ``POST /v1/batch``, one sync worker."""

from __future__ import annotations

import json
import time
from typing import Any

from .common import CLIENT_CPUS, SERVER_CPUS, Bar, Row, percentile, pinned, post
from .servers import Gunicorn

BATCH = 1000
BODIES = 50
GOAL = 200_000.0
# The issue's measurement of the pipeline before the prepared index; not re-measured here.
ISSUE_BASELINE = 56_000.0


def measure(env: dict[str, str], ips: list[str], seconds: float) -> dict[str, Any]:
    """One client sends the 50 bodies over and over, one at a time, until ``seconds`` have
    passed (a pass of 50 is finished); failures and timeouts are counted, not retried."""
    server = Gunicorn(1, env, cpus=SERVER_CPUS)
    bodies = [
        json.dumps({"ips": ips[i : i + BATCH]}).encode() for i in range(0, BODIES * BATCH, BATCH)
    ]
    url = server.url + "/v1/batch"
    latencies: list[float] = []
    failed = 0
    try:
        with pinned(CLIENT_CPUS):
            post(url, bodies[0])  # warm up
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                for body in bodies:
                    sent = post(url, body)
                    latencies.append(sent.seconds)
                    failed += not sent.ok
            elapsed = time.perf_counter() - start
    finally:
        server.stop()
    return {
        "rate": (len(latencies) - failed) * BATCH / elapsed,
        "p99_ms": percentile(latencies, 99) * 1000,
        "requests": len(latencies),
        "errors": failed,
        "seconds": elapsed,
    }


def row(m: dict[str, Any]) -> Row:
    return Row(
        name=f"3. HTTP batch {BATCH}/request, 1 sync worker",
        unit="IPs/s",
        bars=(
            Bar.from_issue("baseline pipeline", ISSUE_BASELINE),
            Bar("ipgeo /v1/batch", m["rate"], p99_ms=m["p99_ms"], errors=m["errors"]),
        ),
        goal=GOAL,
        goal_text=f">= {GOAL / 1000:.0f}k IPs/s",
        met=m["rate"] >= GOAL and m["errors"] == 0,
        load=(
            f"one client on core 1, one request at a time (urllib, a new connection each), "
            f"{m['requests']:,} `POST /v1/batch` of {BATCH} random IPv4 in the DB in "
            f"{m['seconds']:.1f} s, gunicorn's one sync worker on core 0"
        ),
    )
