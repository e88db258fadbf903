from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ipgeo import create_app
from netutil import free_port

REPO = Path(__file__).resolve().parents[2]
DB_PATH = REPO / "files" / "GeoLite2-City.mmdb"
NODE = "test-node-7"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # Settings come from the environment; a developer's shell must not change results.
    for name in list(os.environ):
        if name.startswith("IPGEO_") or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def db_path() -> Path:
    if not DB_PATH.is_file():
        pytest.fail(
            f"{DB_PATH} is missing: run `make db` (scripts/fetch-db.sh) to fetch the "
            "GeoLite2-City database the app tests run against"
        )
    return DB_PATH


@pytest.fixture
def app(db_path):
    return create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_NODE_NAME": NODE})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def node() -> str:
    return NODE


def get_url(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# The deploy's worker class with the ASGI entry, and gunicorn's sync worker with the WSGI one.
SERVERS = {
    "uvicorn": ("ipgeo.asgi:app", ["-k", "ipgeo.asgi_worker.UvicornWorker"]),
    "sync": ("ipgeo.wsgi:app", []),
}


@pytest.fixture(params=sorted(SERVERS))
def gunicorn_two_workers(request, tmp_path, db_path):
    entry, worker_args = SERVERS[request.param]
    mdir = tmp_path / "prom"
    mdir.mkdir()
    (mdir / "counter_999999.db").write_bytes(b"stale")  # on_starting must clear this
    # As deployed: settings come from an env file through raw_env, not the process env, so
    # the app must cope with them arriving after gunicorn.conf.py was imported.
    env_file = tmp_path / "ipgeo.env"
    env_file.write_text(
        f"PROMETHEUS_MULTIPROC_DIR={mdir}\nIPGEO_DB_PATH={db_path}\nIPGEO_NODE_NAME=metrics-test\n"
    )
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(
        "from ipgeo.gunicorn_hooks import (  # noqa: F401\n"
        "    child_exit, load_env_file, on_reload, on_starting)\n"
        f"raw_env = load_env_file({str(env_file)!r})\n"
    )
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IPGEO_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(conf),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            *worker_args,
            entry,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if get_url(base + "/healthz")[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"gunicorn did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    yield base, mdir
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def http_get():
    return get_url
