"""One client of the rate-limit proof (stdlib only; runs on the controller or in a container).

Sends GET ``--path`` to ``--url`` over ``--threads`` keep-alive HTTP/1.1 connections, each
request ``--interval`` seconds after the previous one of its thread (0: back to back), and stops
after ``--total`` requests or ``--time-limit`` seconds, whichever comes first: bounded in
requests and time. ``--start-at`` (a wall-clock time at most 60 s ahead) makes clients started
one after another by Ansible, which may take seconds each on a loaded machine, send at the same
moment. Targets: the loopback, or an address in the private ranges (a scenario's own
Docker network). Prints one JSON object: start and stop (wall clock), the count of each status
(and of errors), and the first 429's time, body and Retry-After header.

Usage::

    python3 ratecheck.py --url http://172.29.20.10 --threads 4 --interval 0 --total 5000 \\
        --time-limit 10
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


def target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_private:
        raise SystemExit(f"{host}: only the loopback or a private network")
    return host, parts.port or 80


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--path", default="/v1/ip/8.8.8.8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.0)
    ap.add_argument("--total", type=int, default=1000)
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--start-at", type=float, default=0.0)
    args = ap.parse_args()
    if not (0 < args.total <= 100_000 and 0 < args.time_limit <= 120 and 0 < args.threads <= 16):
        raise SystemExit("--total <= 100000, --time-limit <= 120 s, --threads <= 16")
    host, port = target(args.url)
    wait = args.start_at - time.time()
    if wait > 60:
        raise SystemExit("--start-at at most 60 s ahead")
    if wait > 0:
        time.sleep(wait)

    lock = threading.Lock()
    counts: Counter[str] = Counter()
    first_429: dict = {}
    sent = 0
    start = time.time()
    deadline = time.monotonic() + args.time_limit

    def take() -> bool:
        nonlocal sent
        with lock:
            if sent >= args.total or time.monotonic() >= deadline:
                return False
            sent += 1
            return True

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        while take():
            try:
                conn.request("GET", args.path)
                resp = conn.getresponse()
                body = resp.read()
                key = str(resp.status)
                if resp.status == 429 and not first_429:
                    with lock:
                        first_429.update(
                            t=time.time(),
                            body=body.decode("utf-8", "replace"),
                            retry_after=resp.getheader("Retry-After"),
                            content_type=resp.getheader("Content-Type"),
                        )
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                key = f"error:{type(exc).__name__}"
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=5)
            with lock:
                counts[key] += 1
            if args.interval:
                time.sleep(args.interval)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(
        json.dumps(
            {
                "start": start,
                "stop": time.time(),
                "sent": sent,
                "statuses": dict(counts),
                "first_429": first_429 or None,
            }
        )
    )


if __name__ == "__main__":
    main()
