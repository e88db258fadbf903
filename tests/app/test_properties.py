"""Property tests with generated input (>= 10,000 examples in all), ``ipaddress`` as oracle."""

from __future__ import annotations

import ipaddress
import json
import logging
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ipgeo import create_app

COMMON = {
    "deadline": None,
    "database": None,  # no example DB in the work tree
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
CODES = {
    "invalid_ip",
    "not_found",
    "unsupported_lang",
    "unknown_field",
    "invalid_json",
    "invalid_request",
    "too_many_ips",
    "unsupported_media_type",
    "request_entity_too_large",
    "method_not_allowed",
    "unknown_client",
}


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(scope="module")
def app_and_log(db_path):
    app = create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_TRUSTED_PROXIES": "127.0.0.0/8"})
    handler = _Errors()
    app.logger.addHandler(handler)
    yield app, handler
    app.logger.removeHandler(handler)
    assert handler.records == [], "the app logged errors"


def _assert_sane(resp):
    assert resp.status_code < 500, resp.get_data(as_text=True)
    if resp.status_code >= 400:
        assert resp.mimetype == "application/json"
        err = resp.get_json()["error"]
        assert err["code"] in CODES, err
        assert isinstance(err["message"], str)


def _oracle(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# ASCII hex digits, Arabic-Indic digits and fullwidth digits.
DIGITS = "0123456789abcdefABCDEF" + "".join(map(chr, range(0x660, 0x66A))) + "\uff10\uff11\uff12"
ip_like = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda ip: ip.exploded),
    st.ip_addresses(v=4).map(lambda ip: f"::ffff:{ip}"),
    st.ip_addresses(v=6).map(lambda ip: f"{ip}%{'eth0'}"),
    st.tuples(*[st.integers(0, 300)] * 4).map(lambda t: ".".join(map(str, t))),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(f"{x:03d}" for x in t)),
    st.ip_addresses().map(lambda ip: f" {ip}"),
    st.ip_addresses().map(lambda ip: f"{ip}\n"),
    st.text(alphabet=DIGITS + ".:%/ \t", max_size=45),
    st.text(max_size=60),
    st.text(alphabet="0123456789.:", min_size=1, max_size=3000),
)


def test_ip_acceptance_agrees_with_ipaddress(app_and_log):
    app, _ = app_and_log
    client = app.test_client()
    seen = []

    @settings(max_examples=4000, **COMMON)
    @given(text=ip_like.filter(lambda s: s not in ("", ".", "..")), encode_all=st.booleans())
    def run(text, encode_all):
        seen.append(text)
        path = quote(text, safe="" if encode_all else ":")
        resp = client.get(f"/v1/ip/{path}")
        _assert_sane(resp)
        if _oracle(text):
            assert resp.status_code in (200, 404), (text, resp.get_json())
            if resp.status_code == 404:
                assert resp.get_json()["error"]["code"] == "not_found"
        else:
            assert resp.status_code == 400, (text, resp.status_code)
            assert resp.get_json()["error"]["code"] == "invalid_ip"

    run()
    assert len(seen) >= 4000


def test_query_strings(app_and_log):
    app, _ = app_and_log
    client = app.test_client()
    seen = []
    values = st.one_of(st.sampled_from(["en", "zh-CN", "de", "ip,city", "country", ""]), st.text())

    @settings(max_examples=2000, **COMMON)
    @given(
        path=st.sampled_from(["/v1/ip/8.8.8.8", "/v1/ip", "/", "/v1/ip/10.0.0.1"]),
        params=st.dictionaries(st.sampled_from(["lang", "fields", "ip", "x"]), values),
    )
    def run(path, params):
        seen.append(1)
        resp = client.get(path, query_string=params, environ_base={"REMOTE_ADDR": "8.8.4.4"})
        _assert_sane(resp)
        if resp.status_code == 400:
            assert resp.get_json()["error"]["code"] in {"unsupported_lang", "unknown_field"}

    run()
    assert len(seen) >= 2000


def test_headers(app_and_log):
    app, _ = app_and_log
    client = app.test_client()
    seen = []
    header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200)
    forwarded = st.one_of(
        header_text,
        st.lists(st.ip_addresses().map(str), max_size=4).map(", ".join),
    )

    @settings(max_examples=2000, **COMMON)
    @given(
        path=st.sampled_from(["/", "/v1/ip", "/v1/ip/1.1.1.1", "/healthz", "/readyz"]),
        xff=forwarded,
        accept=st.one_of(
            header_text, st.sampled_from(["text/html", "text/plain", "application/json", "*/*"])
        ),
        agent=st.one_of(header_text, st.sampled_from(["curl/8.0", "Wget/1.21", "Mozilla/5.0"])),
        inm=header_text,
        peer=st.sampled_from(["127.0.0.1", "8.8.8.8", "::1", "10.0.0.1"]),
    )
    def run(path, xff, accept, agent, inm, peer):
        seen.append(1)
        resp = client.get(
            path,
            headers={
                "X-Forwarded-For": xff,
                "Accept": accept,
                "User-Agent": agent,
                "If-None-Match": inm,
            },
            environ_base={"REMOTE_ADDR": peer},
        )
        _assert_sane(resp)
        if path == "/v1/ip" and peer != "127.0.0.1":
            # An untrusted peer's X-Forwarded-For never decides the answer.
            assert resp.get_json()["ip"] == str(ipaddress.ip_address(peer))

    run()
    assert len(seen) >= 2000


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=20,
)


def test_batch_bodies(app_and_log):
    app, _ = app_and_log
    client = app.test_client()
    seen = []
    body = st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: json.dumps(v)),
        st.lists(st.one_of(ip_like, json_values), max_size=30).map(
            lambda ips: json.dumps({"ips": ips})
        ),
    )

    @settings(max_examples=2000, **COMMON)
    @given(
        data=body,
        ctype=st.sampled_from(
            ["application/json", "application/json; charset=utf-8", "text/plain", "", "x/y"]
        ),
    )
    def run(data, ctype):
        seen.append(1)
        resp = client.post("/v1/batch", data=data, content_type=ctype or None)
        _assert_sane(resp)
        if resp.status_code == 200:
            assert isinstance(resp.get_json()["results"], list)

    run()
    assert len(seen) >= 2000


def test_random_paths(app_and_log):
    app, _ = app_and_log
    client = app.test_client()
    seen = []

    @settings(max_examples=1000, **COMMON)
    @given(path=st.text(max_size=100), method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
    def run(path, method):
        seen.append(1)
        # A leading "//" would make the test client read a host name.
        resp = client.open("/" + quote(path.lstrip("/"), safe="/"), method=method)
        _assert_sane(resp)

    run()
    assert len(seen) >= 1000
