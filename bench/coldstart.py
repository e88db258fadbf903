"""Row 5: cold start of a worker to its first answer."""

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
# The issue's measurement of the seed approach (a Python tree built per worker).
ISSUE_BASELINE_S = 27.0


def measure(env: dict[str, str]) -> dict[str, Any]:
    """Median of ``RUNS`` subprocesses each: ``worker`` from the import of the WSGI module
    (what a forked worker pays), ``fresh`` the whole process from a bare interpreter."""
    result: dict[str, Any] = {}
    for mode in ("worker", "fresh"):
        runs = []
        for _ in range(RUNS):
            t = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", COLD_START_CODE, mode],
                env={**os.environ, **env},
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout
            runs.append(float(out) if mode == "worker" else time.perf_counter() - t)
        result[mode] = median(runs)
        result[f"{mode}_max"] = max(runs)
    return result


def row(m: dict[str, Any]) -> Row:
    return Row(
        name="5. cold start of a worker to first answer",
        unit="s",
        bars=(
            Bar.from_issue("seed approach", ISSUE_BASELINE_S),
            Bar("ipgeo worker", m["worker"]),
            Bar("ipgeo from a bare interpreter", m["fresh"], role="peer"),
        ),
        goal=GOAL_S,
        goal_text=f"<= {GOAL_S} s",
        met=m["worker"] <= GOAL_S,
        decimals=2,
        lower_is_better=True,
        log_scale=True,
        load=(
            f"median of {RUNS} subprocesses each, one at a time, any core (slowest: worker "
            f"{m['worker_max']:.2f} s, bare interpreter {m['fresh_max']:.2f} s); one "
            f"`GET /v1/ip/8.8.8.8` through Flask's test client"
        ),
    )
