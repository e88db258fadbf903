"""A bounded load generator for the ops scenario (stdlib only, runs on the controller).

Sends GET requests to a URL on the loopback (127.0.0.1, ::1 or localhost), or to an address inside
a network given with ``--allow-net`` (a scenario's own Docker network), at a fixed rate, one new
TCP connection per request (``Connection: close``), cycling through ``--paths``. It stops
by itself after ``--total`` requests or ``--time-limit`` seconds, whichever comes first, or
earlier when ``--stop-file`` appears, then waits for the requests in flight (each is bounded by
``--timeout``). Every request is recorded as one JSON line in ``--out``::

    {"config": {...}}                                    first line
    {"i": 0, "t": 1700000000.123456, "dt": 0.0041, "status": 200,
     "db": "1530653216-55ad8f80b9f9", "node": "ops-app1", "error": null}
    {"summary": {"started": ..., "stopped": ..., "sent": N, "reason": "stop-file"}}   last line

``t`` is the wall-clock time the request started, ``dt`` its duration, ``db`` and ``node`` the
answer's X-DB-Version and X-Served-By headers; ``error`` names what went wrong when no complete
HTTP answer came back (refused, reset, timeout, short body, ...).

HTTPS: an ``https://`` URL needs ``--cacert`` (the CA the server's certificate must chain to;
nothing is sent unverified). The name checked (and sent as SNI and Host) is the URL's host, or
``--server-name``. Each record then also has ``cert``: the SHA-256 of the certificate served
(lower-case hex of its DER form), so a certificate rotation shows which answers came with which.

Usage::

    python3 loadgen.py --url http://127.0.0.1:18081 --rate 200 --total 60000 --time-limit 300 \\
        --out load.jsonl [--stop-file STOP] [--paths /v1/ip/8.8.8.8,/v1/ip/114.114.114.114]
    python3 loadgen.py --url http://172.29.40.100 --allow-net 172.29.40.0/24 --timeout 3 ...
    python3 loadgen.py --url https://127.0.0.1:18443 --cacert ca.crt --server-name lb.ipgeo.test ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import ipaddress
import json
import os
import resource
import ssl
import sys
import time
from dataclasses import asdict, dataclass
from typing import IO, Any
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
# The widest network --allow-net accepts: a scenario's own Docker network, not a whole range.
MIN_PREFIX = 16
DEFAULT_PATHS = ("/v1/ip/8.8.8.8", "/v1/ip/114.114.114.114", "/v1/ip/2001:4860:4860::8888")


@dataclass(frozen=True)
class Config:
    url: str
    rate: float
    total: int
    time_limit: float
    out: str
    paths: tuple[str, ...] = DEFAULT_PATHS
    timeout: float = 10.0
    stop_file: str | None = None
    max_in_flight: int = 2000
    allow_net: tuple[str, ...] = ()
    cacert: str | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        check_target(self.url, self.allow_net)
        scheme = urlsplit(self.url).scheme
        if scheme == "https" and not self.cacert:
            raise ValueError("an https:// --url needs --cacert (nothing is sent unverified)")
        if scheme == "http" and (self.cacert or self.server_name):
            raise ValueError("--cacert and --server-name are for an https:// --url only")
        if self.rate <= 0 or self.total <= 0 or self.time_limit <= 0 or self.timeout <= 0:
            raise ValueError("--rate, --total, --time-limit and --timeout must be positive")
        if not self.paths or not all(p.startswith("/") for p in self.paths):
            raise ValueError(f"--paths must be absolute paths, got {self.paths!r}")


def allowed_networks(nets: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks of ``--allow-net``: private ones of at least /16 (IPv4) or /48 (IPv6) only."""
    out = []
    for text in nets:
        try:
            net = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise ValueError(f"--allow-net {text!r} is not a network address: {exc}") from None
        widest = MIN_PREFIX if net.version == 4 else 48
        if not net.is_private or net.is_loopback or net.prefixlen < widest:
            raise ValueError(
                f"--allow-net {text!r}: only a private network of /{widest} or narrower "
                "(the scenario's own Docker network)"
            )
        out.append(net)
    return out


def check_target(url: str, allow_net: tuple[str, ...] = ()) -> None:
    """Raise ValueError unless ``url`` is http(s):// on the loopback or inside an allowed network.

    Host names other than localhost are refused: what they resolve to is not checked.
    """
    parts = urlsplit(url)
    nets = allowed_networks(allow_net)
    host = parts.hostname or ""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        addr = None
    if parts.scheme in ("http", "https") and (
        host in LOOPBACK or (addr is not None and any(addr in net for net in nets))
    ):
        return
    where = " or in " + ", ".join(allow_net) if allow_net else " (127.0.0.1)"
    raise ValueError(f"--url must be http(s):// on the loopback{where}, got {url!r}")


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of a complete HTTP/1.x answer.

    Raises ValueError when the answer is not complete: no header end, or a body shorter than
    its Content-Length.
    """
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("incomplete answer: no end of headers" if raw else "empty answer")
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ValueError(f"not an HTTP answer: {lines[0][:60]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    if length is not None and len(body) < int(length):
        raise ValueError(f"short body: {len(body)} of {length} bytes")
    return int(rest[:3]), headers, body


def tls_context(cacert: str) -> ssl.SSLContext:
    """A client context that verifies the server's certificate against ``cacert`` and its name."""
    return ssl.create_default_context(cafile=cacert)


async def one_request(
    host: str,
    port: int,
    hostheader: str,
    path: str,
    timeout: float,
    tls: ssl.SSLContext | None = None,
    server_name: str | None = None,
) -> dict:
    """Send one GET on a new connection; return status/db/node or an error, never raise.

    With ``tls``: over TLS, verified for ``server_name`` (default ``host``); ``cert`` is then the
    SHA-256 of the certificate served.
    """
    result: dict[str, Any] = {"status": None, "db": None, "node": None, "error": None}
    writer = None
    try:
        async with asyncio.timeout(timeout):
            if tls is None:
                reader, writer = await asyncio.open_connection(host, port)
            else:
                result["cert"] = None
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=server_name or host
                )
                der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
                result["cert"] = hashlib.sha256(der).hexdigest()
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {hostheader}\r\n"
                "User-Agent: ipgeo-ops-loadgen\r\nAccept: application/json\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
            raw = await reader.read()  # until the server closes (Connection: close)
        status, headers, _ = parse_response(raw)
        result.update(status=status, db=headers.get("x-db-version"))
        result["node"] = headers.get("x-served-by")
    except TimeoutError:
        result["error"] = f"timeout after {timeout:g} s"
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}".strip()
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    return result


class Recorder:
    """Writes records as JSON lines, flushing now and then so a reader can follow along."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.last_flush = time.monotonic()

    def write(self, obj: dict) -> None:
        self.fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
        now = time.monotonic()
        if now - self.last_flush > 0.5:
            self.fh.flush()
            self.last_flush = now


async def run(cfg: Config) -> dict:
    """Run the load; return the summary (also the last line of ``cfg.out``)."""
    parts = urlsplit(cfg.url)
    host = parts.hostname or "127.0.0.1"
    tls = tls_context(cfg.cacert) if parts.scheme == "https" and cfg.cacert else None
    port = parts.port or (443 if tls else 80)
    hostheader = parts.netloc
    if cfg.server_name:
        hostheader = cfg.server_name + (f":{parts.port}" if parts.port else "")
    in_flight: set[asyncio.Task] = set()
    sent = 0
    reason = "total"
    with open(cfg.out, "w", encoding="utf-8") as fh:
        rec = Recorder(fh)
        rec.write({"config": asdict(cfg)})
        fh.flush()

        async def send(i: int, path: str) -> None:
            t = time.time()
            t0 = time.monotonic()
            if len(in_flight) > cfg.max_in_flight:
                res = {"status": None, "db": None, "node": None}
                res["error"] = f"client: more than {cfg.max_in_flight} requests in flight"
            else:
                res = await one_request(
                    host, port, hostheader, path, cfg.timeout, tls, cfg.server_name
                )
            rec.write({"i": i, "t": round(t, 6), "dt": round(time.monotonic() - t0, 6), **res})

        started = time.time()
        start = time.monotonic()
        next_stop_check = 0.0
        while sent < cfg.total:
            now = time.monotonic()
            if now - start >= cfg.time_limit:
                reason = "time-limit"
                break
            if cfg.stop_file and now >= next_stop_check:
                next_stop_check = now + 0.05
                if os.path.exists(cfg.stop_file):
                    reason = "stop-file"
                    break
            due = start + sent / cfg.rate
            if due > now:
                await asyncio.sleep(min(due - now, 0.05))
                continue
            task = asyncio.create_task(send(sent, cfg.paths[sent % len(cfg.paths)]))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            sent += 1
        stopped = time.time()
        if in_flight:
            await asyncio.wait(set(in_flight))
        summary = {
            "started": round(started, 6),
            "stopped": round(stopped, 6),
            "finished": round(time.time(), 6),
            "sent": sent,
            "reason": reason,
        }
        rec.write({"summary": summary})
    return summary


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="http(s)://127.0.0.1:PORT or in --allow-net")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--total", type=int, required=True, help="most requests to send")
    parser.add_argument("--time-limit", type=float, required=True, help="most seconds to send")
    parser.add_argument("--out", required=True, help="JSON lines file of every request")
    parser.add_argument("--paths", default=",".join(DEFAULT_PATHS), help="comma-separated")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--stop-file", help="stop sending once this file exists")
    parser.add_argument(
        "--allow-net",
        action="append",
        default=[],
        help="also allow an address in this private network (repeatable), e.g. 172.29.40.0/24",
    )
    parser.add_argument("--cacert", help="for https://: the CA the certificate must chain to")
    parser.add_argument(
        "--server-name",
        help="for https://: the name verified, sent as SNI and Host (default: URL's)",
    )
    args = parser.parse_args(argv)
    try:
        cfg = Config(
            url=args.url,
            rate=args.rate,
            total=args.total,
            time_limit=args.time_limit,
            out=args.out,
            paths=tuple(p for p in args.paths.split(",") if p),
            timeout=args.timeout,
            stop_file=args.stop_file,
            allow_net=tuple(args.allow_net),
            cacert=args.cacert,
            server_name=args.server_name,
        )
    except ValueError as exc:
        parser.error(str(exc))
    _raise_fd_limit()
    summary = asyncio.run(run(cfg))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
