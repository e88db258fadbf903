"""The overload generator: answers classified, percentiles, bounds, against local stub servers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import overload
import pytest

HARNESS = Path(__file__).resolve().parents[2] / "molecule" / "harness"
SHED = b'{"error": {"code": "overloaded", "message": "busy"}}\n'
UNAVAILABLE = b'{"error": {"code": "service_unavailable"}}'


def answer(status: int, body: bytes, headers: str = "") -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    return head.encode() + body


# What the stub answers, by path: a keep-alive server (one thread a connection).
ANSWERS = {
    b"/ok": answer(200, b'{"ip": "8.8.8.8"}'),
    b"/shed": answer(503, SHED, "Retry-After: 1\r\n"),
    b"/shed-no-retry": answer(503, SHED),
    b"/unavailable": answer(503, UNAVAILABLE, "Retry-After: 1\r\n"),
    b"/error": answer(500, b"{}"),
    b"/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    b"/close": answer(200, b"{}", "Connection: close\r\n"),
}


@pytest.fixture
def stub() -> Iterator[tuple[str, list]]:
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list = []

    def handle(conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                path = head.split(b" ")[1]
                if path == b"/reset":
                    return  # closes without an answer
                conn.sendall(ANSWERS[path])
                if path == b"/close":
                    return

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", connections
    listener.close()


def run(url: str, **kw) -> dict:
    args = {"connections": 2, "processes": 1, "duration": 0.5, "max_requests": 40} | kw
    return overload.run(overload.Config(url=url, **args))


def test_classify():
    retry = {"retry-after": "1"}
    assert overload.classify(200, {}, b"{}", "overloaded") == "admitted"
    assert overload.classify(204, {}, b"", "overloaded") == "admitted"
    assert overload.classify(503, retry, SHED, "overloaded") == "shed"
    # A 503 is shed only with Retry-After and the shed body's code.
    assert overload.classify(503, {}, SHED, "overloaded") == "failed"
    assert overload.classify(503, {"retry-after": "soon"}, SHED, "overloaded") == "failed"
    assert overload.classify(503, retry, SHED, "other") == "failed"
    assert overload.classify(503, retry, b"<html>503</html>", "overloaded") == "failed"
    assert overload.classify(503, retry, b'{"error": "overloaded"}', "overloaded") == "failed"
    assert overload.classify(502, retry, SHED, "overloaded") == "failed"
    assert overload.classify(None, {}, b"", "overloaded") == "failed"


def test_percentile():
    assert overload.percentile([], 99) is None
    assert overload.percentile([5.0], 50) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert overload.percentile(values, 50) == 50.0
    assert overload.percentile(values, 99) == 99.0
    assert overload.percentile(list(reversed(values)), 100) == 100.0


def test_split():
    assert overload.split(512, 3) == [171, 171, 170]
    assert sum(overload.split(1_000_001, 4)) == 1_000_001


def test_admitted_over_keep_alive_connections(stub):
    url, connections = stub
    summary = run(url, paths=("/ok", "/chunked"), max_requests=40, duration=5)
    assert summary["sent"] == 40 and summary["admitted"] == 40
    assert summary["shed"] == summary["failed"] == 0 and summary["reason"] == "max-requests"
    assert len(connections) == 2  # keep-alive: one connection per client, reused
    assert 0 < summary["admitted_p50_ms"] <= summary["admitted_p99_ms"] < 1000
    assert summary["offered_rate"] > 0 and summary["shed_p99_ms"] is None


def test_every_kind_of_answer_is_classified(stub):
    url, _ = stub
    paths = ("/ok", "/shed", "/shed-no-retry", "/unavailable", "/error", "/close", "/reset")
    summary = run(url, paths=paths, connections=1, max_requests=14, duration=5)
    assert summary["sent"] == summary["answered"] == 14
    assert (summary["admitted"], summary["shed"], summary["failed"]) == (4, 2, 8)
    assert summary["failed_statuses"] == {"503": 4, "500": 2}
    assert summary["failed_errors"] == {"closed before an answer": 2}


def test_stops_at_the_duration_and_a_silent_server_times_out():
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    start = time.monotonic()
    summary = run(
        f"http://127.0.0.1:{listener.getsockname()[1]}",
        duration=0.5,
        timeout=0.2,
        max_requests=1000,
    )
    listener.close()
    assert time.monotonic() - start < 3
    assert summary["reason"] == "duration" and summary["admitted"] == 0
    assert summary["failed"] == summary["sent"] >= 2
    assert summary["failed_errors"] == {"timeout": summary["sent"]}


def test_a_refused_connection_is_a_failure_not_a_busy_loop():
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    summary = run(f"http://127.0.0.1:{port}", connections=1, duration=0.3, max_requests=10_000)
    # one attempt per ERROR_PAUSE at most
    assert 0 < summary["failed"] == summary["sent"] <= 0.3 / overload.ERROR_PAUSE + 5
    assert list(summary["failed_errors"]) == ["ConnectionRefusedError"]


@pytest.mark.parametrize(
    ("url", "nets", "message"),
    [
        ("http://192.0.2.1", (), "loopback"),
        ("http://172.29.41.5", ("172.29.40.0/24",), "loopback or in 172.29.40.0/24"),
        ("http://8.8.8.8", ("8.8.8.0/24",), "private network"),
        ("http://10.1.2.3", ("10.0.0.0/8",), "private network"),
        ("http://172.29.40.5", ("172.29.40.5/24",), "not a network address"),
    ],
)
def test_refuses_targets_outside_the_allowed_networks(url, nets, message):
    with pytest.raises(ValueError, match=message):
        overload.Config(url=url, allow_net=nets)


def test_accepts_an_address_in_the_allowed_network():
    cfg = overload.Config(url="http://172.29.40.100", allow_net=("172.29.40.0/24",))
    assert cfg.connections == 512 and cfg.timeout == 3.0


def test_bounds():
    for bad in ({"connections": 0}, {"max_requests": 0}, {"processes": 3, "connections": 2}):
        with pytest.raises(ValueError, match="--"):
            overload.Config(url="http://127.0.0.1:1", **bad)
    with pytest.raises(ValueError, match="duration"):
        overload.Config(url="http://127.0.0.1:1", duration=3600)


def test_command_line_in_two_processes(stub, tmp_path):
    url, connections = stub
    out = tmp_path / "over.json"
    cmd = [sys.executable, str(HARNESS / "overload.py"), "--url", url, "--paths", "/ok,/shed"]
    cmd += ["--connections", "4", "--processes", "2", "--duration", "5", "--max-requests", "20"]
    cmd += ["--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)
    summary = json.loads(done.stdout)
    assert json.loads(out.read_text()) == summary
    assert (summary["sent"], summary["admitted"], summary["shed"]) == (20, 10, 10)
    assert len(connections) == 4
