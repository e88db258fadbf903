#!/usr/bin/env python3
"""Health gate of an app node, asked of the node itself (never through a load balancer).

1. /readyz answers 200, with the expected release and database SHA-256 when they are given,
   before a deadline (seconds, not a number of tries, which a busy host stretches);
2. the gunicorn master runs exactly its configured workers (after a HUP: the old workers, which
   still have the previous database mapped, are gone);
3. known answers ("IP=COUNTRY_CODE") are right and carry this node's X-Served-By.

Standard library only: it runs with the node's system Python and must not depend on the
release it gates (a rollback gates an older release). Exit status 0 when the node passes;
1 with one line on stderr, starting with "Health gate:", when it does not.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

_WORKERS_LINE = re.compile(r"^workers = (\d+)$", re.MULTILINE)


class GateError(Exception):
    """The node failed the gate; the message says how."""


def wait_ready(url: str, release: str, sha256: str, timeout: float, interval: float = 0.5) -> dict:
    """Poll /readyz until it answers 200 with the release and SHA-256 asked for."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = json.load(resp)
            last = json.dumps(body)
            if release in ("", body.get("release")) and sha256 in (
                "",
                (body.get("db") or {}).get("sha256"),
            ):
                return body
        except Exception as exc:  # 503 while loading, refused while starting, ...
            last = str(exc)
        if time.monotonic() > deadline:
            raise GateError(
                f"did not become ready within {timeout:g} s (expected: release "
                f"{release or 'any'}, database SHA-256 {sha256 or 'any'}). Last /readyz: {last}"
            )
        time.sleep(interval)


def configured_workers(config: Path) -> int:
    """The `workers = N` line of the node's gunicorn.conf.py."""
    match = _WORKERS_LINE.search(config.read_text())
    if not match:
        raise GateError(f"{config} has no 'workers = N' line")
    return int(match.group(1))


def children(proc_root: Path, parent: int) -> list[int]:
    """PIDs whose parent is `parent`, read from <proc_root>/<pid>/stat."""
    found = []
    for stat in proc_root.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process exited while we looked
            continue
        # The command name is in parentheses and may hold spaces or parentheses itself.
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) >= 2 and int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return sorted(found)


def supervisor_pid(program: str) -> int:
    """The PID supervisor reports for `program` (0 when it does not run)."""
    out = subprocess.run(
        ["supervisorctl", "pid", program], capture_output=True, text=True, check=False
    ).stdout.strip()
    return int(out) if out.isdigit() else 0


def wait_workers(
    master: Callable[[], int], want: int, proc_root: Path, timeout: float, interval: float = 1
) -> str:
    """Wait until the master has exactly `want` children."""
    deadline = time.monotonic() + timeout
    while True:
        pid = master()
        count = len(children(proc_root, pid)) if pid > 0 else 0
        summary = f"master {pid}: {count} workers of {want}"
        if pid > 0 and count == want:
            return summary
        if time.monotonic() > deadline:
            raise GateError(f"the program does not run its configured workers ({summary})")
        time.sleep(interval)


def check_answer(base_url: str, expect: str, node_name: str) -> str:
    """One known answer: 200, the country expected, served by this node."""
    ip, _, country = expect.partition("=")
    status: int | str = "no answer"
    body: object = ""
    served_by = "?"
    try:
        with urllib.request.urlopen(f"{base_url}/v1/ip/{ip}", timeout=5) as resp:
            status, served_by = resp.status, resp.headers.get("X-Served-By", "?")
            body = json.load(resp)
    except urllib.error.HTTPError as exc:
        status, served_by = exc.code, exc.headers.get("X-Served-By", "?")
        body = exc.read().decode(errors="replace")
    except (OSError, ValueError) as exc:
        body = str(exc)
    got = body.get("country", {}).get("code") if isinstance(body, dict) else None
    if status != 200 or got != country or served_by != node_name:
        raise GateError(
            f"answered {ip} with {status} {json.dumps(body)} (served by {served_by}); "
            f"expected country {country} from {node_name}."
        )
    return f"{ip}: {country} from {served_by}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", required=True, help="the node's name in the messages")
    parser.add_argument("--url", required=True, help="the node's own base URL")
    parser.add_argument("--release", default="", help="release id /readyz must report")
    parser.add_argument("--db-sha256", default="", help="database SHA-256 /readyz must report")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for /readyz")
    parser.add_argument("--config", type=Path, required=True, help="gunicorn.conf.py")
    parser.add_argument("--program", default="ipgeo", help="supervisor program of gunicorn")
    parser.add_argument("--master-pid", type=int, help="the master's PID (default: supervisor's)")
    parser.add_argument("--workers-timeout", type=float, default=30, help="seconds for workers")
    parser.add_argument("--proc-root", type=Path, default=Path("/proc"))
    parser.add_argument("--node-name", required=True, help="the X-Served-By expected")
    parser.add_argument("--expect", action="append", default=[], help="IP=COUNTRY_CODE")
    args = parser.parse_args(argv)

    def master() -> int:
        return args.master_pid if args.master_pid is not None else supervisor_pid(args.program)

    try:
        ready = wait_ready(f"{args.url}/readyz", args.release, args.db_sha256, args.timeout)
        print(f"ready: {json.dumps(ready)}")
        want = configured_workers(args.config)
        print(wait_workers(master, want, args.proc_root, args.workers_timeout))
        for expect in args.expect:
            print(check_answer(args.url, expect, args.node_name))
    except GateError as exc:
        print(f"Health gate: {args.host} {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
