"""The servers under test: gunicorn with the app, and nginx in front of it as on the nodes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .common import CLIENT_CPUS, free_port
from .ipgeo_api import GUNICORN_CONF, WSGI_APP


class _Server:
    """A server process with its scratch directory; ``stop`` asks it with ``stop_signal``."""

    proc: subprocess.Popen[bytes]
    tmp: str
    stop_signal = signal.SIGTERM

    def stop(self) -> None:
        self.proc.send_signal(self.stop_signal)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Gunicorn(_Server):
    """``workers`` sync workers on a loopback port, ready (``/readyz``) when constructed."""

    def __init__(self, workers: int, env: dict[str, str], cpus: set[int] | None = None) -> None:
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="ipgeo-bench-")
        conf = Path(self.tmp) / "gunicorn.conf.py"
        conf.write_text(GUNICORN_CONF)
        full_env = {**os.environ, **env, "PROMETHEUS_MULTIPROC_DIR": f"{self.tmp}/prom"}
        cmd = [
            sys.executable, "-m", "gunicorn", "-c", str(conf), "-w", str(workers),
            "-b", f"127.0.0.1:{self.port}", "--backlog", "2048", WSGI_APP,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("gunicorn did not become ready")

    def pids(self) -> list[int]:
        """The master and its workers."""
        kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [self.proc.pid, *map(int, kids)]


class Nginx(_Server):
    """One nginx worker proxying to ``upstream_port`` on loopback, never a host daemon."""

    stop_signal = signal.SIGQUIT  # graceful shutdown

    def __init__(self, upstream_port: int) -> None:
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="ipgeo-nginx-")
        conf = Path(self.tmp) / "nginx.conf"
        conf.write_text(
            f"""
worker_processes 1; daemon off; pid {self.tmp}/nginx.pid; error_log {self.tmp}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; client_body_temp_path {self.tmp}; proxy_temp_path {self.tmp};
  upstream app {{ server 127.0.0.1:{upstream_port}; }}
  server {{
    listen 127.0.0.1:{self.port};
    location / {{ proxy_pass http://app; proxy_set_header X-Forwarded-For $remote_addr; }}
  }}
}}
"""
        )
        # On the client's core: the server's core is the gunicorn worker's alone.
        self.proc = subprocess.Popen(
            ["nginx", "-c", str(conf), "-p", self.tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=lambda: os.sched_setaffinity(0, CLIENT_CPUS),
        )
        self.url = f"http://127.0.0.1:{self.port}"
        time.sleep(0.5)
