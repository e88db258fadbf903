"""What every benchmark shares and nothing of ``ipgeo``: paths, results, statistics, load.

Pure helpers only (the servers are in ``servers``), so the tests import this without the app.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DB = ROOT / "files" / "GeoLite2-City.mmdb"
LANGS = ["en", "zh-CN"]

# The server under test gets core 0 alone; the load generator (and nginx) run on core 1.
SERVER_CPUS = {0}
CLIENT_CPUS = {1}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def load_average() -> float:
    return os.getloadavg()[0]


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({model}), "
        f"Python {platform.python_version()}"
    )


def sample_ips(n: int, seed: int = 42) -> list[str]:
    """``n`` distinct random IPv4 addresses, the same ones for a given seed."""
    rng = random.Random(seed)
    return [socket.inet_ntoa(v.to_bytes(4, "big")) for v in rng.sample(range(2**32), n)]


@contextmanager
def pinned(cpus: set[int]) -> Iterator[None]:
    """Run the block on ``cpus`` only, then give the process every core back."""
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- statistics ------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def median_ratio(pairs: Iterable[tuple[float, float]]) -> float:
    """Median of ``b / a`` over pairs measured back to back: load from elsewhere hits both
    halves of a pair alike, so the pairs' ratios vary less than the rates do."""
    return statistics.median(b / a for a, b in pairs)


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile: the smallest value with ``p`` % of the values at or below."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} outside (0, 100]")
    ordered = sorted(values)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One system's figure in a benchmark, in the benchmark's unit."""

    label: str
    value: float
    role: str = "ipgeo"  # "baseline", "ipgeo" or "peer" (another system measured beside them)
    measured: bool = True  # False: quoted from the issue, not measured in this run
    p99_ms: float | None = None
    errors: int | None = None  # failed requests and timeouts, where there are requests

    @classmethod
    def from_issue(cls, label: str, value: float) -> Bar:
        """A baseline that cannot be run here, quoted from the issue that set the goal."""
        return cls(label, value, role="baseline", measured=False)


@dataclass(frozen=True)
class Row:
    """One benchmark's result: a line of the table and a panel of the figure."""

    name: str
    unit: str
    bars: tuple[Bar, ...]
    goal: float | None  # in ``unit``; None when the benchmark has no goal
    goal_text: str
    met: bool
    load: str  # the load exactly as it was applied
    ratio_text: str = ""
    decimals: int = 0
    lower_is_better: bool = False
    log_scale: bool = False  # for systems decades apart

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        """The inverse of ``dataclasses.asdict`` (results.json)."""
        return cls(**{**data, "bars": tuple(Bar(**b) for b in data["bars"])})

    def bar(self, role: str) -> Bar:
        return next(b for b in self.bars if b.role == role)

    def errors(self) -> int | None:
        counts = [b.errors for b in self.bars if b.errors is not None]
        return sum(counts) if counts else None


# --- load ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkRun:
    requests: int
    rate: float  # requests/s, as wrk reports it (failed ones included)
    p99_ms: float
    errors: int  # non-2xx/3xx answers and socket errors (connect, read, write, timeout)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(out: str) -> WrkRun:
    """What a ``wrk --latency`` run printed."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    requests = re.search(r"(\d+) requests in ", out)
    p99 = re.search(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    if not (rate and requests and p99):
        raise ValueError(f"not the output of wrk --latency:\n{out}")
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return WrkRun(
        requests=int(requests.group(1)),
        rate=float(rate.group(1)),
        p99_ms=float(p99.group(1)) * _UNITS_MS[p99.group(2)],
        errors=errors,
    )


WRK_THREADS = 1
WRK_CONNECTIONS = 8


def wrk(url: str, paths: list[str], seconds: int) -> WrkRun:
    """``wrk -t1 -c8`` (keep-alive) for ``seconds`` on the client core, each request a path
    drawn at random (seeded) from ``paths``."""
    fd, name = tempfile.mkstemp(suffix=".lua")
    os.close(fd)
    script = Path(name)
    listing = ",".join(json.dumps(p) for p in paths)
    script.write_text(
        f"local paths = {{{listing}}}\n"
        "math.randomseed(7)\n"
        "request = function() return wrk.format(nil, paths[math.random(#paths)]) end\n"
    )
    cmd = [
        "wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency",
        "-s", str(script), url,
    ]  # fmt: skip
    try:
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
            preexec_fn=lambda: os.sched_setaffinity(0, CLIENT_CPUS),
        ).stdout
    finally:
        script.unlink()
    return parse_wrk(out)


@dataclass(frozen=True)
class Posted:
    seconds: float
    ok: bool


def post(url: str, body: bytes, timeout: float = 30) -> Posted:
    """One JSON POST; a failure or a timeout is counted, not raised."""
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            ok = resp.status == 200
    except OSError:  # urllib's errors and timeouts are OSErrors
        ok = False
    return Posted(time.perf_counter() - start, ok)
