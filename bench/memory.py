"""Row 4: memory (PSS) of a gunicorn master and four workers after answering lookups."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .common import LANGS, Bar, Row, post
from .servers import Gunicorn

WORKERS = 4
LOOKUPS = 400_000
BATCH = 1000
CLIENTS = 8
GOAL_MB = 200.0
# The issue's measurement of the seed approach (a Python tree per worker); not re-measured.
ISSUE_BASELINE_MB = 4900.0


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def measure(env: dict[str, str], ips: list[str]) -> dict[str, Any]:
    """PSS summed over the master and its workers once they have answered ``LOOKUPS``
    addresses (or all of ``ips`` if fewer) in batches, alternating ``en`` and ``zh-CN``
    (about 100k per worker)."""
    server = Gunicorn(WORKERS, env)
    try:
        chunks = [ips[i : i + BATCH] for i in range(0, min(LOOKUPS, len(ips)), BATCH)]
        bodies = [
            (LANGS[n % 2], json.dumps({"ips": chunk}).encode()) for n, chunk in enumerate(chunks)
        ]
        with ThreadPoolExecutor(CLIENTS) as pool:
            sent = list(
                pool.map(lambda lb: post(f"{server.url}/v1/batch?lang={lb[0]}", lb[1]), bodies)
            )
        pids = server.pids()
        total = sum(pss_kib(p) for p in pids)
    finally:
        server.stop()
    return {
        "pss_mb": total / 1024,
        "processes": len(pids),
        "requests": len(sent),
        "lookups": sum(map(len, chunks)),
        "errors": sum(not s.ok for s in sent),
    }


def row(m: dict[str, Any]) -> Row:
    return Row(
        name=f"4. PSS master + {WORKERS} workers, {'+'.join(LANGS)}",
        unit="MB",
        bars=(
            Bar.from_issue("seed approach", ISSUE_BASELINE_MB),
            Bar("ipgeo", m["pss_mb"], errors=m["errors"]),
        ),
        goal=GOAL_MB,
        goal_text=f"<= {GOAL_MB:.0f} MB",
        met=m["pss_mb"] <= GOAL_MB and m["errors"] == 0,
        lower_is_better=True,
        log_scale=True,
        load=(
            f"summed PSS of {m['processes']} processes (master + {WORKERS} sync workers, "
            f"any core) after {m['lookups']:,} distinct random IPv4 in the DB looked up in "
            f"{m['requests']:,} `POST /v1/batch` of up to {BATCH} from {CLIENTS} client "
            f"threads, `en` and `zh-CN` alternating"
        ),
    )
