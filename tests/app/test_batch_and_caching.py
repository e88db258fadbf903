from __future__ import annotations

import orjson
import pytest
from ipgeo import create_app


def test_batch_results_in_request_order(client):
    ips = ["8.8.8.8", "114.114.114.114", "10.0.0.1", "nope", "::ffff:8.8.8.8", 42]
    resp = client.post("/v1/batch", json={"ips": ips})
    assert resp.status_code == 200
    results = resp.get_json()["results"]
    assert len(results) == len(ips)
    assert results[0]["country"]["code"] == "US"
    assert results[1] == client.get("/v1/ip/114.114.114.114").get_json()
    assert results[2] == {
        "ip": "10.0.0.1",
        "error": {"code": "not_found", "message": "10.0.0.1 is not in the database"},
    }
    assert results[3]["ip"] == "nope" and results[3]["error"]["code"] == "invalid_ip"
    assert results[4]["ip"] == "8.8.8.8"
    assert results[5]["ip"] == 42 and results[5]["error"]["code"] == "invalid_ip"


def test_batch_lang_and_fields(client):
    resp = client.post("/v1/batch?lang=zh-CN&fields=city", json={"ips": ["114.114.114.114"]})
    assert resp.get_json() == {"results": [{"city": {"name": "南京"}}]}


def test_batch_empty(client):
    assert client.post("/v1/batch", json={"ips": []}).get_json() == {"results": []}


def test_batch_over_limit_is_413(db_path):
    client = create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_BATCH_LIMIT": "3"}).test_client()
    ok = client.post("/v1/batch", json={"ips": ["8.8.8.8"] * 3})
    assert ok.status_code == 200
    resp = client.post("/v1/batch", json={"ips": ["8.8.8.8"] * 4})
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "too_many_ips"


def test_batch_huge_body_is_413_json(client):
    body = orjson.dumps({"ips": ["1.1.1.1"] * 200_000})
    resp = client.post("/v1/batch", data=body, content_type="application/json")
    assert resp.status_code == 413
    assert resp.mimetype == "application/json"
    assert resp.get_json()["error"]["code"]


@pytest.mark.parametrize("body", [b"{", b"", b"\xff\xfe", b'{"ips": [1,]}'])
def test_batch_malformed_json_is_400(client, body):
    resp = client.post("/v1/batch", data=body, content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("payload", [[], {"ip": []}, {"ips": "8.8.8.8"}, "x", None])
def test_batch_wrong_shape_is_400(client, payload):
    resp = client.post("/v1/batch", data=orjson.dumps(payload), content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_batch_wrong_content_type_is_415(client, ctype):
    kwargs = {"content_type": ctype} if ctype else {}
    resp = client.post("/v1/batch", data=b'{"ips": []}', **kwargs)
    assert resp.status_code == 415
    assert resp.get_json()["error"]["code"] == "unsupported_media_type"


def test_batch_get_is_405(client):
    assert client.get("/v1/batch").status_code == 405


def test_lookup_caching_headers_and_304(client):
    first = client.get("/v1/ip/8.8.8.8")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert "max-age=" in first.headers["Cache-Control"]
    again = client.get("/v1/ip/8.8.8.8", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["X-DB-Version"] == first.headers["X-DB-Version"]
    weak = client.get("/v1/ip/8.8.8.8", headers={"If-None-Match": f"W/{etag}"})
    assert weak.status_code == 304
    other = client.get("/v1/ip/8.8.8.8", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_etag_depends_on_lang_fields_and_release(client, db_path):
    base = client.get("/v1/ip/8.8.8.8").headers["ETag"]
    assert client.get("/v1/ip/8.8.8.8?lang=zh-CN").headers["ETag"] != base
    assert client.get("/v1/ip/8.8.8.8?fields=ip").headers["ETag"] != base
    other = create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_RELEASE": "r2"}).test_client()
    assert other.get("/v1/ip/8.8.8.8").headers["ETag"] != base


def test_self_lookup_is_not_cacheable(client):
    resp = client.get("/v1/ip", environ_base={"REMOTE_ADDR": "8.8.8.8"})
    assert resp.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in resp.headers
