"""The servers under test, each on a loopback port, never a host daemon: gunicorn with the app
(the deployed worker class, the previous one, or the naive service), nginx in front of a node
as the LB runs it, and nginx answering lookups itself from the MMDB (libnginx-mod-http-geoip2).
"""

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

from .common import CLIENT_CPUS, DB, free_port
from .ipgeo_api import ASGI_APP, DEPLOYED_WORKER, GUNICORN_CONF, OLD_WORKER, WSGI_APP

GEOIP2_MODULE = Path("/usr/lib/nginx/modules/ngx_http_geoip2_module.so")
# The role's defaults (ipgeo_service): keepalive 5 s, 4 threads for a thread worker.
KEEPALIVE = 5
THREADS = 4
NAIVE_APP = "bench.naive:app"


def _wait_ready(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    raise SystemExit(f"{what} did not become ready at {url}")


class _Server:
    """A server process with its scratch directory; ``stop`` asks it with ``stop_signal``."""

    proc: subprocess.Popen[bytes]
    tmp: str
    port: int
    stop_signal = signal.SIGTERM

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.send_signal(self.stop_signal)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Gunicorn(_Server):
    """gunicorn with ``workers`` workers on a loopback port, ready (``/readyz``) when
    constructed. ``kind``: ``deployed`` (the role's worker class and ASGI entry), ``old``
    (ipgeo.workers.ThreadWorker, the WSGI entry), ``sync`` (gunicorn's sync worker, the WSGI
    entry) or ``naive`` (the naive service: Flask + maxminddb per request, sync worker)."""

    def __init__(
        self,
        workers: int,
        env: dict[str, str],
        cpus: set[int] | None = None,
        kind: str = "deployed",
        app: str | None = None,
    ) -> None:
        self.port = free_port()
        self.kind = kind
        self.tmp = tempfile.mkdtemp(prefix="ipgeo-bench-")
        conf = Path(self.tmp) / "gunicorn.conf.py"
        conf.write_text(GUNICORN_CONF)
        full_env = {**os.environ, **env, "PROMETHEUS_MULTIPROC_DIR": f"{self.tmp}/prom"}
        worker = {
            "deployed": ["-k", DEPLOYED_WORKER],
            "old": ["-k", OLD_WORKER, "--threads", str(THREADS)],
            "sync": [],
            "naive": [],
        }[kind]
        entry = app or {"deployed": ASGI_APP, "naive": NAIVE_APP}.get(kind, WSGI_APP)
        cmd = [
            sys.executable, "-m", "gunicorn", "-c", str(conf), "-w", str(workers), *worker,
            "--keep-alive", str(KEEPALIVE), "-b", f"127.0.0.1:{self.port}", "--backlog", "2048",
            entry,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        try:
            _wait_ready(self.url + "/readyz", self.proc, f"gunicorn ({kind})")
        except SystemExit:
            self.stop()
            raise

    @property
    def metrics_dir(self) -> Path:
        return Path(self.tmp) / "prom"

    def pids(self) -> list[int]:
        """The master and its workers."""
        kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [self.proc.pid, *map(int, kids)]


def _nginx(tmp: str, conf_text: str, cpus: set[int] | None) -> subprocess.Popen[bytes]:
    conf = Path(tmp) / "nginx.conf"
    conf.write_text(conf_text)
    return subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", tmp],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )


class Nginx(_Server):
    """nginx proxying to ``upstream_port`` on loopback as role nginx_lb does (HTTP/1.1 with
    idle upstream connections kept 4 s, shorter than the node's 5 s), never a host daemon."""

    stop_signal = signal.SIGQUIT  # graceful shutdown

    def __init__(
        self,
        upstream_port: int,
        workers: int = 1,
        cpus: set[int] | None = None,
        http_extra: str = "",
        server_extra: str = "",
    ) -> None:
        """``http_extra`` / ``server_extra``: more directives in the http / server block (the
        response cache of row 8); nothing else differs."""
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="ipgeo-nginx-")
        self.proc = _nginx(
            self.tmp,
            f"""
worker_processes {workers}; daemon off; pid {self.tmp}/nginx.pid; error_log {self.tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off; client_body_temp_path {self.tmp}; proxy_temp_path {self.tmp};
  upstream app {{ server 127.0.0.1:{upstream_port}; keepalive 64; keepalive_timeout 4s; }}
  {http_extra}
  server {{
    listen 127.0.0.1:{self.port};
    {server_extra}
    location / {{
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }}
  }}
}}
""",
            cpus if cpus is not None else CLIENT_CPUS,
        )
        _wait_ready(self.url + "/readyz", self.proc, "nginx (LB)")


class NginxGeoip2(_Server):
    """Debian's nginx with libnginx-mod-http-geoip2 answering ``GET /v1/ip/<ip>`` itself: the
    lookup's JSON (the same fields as ipgeo's, English names) straight from the MMDB."""

    stop_signal = signal.SIGQUIT

    def __init__(self, workers: int = 2) -> None:
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="ipgeo-geoip2-")
        fields = {
            "cc": "country iso_code",
            "cn": "country names en",
            "rc": "subdivisions 0 iso_code",
            "rn": "subdivisions 0 names en",
            "city": "city names en",
            "lat": "location latitude",
            "lon": "location longitude",
            "tz": "location time_zone",
        }
        variables = "".join(f"    $g_{k} source=$lookup_ip {v};\n" for k, v in fields.items())
        body = (
            '{"ip":"$lookup_ip","country":{"code":"$g_cc","name":"$g_cn"},'
            '"region":{"code":"$g_rc","name":"$g_rn"},"city":{"name":"$g_city"},'
            '"location":{"latitude":"$g_lat","longitude":"$g_lon","time_zone":"$g_tz"}}'
        )
        self.proc = _nginx(
            self.tmp,
            f"""
load_module {GEOIP2_MODULE};
worker_processes {workers}; daemon off; pid {self.tmp}/nginx.pid; error_log {self.tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off; client_body_temp_path {self.tmp}; proxy_temp_path {self.tmp};
  keepalive_timeout {KEEPALIVE}s; keepalive_requests 1000000;
  map $uri $lookup_ip {{ ~^/v1/ip/(?<a>[0-9.]+)$ $a; default ""; }}
  geoip2 {DB} {{
{variables}  }}
  server {{
    listen 127.0.0.1:{self.port};
    location = /readyz {{ return 200 "ok"; }}
    location /v1/ip/ {{ default_type application/json; return 200 '{body}'; }}
  }}
}}
""",
            None,
        )
        _wait_ready(self.url + "/readyz", self.proc, "nginx-geoip2")
