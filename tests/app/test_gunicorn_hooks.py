from __future__ import annotations

from types import SimpleNamespace

from ipgeo import gunicorn_hooks


def test_load_env_file(tmp_path):
    env = tmp_path / "ipgeo.env"
    env.write_text(
        "# comment\n"
        "\n"
        "IPGEO_DB_PATH=/srv/db.mmdb\n"
        "  IPGEO_NODE_NAME = node-1  \n"
        "export IPGEO_RELEASE='r 7'\n"
        'IPGEO_TRUSTED_PROXIES="10.0.0.1,10.0.0.2"\n'
        "IPGEO_EMPTY=\n"
        "not a setting\n"
        "URL=http://x/?a=b\n"
    )
    assert gunicorn_hooks.load_env_file(str(env)) == [
        "IPGEO_DB_PATH=/srv/db.mmdb",
        "IPGEO_NODE_NAME=node-1",
        "IPGEO_RELEASE=r 7",
        "IPGEO_TRUSTED_PROXIES=10.0.0.1,10.0.0.2",
        "IPGEO_EMPTY=",
        "URL=http://x/?a=b",
    ]


def test_load_env_file_missing(tmp_path):
    assert gunicorn_hooks.load_env_file(str(tmp_path / "nope.env")) == []


def test_on_starting_empties_metrics_dir(tmp_path, monkeypatch):
    mdir = tmp_path / "metrics"
    (mdir / "sub").mkdir(parents=True)
    (mdir / "counter_123.db").write_bytes(b"x")
    (mdir / "sub" / "f").write_bytes(b"y")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(mdir))
    gunicorn_hooks.on_starting(SimpleNamespace())
    assert mdir.is_dir()
    assert list(mdir.iterdir()) == []


def test_on_starting_creates_missing_dir(tmp_path, monkeypatch):
    mdir = tmp_path / "new"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(mdir))
    gunicorn_hooks.on_starting(SimpleNamespace())
    assert mdir.is_dir()


def test_on_starting_without_dir_touches_nothing(tmp_path):
    keep = tmp_path / "keep"
    keep.write_text("x")
    gunicorn_hooks.on_starting(SimpleNamespace())
    assert keep.exists()


def test_child_exit_marks_worker_dead(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    # Files of live-mode gauges carry the pid; marking the worker dead removes them.
    (tmp_path / "gauge_liveall_4242.db").write_bytes(b"x")
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"x")
    (tmp_path / "gauge_liveall_999.db").write_bytes(b"x")
    (tmp_path / "counter_4242.db").write_bytes(b"x")
    gunicorn_hooks.child_exit(SimpleNamespace(), SimpleNamespace(pid=4242))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_4242.db", "gauge_liveall_999.db"]


def test_gunicorn_own_errors_are_json(gunicorn_two_workers):
    import http.client
    import json
    import urllib.parse

    base, _ = gunicorn_two_workers
    host = urllib.parse.urlsplit(base)
    # gunicorn rejects a request line over 4094 bytes itself, before the app sees it.
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    conn.request("GET", "/v1/ip/" + "1" * 9000)
    resp = conn.getresponse()
    assert resp.status == 414
    assert resp.getheader("Content-Type") == "application/json"
    assert resp.getheader("X-Served-By") == "metrics-test"
    body = json.loads(resp.read())
    assert body["error"]["code"] == "uri_too_long"
    assert body["error"]["message"]
    conn.close()
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    conn.request("GET", "/healthz", headers={"X-Big": "x" * 9000})
    resp = conn.getresponse()
    assert resp.status == 431
    assert json.loads(resp.read())["error"]["code"]
    conn.close()


def test_write_json_error_format():
    import json
    import socket as socketlib

    left, right = socketlib.socketpair()
    try:
        gunicorn_hooks.write_json_error(left, 414, "Request-URI Too Long", "too long")
        raw = right.recv(4096).decode()
    finally:
        left.close()
        right.close()
    head, body = raw.split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.1 414 Request-URI Too Long")
    assert "Content-Type: application/json" in head
    assert json.loads(body) == {"error": {"code": "request_uri_too_long", "message": "too long"}}
