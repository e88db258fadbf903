"""The LB's own view of an overload: answers by kind and their request times."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import accesslog

HARNESS = Path(__file__).resolve().parents[2] / "molecule" / "harness"


def entry(status: int, request_time: float, upstream: str = "172.29.40.11:8000", ua: str = "o"):
    line = {"status": status, "request_time": request_time, "upstream_addr": upstream}
    return json.dumps(line | {"user_agent": ua})


LINES = [
    *(entry(200, t / 1000) for t in range(1, 101)),  # 1..100 ms
    entry(503, 0.0, "ipgeo_app"),
    entry(503, 0.002, "ipgeo_app"),
    entry(503, 0.5, "172.29.40.11:8000"),  # a node answered 503 itself: not shed by the LB
    entry(502, 0.0, "ipgeo_app"),
    entry(200, 9.9, ua="probe"),
    "not json",
    "",
]


def test_kinds_and_times():
    out = accesslog.summarize(LINES, "o")
    assert (out["admitted"], out["shed"], out["other"]) == (100, 2, 2)
    assert out["admitted_p50_ms"] == 50.0 and out["admitted_p99_ms"] == 99.0
    assert out["shed_p99_ms"] == 2.0
    assert out["other_statuses"] == {"503": 1, "502": 1}
    assert out["unreadable"] == 1


def test_every_user_agent_without_the_filter():
    out = accesslog.summarize(LINES)
    assert out["admitted"] == 101 and out["admitted_p99_ms"] == 100.0


def test_command_line_reads_standard_input():
    cmd = [sys.executable, str(HARNESS / "accesslog.py"), "-", "--user-agent", "o"]
    done = subprocess.run(
        cmd, input="\n".join(LINES), capture_output=True, text=True, timeout=30, check=True
    )
    assert json.loads(done.stdout)["shed"] == 2
