"""What every benchmark shares and nothing of ``ipgeo``: paths, results, statistics, load.

Pure helpers only (the servers are in ``servers``), so the tests import this without the app.
"""

from __future__ import annotations

import asyncio
import ipaddress
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
import urllib.parse
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


def is_public(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_global


def sample_ipv6(n: int, seed: int = 6) -> list[str]:
    """``n`` random addresses of 2000::/3 (global unicast), the same ones for a given seed."""
    rng = random.Random(seed)
    return [str(ipaddress.IPv6Address((1 << 125) | rng.getrandbits(125))) for _ in range(n)]


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


def wrk(
    url: str,
    paths: list[str],
    seconds: int,
    connections: int = WRK_CONNECTIONS,
    cpus: set[int] | None = CLIENT_CPUS,
) -> WrkRun:
    """``wrk -t1 -c<connections>`` (keep-alive) for ``seconds`` on ``cpus`` (None: any core),
    each request a path drawn at random (seeded) from ``paths``."""
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
        "wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency",
        "--timeout", "2s",
        "-s", str(script), url,
    ]  # fmt: skip
    try:
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        ).stdout
    finally:
        script.unlink()
    return parse_wrk(out)


@dataclass(frozen=True)
class FixedRateRun:
    sent: int
    answered: int  # 2xx answers
    errors: int  # anything else: other statuses, resets, timeouts, never sent in time
    seconds: float
    latencies_ms: tuple[float, ...]  # of the 2xx answers, from the time each was due


async def _fixed_rate(
    host: str, port: int, paths: list[str], rate: float, seconds: float, connections: int
) -> FixedRateRun:
    """Open loop: request i is due at start + i/rate whatever the answers before it did, and
    its latency counts from then (no coordinated omission). Keep-alive connections take the
    due requests in turn; a request that cannot get an answer within 2 s is an error."""
    total = int(rate * seconds)
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2

    async def worker(n: int) -> None:
        reader = writer = None
        while (i := await queue.get()) is not None:
            due = start + i / rate
            path = paths[i * 7919 % len(paths)]  # a prime step: every path, spread out
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                await asyncio.wait_for(reader.readexactly(int(length.group(1)) if length else 0), 2)
                if head[9:10] == b"2":
                    # asyncio runs a timer up to its clock's resolution early: a request may
                    # leave a nanosecond before it is due (a latency of -1e-9 ms otherwise).
                    latencies.append(max(0.0, loop.time() - due) * 1000)
                if re.search(rb"(?i)\r\nconnection: *close", head):
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                if writer is not None:
                    writer.close()
                writer = None
        if writer is not None:
            writer.close()

    workers = [asyncio.create_task(worker(n)) for n in range(connections)]
    for i in range(total):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(i)
    for _ in workers:
        queue.put_nowait(None)
    _, pending = await asyncio.wait(workers, timeout=seconds + 10)
    for task in pending:
        task.cancel()
    return FixedRateRun(
        sent=total,
        answered=len(latencies),
        # Every request without a 2xx answer in time: other statuses, resets, timeouts, and
        # those still waiting when the time was up.
        errors=total - len(latencies),
        seconds=loop.time() - start,
        latencies_ms=tuple(latencies),
    )


def fixed_rate(
    url: str, paths: list[str], rate: float, seconds: float, connections: int = 64
) -> FixedRateRun:
    """:func:`_fixed_rate` against ``url`` (loopback only), bounded by ``rate * seconds``
    requests and ``seconds + 10`` s."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname != "127.0.0.1":
        raise ValueError(f"{url}: the load goes to 127.0.0.1 only")
    try:
        import uvloop  # the client must not be the bottleneck

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    return runner(_fixed_rate("127.0.0.1", parts.port or 80, paths, rate, seconds, connections))


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
