"""The load generator against local stub servers: rate, bounds, records, failures counted."""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import loadgen
import loadreport
import pytest

HERE = Path(__file__).resolve().parent
HARNESS = HERE.parents[1] / "molecule" / "harness"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status = self.server.statuses.get(self.path, 200)  # type: ignore[attr-defined]
        body = json.dumps({"path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-DB-Version", "123-abc")
        self.send_header("X-Served-By", "stub-node")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.statuses = {"/missing": 404, "/broken": 503}  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _run(tmp_path: Path, **kw) -> tuple[dict, list[dict], dict | None]:
    out = tmp_path / "load.jsonl"
    args = {"rate": 200.0, "total": 100, "time_limit": 10.0, "out": str(out)} | kw
    cfg = loadgen.Config(**args)
    asyncio.run(loadgen.run(cfg))
    return loadreport.load(out)


def test_sends_the_total_at_the_rate_and_records_every_request(stub, tmp_path):
    start = time.monotonic()
    config, records, summary = _run(tmp_path, url=_url(stub), rate=100.0, total=50)
    elapsed = time.monotonic() - start
    assert summary["sent"] == 50 and summary["reason"] == "total"
    assert sorted(r["i"] for r in records) == list(range(50))
    # 50 requests at 100/s: the last one leaves at 0.49 s, not earlier.
    assert 0.45 <= elapsed < 3
    first = min(r["t"] for r in records)
    last = max(r["t"] for r in records)
    assert 0.44 <= last - first <= 0.6
    assert {r["status"] for r in records} == {200}
    assert {r["db"] for r in records} == {"123-abc"}
    assert {r["node"] for r in records} == {"stub-node"}
    assert all(r["error"] is None and r["dt"] >= 0 for r in records)
    assert config["rate"] == 100.0


def test_every_request_is_a_new_connection(tmp_path):
    accepted = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while len(accepted) < 5:
            conn, addr = listener.accept()
            accepted.append(addr)
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    _, records, _ = _run(tmp_path, url=url, total=5)
    thread.join(5)
    listener.close()
    assert len(accepted) == 5 and len({port for _, port in accepted}) == 5
    assert [r["status"] for r in records] == [200] * 5


def test_stops_at_the_time_limit(stub, tmp_path):
    start = time.monotonic()
    _, records, summary = _run(tmp_path, url=_url(stub), rate=50.0, total=10_000, time_limit=0.5)
    assert time.monotonic() - start < 3
    assert summary["reason"] == "time-limit"
    assert 20 <= summary["sent"] <= 27 and len(records) == summary["sent"]


def test_stops_when_the_stop_file_appears(stub, tmp_path):
    stop = tmp_path / "stop"
    threading.Timer(0.3, stop.write_text, args=("stop\n",)).start()
    _, records, summary = _run(
        tmp_path, url=_url(stub), rate=100.0, total=10_000, time_limit=10.0, stop_file=str(stop)
    )
    assert summary["reason"] == "stop-file"
    assert 20 <= summary["sent"] <= 45 and len(records) == summary["sent"]


def test_counts_non_2xx_and_connection_errors(stub, tmp_path):
    _, records, _ = _run(tmp_path, url=_url(stub), total=6, paths=("/ok", "/missing", "/broken"))
    assert [r["status"] for r in sorted(records, key=lambda r: r["i"])] == [200, 404, 503] * 2
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: connection refused
    _, refused, _ = _run(tmp_path, url=f"http://127.0.0.1:{port}", total=3)
    assert all(r["status"] is None and "Connection" in r["error"] for r in refused)
    row = loadreport.summarize(*loadreport.load(tmp_path / "load.jsonl"), "refused")
    assert row["conn_errors"] == 3 and row["ok"] == 0 and row["non_2xx"] == 0


def test_a_silent_server_is_a_timeout(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog) but never answers
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    _, records, _ = _run(tmp_path, url=url, total=2, timeout=0.3)
    listener.close()
    assert [r["error"] for r in records] == ["timeout after 0.3 s"] * 2


def test_a_cut_answer_is_an_error_not_a_success(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    _, records, _ = _run(tmp_path, url=f"http://127.0.0.1:{listener.getsockname()[1]}", total=1)
    listener.close()
    assert records[0]["status"] is None and "short body" in records[0]["error"]


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.1:80",
        "http://example.com:18081",
        "https://example.com:18443",
        "ftp://127.0.0.1",
    ],
)
def test_refuses_anything_but_the_loopback(url, tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        loadgen.Config(url=url, rate=1, total=1, time_limit=1, out=str(tmp_path / "x"))


@pytest.mark.parametrize(
    ("url", "nets", "message"),
    [
        ("http://172.29.41.5", ("172.29.40.0/24",), "loopback or in 172.29.40.0/24"),
        ("http://host.example:80", ("172.29.40.0/24",), "loopback or in"),
        ("https://172.29.41.5", ("172.29.40.0/24",), "loopback or in"),
        ("http://93.184.216.34", ("93.184.216.0/24",), "only a private network"),
        ("http://10.1.2.3", ("10.0.0.0/8",), "only a private network"),
        ("http://127.0.0.2", ("127.0.0.0/24",), "only a private network"),
        ("http://172.29.40.5", ("172.29.40.0/33",), "not a network address"),
    ],
)
def test_allow_net_admits_its_own_network_only(url, nets, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        loadgen.Config(
            url=url, rate=1, total=1, time_limit=1, out=str(tmp_path / "x"), allow_net=nets
        )


def test_allow_net_admits_an_address_in_it(tmp_path):
    nets = ("172.29.40.0/24", "fd00:29::/64")
    for url in ("http://172.29.40.100", "http://[fd00:29::5]:8080", "http://127.0.0.1:1"):
        cfg = loadgen.Config(
            url=url, rate=1, total=1, time_limit=1, out=str(tmp_path / "x"), allow_net=nets
        )
        assert cfg.allow_net == nets
    with pytest.raises(SystemExit):  # the command line says what is wrong
        loadgen.main(
            ["--url", "http://172.29.40.100", "--total", "1", "--time-limit", "1", "--out", "x"]
        )


def test_bounds_must_be_positive(tmp_path):
    for bad in ({"rate": 0}, {"total": 0}, {"time_limit": -1}):
        args = {"url": "http://127.0.0.1:1", "rate": 1, "total": 1, "time_limit": 1} | bad
        with pytest.raises(ValueError, match="positive"):
            loadgen.Config(out=str(tmp_path / "x"), **args)


def test_parse_response():
    raw = b"HTTP/1.1 404 NOT FOUND\r\nX-Served-By: a\r\nContent-Length: 2\r\n\r\n{}"
    assert loadgen.parse_response(raw) == (404, {"x-served-by": "a", "content-length": "2"}, b"{}")
    for bad, message in [
        (b"", "empty"),
        (b"HTTP/1.1 200 OK\r\n", "no end of headers"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP answer"),
    ]:
        with pytest.raises(ValueError, match=message):
            loadgen.parse_response(bad)


def test_command_line_writes_the_file_and_prints_the_summary(stub, tmp_path):
    out = tmp_path / "cli.jsonl"
    cmd = [sys.executable, str(HARNESS / "loadgen.py"), "--url", _url(stub), "--total", "5"]
    cmd += ["--time-limit", "5", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(done.stdout)["sent"] == 5
    lines = out.read_text().splitlines()
    assert "config" in json.loads(lines[0]) and "summary" in json.loads(lines[-1])
    assert len(lines) == 7
    bad_cmd = [sys.executable, str(HARNESS / "loadgen.py"), "--url", "http://10.0.0.1"]
    bad = subprocess.run(
        [*bad_cmd, "--total", "1", "--time-limit", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and "loopback" in bad.stderr
