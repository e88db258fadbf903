"""ipgeo.asgi_worker.UvicornWorker against real gunicorn processes: the refusals of its HTTP
parser as the app's JSON errors, the peer as the client address, and an orphaned worker that
lets go of the listening socket while it finishes the request in flight."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from netutil import free_port

WORKER = "ipgeo.asgi_worker.UvicornWorker"
SLOW_SECONDS = 8.0


def _can_bind(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _get(port: int, path: str, timeout: float, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _start(argv: list[str], port: int, env: dict[str, str] | None = None):
    # Its own session, so that orphans can be found and killed afterwards.
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "-k", WORKER, *argv],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if _get(port, "/healthz", timeout=2)[0] == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("gunicorn did not start")


@contextlib.contextmanager
def _running(argv: list[str], env: dict[str, str] | None = None) -> Iterator[tuple[int, object]]:
    port = free_port()
    proc = _start(argv, port, env)
    try:
        yield port, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def node(db_path_module) -> Iterator[int]:
    env = {"IPGEO_DB_PATH": str(db_path_module), "IPGEO_NODE_NAME": "asgi-node"}
    # The role's keepalive (5 s): longer than the LB keeps idle upstream connections (4 s).
    argv = ["-w", "2", "--keep-alive", "5", "ipgeo.asgi:app"]
    with _running(argv, env) as (port, _):
        yield port


@pytest.fixture(scope="module")
def db_path_module() -> Path:
    path = Path(__file__).resolve().parents[2] / "files" / "GeoLite2-City.mmdb"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make db`")
    return path


def _raw(port: int, data: bytes) -> tuple[int, dict[str, str], dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with contextlib.suppress(OSError):  # the server may answer before it read everything
            s.sendall(data)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), fields, json.loads(body)


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /v1/ip/a b HTTP/1.1\r\nHost: n\r\n\r\n", 400, "bad_request"),
        (b"GET /v1/ip/" + b"1" * 5000 + b" HTTP/1.1\r\nHost: n\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET /healthz HTTP/1.1\r\nHost: n\r\n"
            + b"".join(b"X-P%d: 1\r\n" % i for i in range(120))
            + b"\r\n",
            431,
            "request_header_fields_too_large",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nHost: n\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
            431,
            "request_header_fields_too_large",
        ),
        (b"GET /healthz HTTP/1.1\r\nHost: n\r\nX-Big: " + b"a" * 70000, 431, None),
    ],
    ids=["malformed", "long-uri", "many-headers", "long-header", "endless-head"],
)
def test_refusals_are_json(node, request_bytes, status, code):
    got, fields, body = _raw(node, request_bytes)
    assert got == status
    assert fields["content-type"] == "application/json"
    assert fields["x-served-by"] == "asgi-node"
    assert fields["connection"] == "close"
    assert body["error"]["message"]
    assert body["error"]["code"] == (code or "request_header_fields_too_large")


def test_forwarded_for_is_the_apps_business(node):
    """uvicorn's own proxy-header handling is off: with no trusted proxies configured, the
    client is the peer, whatever X-Forwarded-For says (gunicorn's default trusts 127.0.0.1)."""
    status, _, body = _get(node, "/v1/ip", 10, {"X-Forwarded-For": "8.8.8.8"})
    assert status == 200
    assert json.loads(body)["ip"] == "127.0.0.1"


def test_lookup_answers_natively_and_keeps_the_connection(node):
    conn = http.client.HTTPConnection("127.0.0.1", node, timeout=10)
    try:
        for _ in range(3):  # one connection: keep-alive
            conn.request("GET", "/v1/ip/8.8.8.8")
            resp = conn.getresponse()
            body = json.loads(resp.read())
            assert resp.status == 200 and body["country"]["code"] == "US"
            assert resp.getheader("X-Served-By") == "asgi-node"
            assert resp.getheader("Server") is None
    finally:
        conn.close()


def test_idle_connection_outlives_the_lbs_keepalive(node):
    """nginx_lb closes idle upstream connections after 4 s; the node must not close first, or a
    request sent as it closes is reset."""
    conn = http.client.HTTPConnection("127.0.0.1", node, timeout=10)
    try:
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        sock = conn.sock
        time.sleep(4.5)
        conn.request("GET", "/v1/ip/8.8.8.8")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
        assert conn.sock is sock, "the node closed the idle connection before 4.5 s"
    finally:
        conn.close()


@pytest.fixture
def slow_app(tmp_path: Path) -> Path:
    (tmp_path / "slowasgi.py").write_text(
        textwrap.dedent(
            f"""
            import asyncio

            async def app(scope, receive, send):
                if scope["path"] == "/slow":
                    await asyncio.sleep({SLOW_SECONDS})
                await send({{"type": "http.response.start", "status": 200, "headers": []}})
                await send({{"type": "http.response.body", "body": b"ok"}})
            """
        )
    )
    return tmp_path


def test_orphaned_worker_releases_port_and_finishes_request(slow_app: Path) -> None:
    argv = ["--chdir", str(slow_app), "-w", "2", "--graceful-timeout", "30", "slowasgi:app"]
    with _running(argv) as (port, proc):
        outcome: dict[str, object] = {}

        def slow() -> None:
            try:
                outcome["status"] = _get(port, "/slow", timeout=SLOW_SECONDS + 10)[0]
            except OSError as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=slow, daemon=True)
        thread.start()
        time.sleep(1.0)  # the request is in a worker now
        assert isinstance(proc, subprocess.Popen)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed_at = time.monotonic()
        while not _can_bind(port) and time.monotonic() < killed_at + 5:
            time.sleep(0.1)
        released_after = time.monotonic() - killed_at
        assert _can_bind(port), "the orphaned workers still hold the listening socket"
        assert released_after < SLOW_SECONDS - 3
        thread.join(timeout=SLOW_SECONDS + 15)
        assert outcome.get("status") == 200, outcome.get("error")


PAUSE_SECONDS = 3.0


@pytest.fixture
def pausing_app(tmp_path: Path) -> Path:
    # Sends the head, waits, then the body: the gap a2wsgi's thread pool leaves, made long.
    (tmp_path / "pausingasgi.py").write_text(
        textwrap.dedent(
            f"""
            import asyncio

            async def app(scope, receive, send):
                if scope["path"] == "/healthz":
                    await send({{"type": "http.response.start", "status": 200, "headers": []}})
                    await send({{"type": "http.response.body", "body": b"ok"}})
                    return
                await send({{"type": "http.response.start", "status": 200,
                             "headers": [(b"content-length", b"5")]}})
                if scope["path"] == "/fail":
                    raise RuntimeError("after the head")
                await asyncio.sleep({PAUSE_SECONDS})
                await send({{"type": "http.response.body", "body": b"hello"}})
            """
        )
    )
    return tmp_path


def _send_raw(port: int, request: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=PAUSE_SECONDS + 10)
    sock.sendall(request)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_head_waits_for_the_body_and_dies_with_the_worker(pausing_app: Path) -> None:
    """A worker killed between head and body sends nothing: the LB can retry, not a cut answer."""
    argv = ["--chdir", str(pausing_app), "-w", "1", "pausingasgi:app"]
    with _running(argv) as (port, proc):
        sock = _send_raw(port, b"GET /pause HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with sock:
            time.sleep(PAUSE_SECONDS / 3)
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(65536)  # the head is sent: stock uvicorn does so
            sock.setblocking(True)
            assert isinstance(proc, subprocess.Popen)
            os.killpg(proc.pid, signal.SIGKILL)
            try:
                received = _read_all(sock)
            except ConnectionResetError:
                received = b""
        assert received == b""


def test_head_and_body_leave_in_one_piece(pausing_app: Path) -> None:
    argv = ["--chdir", str(pausing_app), "-w", "1", "pausingasgi:app"]
    with _running(argv) as (port, _proc):
        with _send_raw(port, b"GET /pause HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") as s:
            first = s.recv(65536)
            rest = _read_all(s)
        assert first.startswith(b"HTTP/1.1 200 ")
        assert first.endswith(b"\r\n\r\nhello"), "head and body came in separate writes"
        assert rest == b""
        # HEAD has no body to wait for; an app failing after its head sends nothing at all.
        with _send_raw(port, b"HEAD /pause HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") as s:
            assert _read_all(s).startswith(b"HTTP/1.1 200 ")
        with _send_raw(port, b"GET /fail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") as s:
            assert _read_all(s) == b""
