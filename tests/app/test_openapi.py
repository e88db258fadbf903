"""Real responses of every documented status validate against /v1/openapi.json."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from ipgeo import create_app


@pytest.fixture(scope="module")
def doc(db_path):
    return (
        create_app({"IPGEO_DB_PATH": str(db_path)}).test_client().get("/v1/openapi.json").get_json()
    )


def _walk(node, found):
    if isinstance(node, dict):
        if "properties" in node:
            found.append(node)
        for value in node.values():
            _walk(value, found)
    elif isinstance(node, list):
        for value in node:
            _walk(value, found)
    return found


def test_every_object_schema_is_closed_and_says_what_is_required(doc):
    objects = _walk(doc["components"]["schemas"], [])
    assert len(objects) >= 10
    for schema in objects:
        assert schema.get("additionalProperties") is False, schema
        assert "required" in schema, schema
        assert set(schema["required"]) <= set(schema["properties"]), schema


def test_document_is_valid_json_schema(doc):
    for name, schema in doc["components"]["schemas"].items():
        assert name
        jsonschema.Draft202012Validator.check_schema(schema)


def _check(doc, covered, template, method, resp):
    op = doc["paths"][template][method]
    status = str(resp.status_code)
    assert status in op["responses"], f"{method.upper()} {template}: undocumented status {status}"
    covered.add((template, method, status))
    spec = op["responses"][status]
    if "content" not in spec:
        assert resp.data == b""
        return
    assert resp.mimetype in spec["content"], f"{template} {status}: {resp.mimetype} undocumented"
    schema = spec["content"][resp.mimetype]["schema"]
    body = resp.get_json() if resp.mimetype == "application/json" else resp.get_data(as_text=True)
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(body)


def test_real_responses_match_the_document(doc, db_path, tmp_path):
    client = create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_BATCH_LIMIT": "5"}).test_client()
    down = create_app({"IPGEO_DB_PATH": str(tmp_path / "missing.mmdb")}).test_client()
    codes = Path(__file__).parent / "data" / "adcodes.tsv"
    coded = create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_ADCODE_FILE": str(codes)})
    coded = coded.test_client()
    covered: set[tuple[str, str, str]] = set()
    peer = {"REMOTE_ADDR": "114.114.114.114"}
    private = {"REMOTE_ADDR": "10.9.8.7"}

    def check(template, method, resp):
        _check(doc, covered, template, method, resp)

    one = "/v1/ip/{ip}"
    etag = client.get("/v1/ip/8.8.8.8").headers["ETag"]
    check(one, "get", client.get("/v1/ip/8.8.8.8"))
    check(one, "get", client.get("/v1/ip/2001:4860:4860::8888?lang=zh-CN"))
    check(one, "get", client.get("/v1/ip/8.8.8.8?fields=country,ip"))
    check(one, "get", client.get("/v1/ip/8.8.8.8", headers={"If-None-Match": etag}))
    check(one, "get", client.get("/v1/ip/bogus"))
    check(one, "get", client.get("/v1/ip/8.8.8.8?lang=xx"))
    check(one, "get", client.get("/v1/ip/8.8.8.8?fields=xx"))
    check(one, "get", client.get("/v1/ip/10.0.0.1"))
    check(one, "get", down.get("/v1/ip/8.8.8.8"))
    # With a code dictionary: region and city carry adcodes (matched or null).
    for ip in ("114.114.114.114", "1.0.1.1", "8.8.8.8"):
        resp = coded.get(f"/v1/ip/{ip}")
        assert "adcode" in resp.get_json()["city"]
        check(one, "get", resp)
    check(one, "get", coded.get("/v1/ip/114.114.114.114?fields=region"))

    check("/v1/ip", "get", client.get("/v1/ip", environ_base=peer))
    check("/v1/ip", "get", client.get("/v1/ip", environ_base=private))
    check("/v1/ip", "get", client.get("/v1/ip?fields=city", environ_base=peer))
    check("/v1/ip", "get", client.get("/v1/ip?lang=xx", environ_base=peer))
    check("/v1/ip", "get", down.get("/v1/ip", environ_base=peer))

    b = "/v1/batch"
    check(b, "post", client.post(b, json={"ips": ["8.8.8.8", "10.0.0.1", "x", 5]}))
    check(b, "post", client.post(b + "?fields=ip", json={"ips": ["8.8.8.8"]}))
    check(b, "post", client.post(b, data=b"{", content_type="application/json"))
    check(b, "post", client.post(b, json={"ips": ["8.8.8.8"] * 6}))
    check(b, "post", client.post(b, data=b"x" * 10_000_000, content_type="application/json"))
    check(b, "post", client.post(b, data=b"{}", content_type="text/plain"))
    check(b, "post", down.post(b, json={"ips": []}))
    check(b, "post", coded.post(b, json={"ips": ["114.114.114.114", "8.8.8.8", "10.0.0.1", 5]}))
    check("/v1/ip", "get", coded.get("/v1/ip", environ_base=peer))

    check("/", "get", client.get("/", environ_base=peer))
    check("/", "get", client.get("/", headers={"User-Agent": "curl/8"}, environ_base=peer))
    check("/", "get", client.get("/", headers={"Accept": "text/html"}, environ_base=peer))
    check("/", "get", client.get("/?lang=xx", environ_base=peer))
    check("/", "get", down.get("/", environ_base=peer))

    check("/healthz", "get", client.get("/healthz"))
    check("/healthz", "get", down.get("/healthz"))
    check("/readyz", "get", client.get("/readyz"))
    check("/readyz", "get", down.get("/readyz"))
    check("/readyz", "get", coded.get("/readyz"))
    check("/metrics", "get", client.get("/metrics"))
    check("/v1/openapi.json", "get", client.get("/v1/openapi.json"))

    documented = {
        (path, method, status)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        for status in op["responses"]
    }
    assert documented - covered == set(), "documented statuses never exercised"
