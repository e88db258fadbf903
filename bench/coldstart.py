"""Row 7: cold start of a worker to its first answer: the deployed ASGI app against the naive
service, measured in the same run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from .common import Bar, Row, median
from .ipgeo_api import COLD_START_CODE

RUNS = 5
GOAL_S = 0.5
# The naive service's worker: Flask already imported by the master, then the app module (which
# opens the MMDB) and one answer through Flask's test client.
NAIVE_CODE = (
    "import time, flask, maxminddb\n"
    "t = time.perf_counter()\n"
    "from bench.naive import app\n"
    "r = app.test_client().get('/v1/ip/8.8.8.8')\n"
    "assert r.status_code == 200, r.data\n"
    "print(time.perf_counter() - t)\n"
)


def measure(env: dict[str, str]) -> dict[str, Any]:
    """Median of ``RUNS`` subprocesses each: ``worker`` from the import of the ASGI module
    (what a forked worker pays), ``fresh`` the whole process from a bare interpreter, ``naive``
    the naive service's worker."""
    result: dict[str, Any] = {}
    for mode in ("worker", "fresh", "naive"):
        runs = []
        for _ in range(RUNS):
            t = time.perf_counter()
            code = NAIVE_CODE if mode == "naive" else COLD_START_CODE
            out = subprocess.run(
                [sys.executable, "-c", code, mode],
                env={**os.environ, **env},
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout
            runs.append(time.perf_counter() - t if mode == "fresh" else float(out))
        result[mode] = median(runs)
        result[f"{mode}_max"] = max(runs)
    return result


def row(m: dict[str, Any]) -> Row:
    return Row(
        name="7. cold start of a worker to first answer",
        unit="s",
        bars=(
            Bar("naive service worker", m["naive"], role="baseline"),
            Bar("ipgeo worker", m["worker"]),
            Bar("ipgeo from a bare interpreter", m["fresh"], role="peer"),
        ),
        goal=GOAL_S,
        goal_text=f"<= {GOAL_S} s",
        met=m["worker"] <= GOAL_S,
        decimals=2,
        lower_is_better=True,
        load=(
            f"median of {RUNS} subprocesses each, one at a time, any core (slowest: worker "
            f"{m['worker_max']:.2f} s, bare interpreter {m['fresh_max']:.2f} s, naive "
            f"{m['naive_max']:.2f} s); ipgeo: after the master's imports (hooks, worker class), "
            f"import `ipgeo.asgi` and one `GET /v1/ip/8.8.8.8` through the ASGI app; naive: "
            f"after Flask's import, its app module (opens the MMDB) and one lookup through "
            f"Flask's test client"
        ),
    )
