from __future__ import annotations

import pytest


def test_known_answer_english(client):
    resp = client.get("/v1/ip/114.114.114.114")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert body["ip"] == "114.114.114.114"
    assert body["network"] == "114.114.0.0/16"
    assert body["country"] == {"code": "CN", "name": "China"}
    assert body["region"] == {"code": "JS", "name": "Jiangsu"}
    assert body["city"] == {"name": "Nanjing"}
    assert body["location"]["time_zone"] == "Asia/Shanghai"
    assert 31 < body["location"]["latitude"] < 33
    assert 118 < body["location"]["longitude"] < 120


def test_known_answer_chinese(client):
    body = client.get("/v1/ip/114.114.114.114?lang=zh-CN").get_json()
    assert body["country"] == {"code": "CN", "name": "中国"}
    assert body["region"] == {"code": "JS", "name": "江苏省"}
    assert body["city"] == {"name": "南京"}


def test_missing_parts_are_null_with_stable_keys(client):
    body = client.get("/v1/ip/8.8.8.8").get_json()
    assert body["country"]["code"] == "US"
    assert set(body) == {"ip", "network", "country", "region", "city", "location"}
    assert set(body["region"]) == {"code", "name"}
    assert set(body["city"]) == {"name"}
    assert set(body["location"]) == {"latitude", "longitude", "time_zone"}


def test_lookup_headers(client, node):
    resp = client.get("/v1/ip/8.8.8.8")
    assert resp.headers["X-Served-By"] == node
    assert resp.headers["X-DB-Version"]
    assert resp.headers["X-DB-Version"] == client.get("/v1/ip/1.1.1.1").headers["X-DB-Version"]


@pytest.mark.parametrize("ip", ["10.0.0.1", "192.168.1.1", "127.0.0.1", "240.0.0.1"])
def test_unknown_ip_is_404_json(client, ip):
    resp = client.get(f"/v1/ip/{ip}")
    assert resp.status_code == 404
    assert resp.mimetype == "application/json"
    assert resp.get_json()["error"]["code"] == "not_found"
    assert ip in resp.get_json()["error"]["message"]


@pytest.mark.parametrize("text", ["foo", "1.2.3", "256.1.1.1", "1.2.3.4/24", "01.2.3.4", "::g"])
def test_not_an_ip_is_400(client, text):
    resp = client.get(f"/v1/ip/{text}")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_ip"


def test_unknown_route_is_json_404(client, node):
    resp = client.get("/no/such/thing")
    assert resp.status_code == 404
    assert resp.mimetype == "application/json"
    err = resp.get_json()["error"]
    assert err["code"] == "not_found" and err["message"]
    assert resp.headers["X-Served-By"] == node


def test_wrong_method_is_json_405(client):
    resp = client.post("/v1/ip/8.8.8.8")
    assert resp.status_code == 405
    assert resp.mimetype == "application/json"
    assert resp.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]


def test_unexpected_exception_is_json_500(app, monkeypatch):
    from ipgeo.db import Database

    def boom(*_args):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(Database, "answer", boom)
    resp = app.test_client().get("/v1/ip/8.8.8.8")
    assert resp.status_code == 500
    assert resp.get_json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }
