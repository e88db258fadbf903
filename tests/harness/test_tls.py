"""HTTPS in the harness: the load generator over TLS (verified, the certificate recorded) and
the TLS probe (versions refused by the server, ALPN, the certificate served), against local
TLS servers with certificates from scripts/demo-tls-ca.sh."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import shutil
import socket
import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import loadgen
import loadreport
import pytest
import tlsprobe

REPO = Path(__file__).resolve().parents[2]
NAME = "lb.ipgeo.test"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _make_ca(directory: Path) -> Path:
    subprocess.run(
        [str(REPO / "scripts" / "demo-tls-ca.sh"), str(directory), NAME],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return directory


def _sha256(cert: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.read_text())).hexdigest()


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> Path:
    return _make_ca(tmp_path_factory.mktemp("ca"))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "host": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-DB-Version", "123-abc")
        self.send_header("X-Served-By", "tls-stub")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    ctx: ssl.SSLContext

    def get_request(self):
        sock, addr = super().get_request()
        return self.ctx.wrap_socket(sock, server_side=True), addr


def _server_context(cert_dir: Path, lowest: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if lowest < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = lowest
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    ctx.load_cert_chain(cert_dir / "lb.crt", cert_dir / "lb.key")
    return ctx


@pytest.fixture
def tls_server(ca) -> Iterator[_TLSServer]:
    server = _TLSServer(("127.0.0.1", 0), _Handler)
    server.ctx = _server_context(ca, ssl.TLSVersion.TLSv1_2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run(tmp_path: Path, server: _TLSServer, **kw) -> tuple[dict, list[dict], dict | None]:
    out = tmp_path / "load.jsonl"
    args = {
        "url": f"https://127.0.0.1:{server.server_address[1]}",
        "rate": 200.0,
        "total": 40,
        "time_limit": 10.0,
        "out": str(out),
        "paths": ("/v1/ip/8.8.8.8",),
        "timeout": 5.0,
    } | kw
    asyncio.run(loadgen.run(loadgen.Config(**args)))
    return loadreport.load(out)


def test_https_is_verified_and_records_the_certificate(ca, tls_server, tmp_path):
    _, records, summary = _run(tmp_path, tls_server, cacert=str(ca / "ca.crt"), server_name=NAME)
    assert summary["sent"] == 40
    assert [r["status"] for r in records] == [200] * 40
    assert {r["cert"] for r in records} == {_sha256(ca / "lb.crt")}
    assert {r["node"] for r in records} == {"tls-stub"}


def test_https_refuses_a_certificate_of_another_ca(tls_server, tmp_path):
    other = _make_ca(tmp_path / "other")
    _, records, _ = _run(tmp_path, tls_server, cacert=str(other / "ca.crt"), total=5)
    assert len(records) == 5
    assert all(r["status"] is None and "CERTIFICATE_VERIFY_FAILED" in r["error"] for r in records)


def test_https_refuses_a_wrong_name(ca, tls_server, tmp_path):
    _, records, _ = _run(
        tmp_path, tls_server, cacert=str(ca / "ca.crt"), server_name="wrong.ipgeo.test", total=5
    )
    assert all(r["status"] is None and "Hostname mismatch" in r["error"] for r in records)


def test_a_rotated_certificate_shows_in_the_records(ca, tls_server, tmp_path):
    first = _sha256(ca / "lb.crt")
    rotated = tmp_path / "rotated"
    rotated.mkdir()
    for name in ("ca.crt", "ca.key"):
        shutil.copy(ca / name, rotated / name)
    _make_ca(rotated)  # the same CA kept, a new key and certificate
    assert _sha256(rotated / "lb.crt") != first
    _, before, _ = _run(tmp_path, tls_server, cacert=str(ca / "ca.crt"), total=5)
    tls_server.ctx = _server_context(rotated, ssl.TLSVersion.TLSv1_2)
    _, after, _ = _run(tmp_path, tls_server, cacert=str(ca / "ca.crt"), total=5)
    assert {r["cert"] for r in before} == {first}
    assert {r["cert"] for r in after} == {_sha256(rotated / "lb.crt")}
    assert [r["status"] for r in before + after] == [200] * 10


def test_https_needs_a_ca_and_http_takes_none(ca, tmp_path):
    base = {"rate": 1, "total": 1, "time_limit": 1, "out": str(tmp_path / "x")}
    with pytest.raises(ValueError, match="needs --cacert"):
        loadgen.Config(url="https://127.0.0.1:18443", **base)
    with pytest.raises(ValueError, match="https:// --url only"):
        loadgen.Config(url="http://127.0.0.1:18080", cacert=str(ca / "ca.crt"), **base)
    with pytest.raises(ValueError, match="loopback"):
        loadgen.Config(url="https://192.0.2.1:443", cacert=str(ca / "ca.crt"), **base)


def _probe_server(ca: Path, lowest: ssl.TLSVersion) -> tuple[socket.socket, threading.Thread]:
    """A TLS listener that completes (or refuses) handshakes and closes, until its socket closes."""
    ctx = _server_context(ca, lowest)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_probe_sees_tls_1_1_refused_by_the_server(ca):
    listener, _ = _probe_server(ca, ssl.TLSVersion.TLSv1_2)
    try:
        got = tlsprobe.probe("127.0.0.1", listener.getsockname()[1], NAME, str(ca / "ca.crt"))
    finally:
        listener.close()
    assert "ALERT" in got["1.1"]["error"]
    assert got["1.2"]["version"] == "TLSv1.2"
    assert got["1.3"]["version"] == got["default"]["version"] == "TLSv1.3"
    assert got["default"]["alpn"] == "h2"
    assert got["default"]["sha256"] == _sha256(ca / "lb.crt")
    assert got["default"]["serial"]


def test_probe_sees_tls_1_1_when_the_server_takes_it(ca):
    # The check above can fail: a server that takes TLS 1.1 is seen taking it.
    listener, _ = _probe_server(ca, ssl.TLSVersion.TLSv1_1)
    try:
        got = tlsprobe.probe("127.0.0.1", listener.getsockname()[1], NAME, str(ca / "ca.crt"))
    finally:
        listener.close()
    assert got["1.1"].get("version") == "TLSv1.1", got["1.1"]


def test_probe_fails_verification_for_a_wrong_name(ca):
    listener, _ = _probe_server(ca, ssl.TLSVersion.TLSv1_2)
    try:
        got = tlsprobe.probe(
            "127.0.0.1", listener.getsockname()[1], "wrong.test", str(ca / "ca.crt")
        )
    finally:
        listener.close()
    assert "Hostname mismatch" in got["default"]["error"]


def test_probe_refuses_anything_but_the_loopback(ca):
    with pytest.raises(ValueError, match="loopback"):
        tlsprobe.probe("192.0.2.1", 443, NAME, str(ca / "ca.crt"))
