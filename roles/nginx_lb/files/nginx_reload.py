#!/usr/bin/env python3
"""Reload nginx and, with --wait, wait until the workers from before the reload have exited.

After a reload only the old workers may still send a drained node requests: they finish their
in-flight requests (and close their kept-alive upstream connections), then exit. Waiting for
those processes is exact, where a fixed sleep is a guess. Standard library only (it runs with
the load balancer's system Python). Exit status 0 once drained; 1 with a message on stderr.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

WORKER_TITLE = b"nginx: worker process"


def is_worker(proc_root: Path, pid: int) -> bool:
    """Whether <proc_root>/<pid> is an nginx worker (a reused PID is not)."""
    try:
        cmdline = (proc_root / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    return cmdline.replace(b"\0", b" ").startswith(WORKER_TITLE)


def workers(proc_root: Path) -> list[int]:
    """The PIDs of the running nginx workers."""
    pids = (int(d.name) for d in proc_root.iterdir() if d.name.isdigit())
    return sorted(pid for pid in pids if is_worker(proc_root, pid))


def reload(pid_file: Path) -> int:
    """HUP the master named in the pid file, as `nginx -s reload` does; returns its PID."""
    try:
        master = int(pid_file.read_text().strip())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"no nginx master to reload: {exc}") from exc
    try:
        os.kill(master, signal.SIGHUP)
    except OSError as exc:
        raise RuntimeError(f"cannot reload nginx (master {master}): {exc}") from exc
    return master


def wait_gone(proc_root: Path, pids: list[int], timeout: float, interval: float = 0.1) -> float:
    """Wait until none of `pids` is an nginx worker any more; returns the seconds it took."""
    start = time.monotonic()
    for pid in pids:
        while is_worker(proc_root, pid):
            if time.monotonic() - start >= timeout:
                raise RuntimeError(f"nginx worker {pid} still runs {timeout:g} s after the reload")
            time.sleep(interval)
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wait", action="store_true", help="wait for the old workers to exit")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for them")
    parser.add_argument("--pid-file", type=Path, default=Path("/run/nginx.pid"))
    parser.add_argument("--proc-root", type=Path, default=Path("/proc"))
    args = parser.parse_args(argv)

    try:
        old = workers(args.proc_root)
        master = reload(args.pid_file)
        if not args.wait:
            print(f"reloaded: master {master}")
            return 0
        took = wait_gone(args.proc_root, old, args.timeout)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"drained: old workers ({' '.join(map(str, old))}) exited after {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
