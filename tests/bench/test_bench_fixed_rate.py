"""The open-loop client of row 3 against small local servers: every request sent at its time,
2xx answers timed, everything else (other statuses, closed connections, silence) an error."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.common import fixed_rate, is_public, sample_ipv6


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the servers under test

    def do_GET(self) -> None:
        status = 404 if self.path.endswith("/missing") else 200
        body = b'{"ok":true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_every_request_answered_and_timed(server):
    # A low rate: the test server is Python's, on a machine that may be busy.
    run = fixed_rate(server, ["/v1/ip/1.2.3.4"], rate=40, seconds=1, connections=4)
    assert run.sent == 40
    assert run.answered == 40 and run.errors == 0
    assert len(run.latencies_ms) == 40 and min(run.latencies_ms) >= 0
    assert 0.9 <= run.seconds <= 12


def test_other_statuses_are_errors(server):
    run = fixed_rate(server, ["/v1/ip/1.2.3.4", "/v1/ip/missing"], rate=40, seconds=1)
    assert run.sent == 40
    assert 0 < run.errors < 40
    assert run.answered + run.errors == 40


def test_a_silent_server_gives_errors_not_a_hang():
    # Accepts (the kernel does, from the backlog) but never answers.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        run = fixed_rate(url, ["/"], rate=4, seconds=1, connections=2)
    assert run.sent == 4 and run.answered == 0 and run.errors == 4


def test_only_loopback():
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        fixed_rate("http://192.0.2.1:80", ["/"], rate=1, seconds=1)


def test_address_samples():
    assert is_public("8.8.8.8") and not is_public("10.1.2.3") and not is_public("127.0.0.1")
    six = sample_ipv6(100)
    assert six == sample_ipv6(100) and len(set(six)) == 100
    assert all(ipaddress.IPv6Address(a) in ipaddress.ip_network("2000::/3") for a in six)
