"""Row 5: HTTP batch lookups, 1000 addresses a ``POST /v1/batch``, one worker of the deployed
class against one sync worker of the naive service, measured in the same run."""

from __future__ import annotations

import json
import time
from typing import Any

from .common import CLIENT_CPUS, SERVER_CPUS, Bar, Row, percentile, pinned, post
from .servers import Gunicorn

BATCH = 1000
BODIES = 50
GOAL = 200_000.0


def measure(env: dict[str, str], ips: list[str], seconds: float) -> dict[str, Any]:
    """The naive service, then ipgeo (the deployed worker class), each measured alike."""
    return {kind: measure_one(env, ips, seconds, kind) for kind in ("naive", "deployed")}


def measure_one(env: dict[str, str], ips: list[str], seconds: float, kind: str) -> dict[str, Any]:
    """One client sends the 50 bodies over and over, one at a time, until ``seconds`` have
    passed (a pass of 50 is finished); failures and timeouts are counted, not retried."""
    server = Gunicorn(1, env, cpus=SERVER_CPUS, kind=kind)
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
    naive, ours = m["naive"], m["deployed"]
    return Row(
        name=f"5. HTTP batch {BATCH}/request, 1 worker",
        unit="IPs/s",
        bars=(
            Bar(
                "naive service (Flask + maxminddb, sync worker)",
                naive["rate"],
                role="baseline",
                p99_ms=naive["p99_ms"],
                errors=naive["errors"],
            ),
            Bar("ipgeo /v1/batch", ours["rate"], p99_ms=ours["p99_ms"], errors=ours["errors"]),
        ),
        goal=GOAL,
        goal_text=f">= {GOAL / 1000:.0f}k IPs/s",
        met=ours["rate"] >= GOAL and ours["errors"] == 0,
        ratio_text=f"{ours['rate'] / naive['rate']:.1f}x the naive service",
        load=(
            f"one client on core 1, one request at a time (urllib, a new connection each), "
            f"`POST /v1/batch` of {BATCH} random IPv4 in the DB for {ours['seconds']:.1f} s "
            f"({ours['requests']:,} requests) to one worker of the deployed class "
            f"(ipgeo.asgi_worker.UvicornWorker) on core 0, and for {naive['seconds']:.1f} s "
            f"({naive['requests']:,}) to the naive service's one sync worker on core 0"
        ),
    )
