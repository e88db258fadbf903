"""The orphaned-worker behaviour of ipgeo.workers.ThreadWorker, against real gunicorn processes.

A request that takes a while keeps one worker busy; the master is SIGKILLed. gunicorn's own
gthread worker holds the listening socket until that request ends, so the port cannot be bound;
ours lets go of it within a couple of seconds and still answers the request in flight.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from netutil import free_port

SLOW_SECONDS = 10.0


def _can_bind(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _get(port: int, path: str, timeout: float) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.fixture
def wsgi_dir(tmp_path: Path) -> Path:
    (tmp_path / "slowapp.py").write_text(
        textwrap.dedent(
            f"""
            import time

            def app(environ, start_response):
                if environ["PATH_INFO"] == "/slow":
                    time.sleep({SLOW_SECONDS})
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"ok"]
            """
        )
    )
    return tmp_path


def _start(wsgi_dir: Path, port: int, worker_class: str) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--chdir",
        str(wsgi_dir),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--threads",
        "2",
        "--worker-class",
        worker_class,
        "--graceful-timeout",
        "30",
        "slowapp:app",
    ]
    # Its own session, so the orphans can be found and killed afterwards.
    proc = subprocess.Popen(
        argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if _get(port, "/", timeout=2) == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("gunicorn did not start")


def _kill_master_during_slow_request(
    wsgi_dir: Path, worker_class: str
) -> tuple[int, subprocess.Popen[bytes], dict[str, object]]:
    port = free_port()
    proc = _start(wsgi_dir, port, worker_class)
    outcome: dict[str, object] = {}

    def slow() -> None:
        try:
            outcome["status"] = _get(port, "/slow", timeout=SLOW_SECONDS + 10)
        except OSError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=slow, daemon=True)
    thread.start()
    outcome["thread"] = thread
    time.sleep(1.0)  # the request is in a worker now
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    outcome["killed_at"] = time.monotonic()
    return port, proc, outcome


def _cleanup(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def test_orphaned_worker_releases_port_and_finishes_request(wsgi_dir: Path) -> None:
    port, proc, outcome = _kill_master_during_slow_request(wsgi_dir, "ipgeo.workers.ThreadWorker")
    try:
        deadline = float(outcome["killed_at"]) + 6.0  # type: ignore[arg-type]
        while not _can_bind(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        released_after = time.monotonic() - float(outcome["killed_at"])  # type: ignore[arg-type]
        assert _can_bind(port), "the orphaned workers still hold the listening socket"
        assert released_after < SLOW_SECONDS - 2
        thread = outcome["thread"]
        assert isinstance(thread, threading.Thread)
        thread.join(timeout=SLOW_SECONDS + 15)
        assert outcome.get("status") == 200, outcome.get("error")
    finally:
        _cleanup(proc)


def test_stock_gthread_worker_keeps_port_while_orphaned(wsgi_dir: Path) -> None:
    """The problem the worker class exists for: if gunicorn fixes it, this test says so."""
    port, proc, _outcome = _kill_master_during_slow_request(wsgi_dir, "gthread")
    try:
        time.sleep(3.0)
        assert not _can_bind(port)
    finally:
        _cleanup(proc)
