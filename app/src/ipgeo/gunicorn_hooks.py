"""Helpers for the gunicorn.conf.py that the deploy templates outside the release dir.

Example::

    from ipgeo.gunicorn_hooks import child_exit, load_env_file, on_reload, on_starting
    raw_env = load_env_file("/etc/ipgeo/ipgeo.env")

``on_starting`` and ``on_reload`` also hash the DB once in the master for all the workers
(see :mod:`ipgeo.dbhash`).

Importing this module also makes gunicorn's own error answers (request line or header too
long, malformed request) JSON like the app's, instead of gunicorn's HTML page.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
from typing import Any

# Libraries every worker needs, loaded once in the master so a worker starts in a fraction of
# a second. Not ipgeo's app modules and not prometheus_client: those load in the worker.
import flask  # noqa: F401
import maxminddb  # noqa: F401
import orjson
from gunicorn import util

from . import dbhash


def load_env_file(path: str) -> list[str]:
    """``KEY=VALUE`` lines of an env file, for gunicorn's ``raw_env``.

    gunicorn re-reads its config on HUP, so new workers see edited settings without a restart.
    Blank lines and ``#`` comments are skipped; ``export`` prefixes and matching quotes
    around the value are removed. A missing file gives no settings.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return []
    result = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "a").isalnum():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        result.append(f"{key}={value}")
    return result


def _multiproc_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def hash_db(server: Any) -> None:
    """Hash ``IPGEO_DB_PATH`` for the workers forked next (raw_env is applied by now).

    Never fatal: a worker that finds no matching digest hashes the file itself.
    """
    dbhash.forget()
    path = os.environ.get("IPGEO_DB_PATH")
    if not path:
        return
    log = getattr(server, "log", None)
    began = time.monotonic()
    try:
        sha = dbhash.remember(path)
    except OSError as exc:
        if log is not None:
            log.warning("ipgeo: not hashing %s in the master: %s", path, exc)
        return
    if log is not None:
        log.info("ipgeo: %s sha256 %s (%.2f s)", path, sha[:12], time.monotonic() - began)


def on_starting(server: Any) -> None:
    """Empty the metrics directory and hash the DB for the first workers."""
    hash_db(server)
    _clear_metrics_dir()


def on_reload(server: Any) -> None:
    """On HUP, before the new workers fork: hash the DB again (it was likely swapped)."""
    hash_db(server)


def _clear_metrics_dir() -> None:
    # Files left by an earlier master would be summed in.
    path = _multiproc_dir()
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.unlink(full)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges so they stop being reported."""
    if not _multiproc_dir():
        return
    # Here, not at the top: prometheus_client picks its multiprocess mode when first
    # imported, and the master imports this module before raw_env is applied.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def json_error_response(status_int: int, reason: str, mesg: str) -> bytes:
    """A whole HTTP/1.1 error answer in the app's error shape, closing the connection.

    Also what :mod:`ipgeo.asgi_worker` sends for the requests its HTTP parser refuses.
    """
    code = re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_") or "error"
    body = orjson.dumps({"error": {"code": code, "message": mesg or reason}})
    node = re.sub(r"[^\x21-\x7e]", "", os.environ.get("IPGEO_NODE_NAME") or socket.gethostname())
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Served-By: {node}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error``: the app's error shape, never HTML."""
    util.write_nonblock(sock, json_error_response(status_int, reason, mesg))


def use_json_error_pages() -> None:
    # Workers call util.write_error at error time, so patching the module attribute in the
    # master (where gunicorn.conf.py imports us) covers every worker forked from it.
    util.write_error = write_json_error


use_json_error_pages()
