"""A bounded overload generator for the ha scenario (stdlib only, runs on the controller).

Opens ``--connections`` keep-alive HTTP/1.1 connections, spread over ``--processes`` processes
(one asyncio loop each), and has every connection send lookups back to back: a closed loop, so
the offered rate is whatever the clients manage, which the summary reports. It stops by itself
after ``--duration`` seconds or ``--max-requests`` requests, whichever comes first; each request
is bounded by ``--timeout``. Targets: the loopback, or an address inside a private network given
with ``--allow-net`` (the same check as loadgen.py).

Every answer is classified:

- admitted: a 2xx answer;
- shed: a 503 with a ``Retry-After`` header and the LB's JSON shed body
  (``{"error": {"code": SHED_CODE, ...}}``, ``--shed-code``);
- failed: anything else (other statuses, a 503 without the shed body, resets, refused
  connections, incomplete answers, timeouts).

The summary (printed, and written to ``--out``) holds the counts, the offered rate, p50/p99 of
the admitted and of the shed answers, and the statuses and errors of the failed ones.

Usage::

    python3 overload.py --url http://172.29.40.100 --allow-net 172.29.40.0/24 \\
        --connections 512 --processes 2 --duration 20 --max-requests 2000000 --out over.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from loadgen import DEFAULT_PATHS, _raise_fd_limit, check_target

# After a failed connection a client waits this long before the next: a refusing server must not
# turn the generator into a busy loop.
ERROR_PAUSE = 0.01


@dataclass(frozen=True)
class Config:
    url: str
    connections: int = 512
    processes: int = 2
    duration: float = 20.0
    max_requests: int = 2_000_000
    timeout: float = 3.0
    paths: tuple[str, ...] = DEFAULT_PATHS
    shed_code: str = "overloaded"
    allow_net: tuple[str, ...] = ()
    out: str | None = None

    def __post_init__(self) -> None:
        check_target(self.url, self.allow_net)
        if self.connections <= 0 or self.processes <= 0 or self.max_requests <= 0:
            raise ValueError("--connections, --processes and --max-requests must be positive")
        if self.processes > self.connections:
            raise ValueError("--processes must not exceed --connections")
        if not 0 < self.duration <= 600 or self.timeout <= 0:
            raise ValueError("--duration must be in (0, 600] s and --timeout positive")
        if not self.paths or not all(p.startswith("/") for p in self.paths):
            raise ValueError(f"--paths must be absolute paths, got {self.paths!r}")


def is_shed_body(body: bytes, shed_code: str) -> bool:
    """True when ``body`` is the LB's JSON refusal: ``{"error": {"code": shed_code, ...}}``."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    error = doc.get("error") if isinstance(doc, dict) else None
    return isinstance(error, dict) and error.get("code") == shed_code


def classify(status: int | None, headers: dict[str, str], body: bytes, shed_code: str) -> str:
    """admitted, shed or failed (see the module's docstring); status None: no answer."""
    if status is None:
        return "failed"
    if 200 <= status < 300:
        return "admitted"
    retry_after = headers.get("retry-after", "")
    if status == 503 and retry_after.isdigit() and is_shed_body(body, shed_code):
        return "shed"
    return "failed"


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status and headers (lower-case names) of an answer's head (up to the blank line)."""
    lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ValueError(f"not an HTTP answer: {lines[0][:60]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(rest[:3]), headers


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes, bool]:
    """Status, headers, body of one answer, and whether the connection may carry the next."""
    status, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
    keep = headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        size = -1
        while size != 0:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append((await reader.readexactly(size + 2))[:size])  # the chunk and its CRLF
        body = b"".join(parts)
    else:
        body = await reader.read()
        keep = False
    return status, headers, body, keep


@dataclass
class Tally:
    """What one process saw; merged by the parent."""

    sent: int = 0
    admitted: list[float] = field(default_factory=list)
    shed: list[float] = field(default_factory=list)
    failed: int = 0
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    started: float = 0.0
    stopped: float = 0.0
    reason: str = "duration"


async def _client(
    cfg: Config, tally: Tally, budget: list[int], deadline: float, offset: int
) -> None:
    parts = urlsplit(cfg.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [
        (
            f"GET {p} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: ipgeo-ha-overload\r\n"
            "Accept: application/json\r\n\r\n"
        ).encode()
        for p in cfg.paths
    ]
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    i = offset
    while time.monotonic() < deadline:
        if budget[0] <= 0:
            tally.reason = "max-requests"
            break
        budget[0] -= 1
        tally.sent += 1
        t0 = time.perf_counter()
        error = None
        try:
            async with asyncio.timeout(cfg.timeout):
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(requests[i % len(requests)])
                status, headers, body, keep = await read_answer(reader)
        except TimeoutError:
            error = "timeout"
        except asyncio.IncompleteReadError as exc:
            error = "closed before an answer" if not exc.partial else "incomplete answer"
        except (OSError, ValueError, asyncio.LimitOverrunError) as exc:
            error = type(exc).__name__
        i += 1
        dt = time.perf_counter() - t0
        if error is None:
            kind = classify(status, headers, body, cfg.shed_code)
            if kind == "admitted":
                tally.admitted.append(dt)
            elif kind == "shed":
                tally.shed.append(dt)
            else:
                tally.failed += 1
                tally.statuses[str(status)] += 1
        else:
            tally.failed += 1
            tally.errors[error] += 1
            keep = False
        if not keep and writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            reader = writer = None
        if error is not None:
            await asyncio.sleep(ERROR_PAUSE)
    if writer is not None:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _process_main(cfg: Config, connections: int, requests: int, start_at: float) -> Tally:
    tally = Tally()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    tally.started = time.time()
    deadline = time.monotonic() + cfg.duration
    budget = [requests]  # shared by this process's clients
    clients = [_client(cfg, tally, budget, deadline, n) for n in range(connections)]
    await asyncio.gather(*clients)
    tally.stopped = time.time()
    return tally


def _process(args: tuple[Config, int, int, float]) -> Tally:
    _raise_fd_limit()
    return asyncio.run(_process_main(*args))


def split(total: int, parts: int) -> list[int]:
    """``total`` spread over ``parts`` as evenly as integers allow."""
    base, extra = divmod(total, parts)
    return [base + (1 if n < extra else 0) for n in range(parts)]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def summarize(cfg: Config, tallies: Sequence[Tally]) -> dict[str, Any]:
    admitted = [dt for t in tallies for dt in t.admitted]
    shed = [dt for t in tallies for dt in t.shed]
    started = min(t.started for t in tallies)
    stopped = max(t.stopped for t in tallies)
    duration = max(stopped - started, 1e-9)
    sent = sum(t.sent for t in tallies)
    failed = sum(t.failed for t in tallies)
    statuses: Counter = Counter()
    errors: Counter = Counter()
    for t in tallies:
        statuses.update(t.statuses)
        errors.update(t.errors)
    return {
        "config": asdict(cfg),
        "started": round(started, 6),
        "stopped": round(stopped, 6),
        "duration": round(duration, 3),
        "reason": "max-requests" if "max-requests" in {t.reason for t in tallies} else "duration",
        "sent": sent,
        "answered": len(admitted) + len(shed) + failed,
        "admitted": len(admitted),
        "shed": len(shed),
        "failed": failed,
        "offered_rate": round(sent / duration, 1),
        "admitted_rate": round(len(admitted) / duration, 1),
        "shed_rate": round(len(shed) / duration, 1),
        "admitted_p50_ms": _ms(percentile(admitted, 50)),
        "admitted_p99_ms": _ms(percentile(admitted, 99)),
        "shed_p50_ms": _ms(percentile(shed, 50)),
        "shed_p99_ms": _ms(percentile(shed, 99)),
        "failed_statuses": dict(statuses),
        "failed_errors": dict(errors.most_common(5)),
    }


def run(cfg: Config) -> dict[str, Any]:
    """Run the load in ``cfg.processes`` processes; return the summary."""
    conns = split(cfg.connections, cfg.processes)
    budgets = split(cfg.max_requests, cfg.processes)
    start_at = time.time() + 0.3  # every process starts its clock at the same moment
    jobs = [(cfg, c, b, start_at) for c, b in zip(conns, budgets, strict=True)]
    if cfg.processes == 1:
        tallies = [_process(jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(cfg.processes) as pool:
            tallies = pool.map(_process, jobs)
    summary = summarize(cfg, tallies)
    if cfg.out:
        with open(cfg.out, "w", encoding="utf-8") as fh:
            json.dump(summary, fh)
            fh.write("\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT or in --allow-net")
    parser.add_argument("--allow-net", action="append", default=[], help="a private network")
    parser.add_argument("--connections", type=int, default=512, help="keep-alive connections")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--duration", type=float, default=20.0, help="most seconds to send")
    parser.add_argument("--max-requests", type=int, required=True, help="most requests to send")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per request")
    parser.add_argument("--paths", default=",".join(DEFAULT_PATHS), help="comma-separated")
    parser.add_argument("--shed-code", default="overloaded", help="error code of the shed body")
    parser.add_argument("--out", help="also write the summary (JSON) here")
    args = parser.parse_args(argv)
    try:
        cfg = Config(
            url=args.url,
            connections=args.connections,
            processes=args.processes,
            duration=args.duration,
            max_requests=args.max_requests,
            timeout=args.timeout,
            paths=tuple(p for p in args.paths.split(",") if p),
            shed_code=args.shed_code,
            allow_net=tuple(args.allow_net),
            out=args.out,
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(run(cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
