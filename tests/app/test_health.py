from __future__ import annotations

import hashlib

from ipgeo import __version__, create_app


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_readyz_reports_the_loaded_db(client, db_path, node):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ready"
    assert body["node"] == node
    assert body["release"] == __version__
    db = body["db"]
    assert db["type"] == "GeoLite2-City"
    assert db["sha256"] == hashlib.sha256(db_path.read_bytes()).hexdigest()
    assert db["build_date"].startswith("2018-07-03T") and db["build_date"].endswith("Z")
    assert isinstance(db["build_epoch"], int)
    assert "en" in db["languages"] and "zh-CN" in db["languages"]
    assert db["path"] == str(db_path)


def test_release_and_node_from_env(db_path):
    app = create_app(
        {"IPGEO_DB_PATH": str(db_path), "IPGEO_RELEASE": "r42", "IPGEO_NODE_NAME": "n-9"}
    )
    resp = app.test_client().get("/readyz")
    assert resp.get_json()["release"] == "r42"
    assert resp.get_json()["node"] == "n-9"
    assert resp.headers["X-Served-By"] == "n-9"


def test_missing_db_still_serves_liveness(tmp_path):
    app = create_app({"IPGEO_DB_PATH": str(tmp_path / "absent.mmdb")})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["error"]["code"] == "not_ready"
    assert "not found" in ready.get_json()["error"]["message"]
    lookup = client.get("/v1/ip/8.8.8.8")
    assert lookup.status_code == 503
    assert lookup.get_json()["error"]["code"] == "not_ready"


def test_unset_db_path_is_not_ready():
    resp = create_app({}).test_client().get("/readyz")
    assert resp.status_code == 503
    assert "IPGEO_DB_PATH" in resp.get_json()["error"]["message"]


def test_garbage_db_is_not_ready(tmp_path):
    bad = tmp_path / "bad.mmdb"
    bad.write_text("not a database\n")
    resp = create_app({"IPGEO_DB_PATH": str(bad)}).test_client().get("/readyz")
    assert resp.status_code == 503
    assert "unknown format" in resp.get_json()["error"]["message"]


def test_db_that_appears_later_is_picked_up(tmp_path, db_path, monkeypatch):
    from ipgeo.db import DatabaseHolder

    monkeypatch.setattr(DatabaseHolder, "RETRY_SECONDS", 0.0)
    target = tmp_path / "late.mmdb"
    client = create_app({"IPGEO_DB_PATH": str(target)}).test_client()
    assert client.get("/readyz").status_code == 503
    target.symlink_to(db_path)
    assert client.get("/readyz").status_code == 200
