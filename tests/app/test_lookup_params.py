from __future__ import annotations

import ipaddress

import pytest


def test_ipv6_lookup(client):
    resp = client.get("/v1/ip/2001:4860:4860::8888")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["ip"] == "2001:4860:4860::8888"
    assert body["country"]["code"] == "US"
    net = ipaddress.ip_network(body["network"])
    assert net.version == 6 and ipaddress.ip_address("2001:4860:4860::8888") in net


@pytest.mark.parametrize("mapped", ["::ffff:114.114.114.114", "::ffff:7272:7272"])
def test_ipv4_mapped_answered_as_ipv4(client, mapped):
    body = client.get(f"/v1/ip/{mapped}").get_json()
    direct = client.get("/v1/ip/114.114.114.114").get_json()
    assert body == direct
    assert body["ip"] == "114.114.114.114"
    assert body["network"] == "114.114.0.0/16"


def test_ipv6_not_in_db(client):
    resp = client.get("/v1/ip/fe80::1")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"


def test_ipv6_zone_id_is_ignored_for_lookup(client):
    resp = client.get("/v1/ip/2001:4860:4860::8888%25eth0")
    assert resp.status_code == 200
    assert resp.get_json()["ip"] == "2001:4860:4860::8888"


@pytest.mark.parametrize(("lang", "country"), [("de", "China"), ("ja", "中国"), ("ru", "Китай")])
def test_lang_names(client, lang, country):
    body = client.get(f"/v1/ip/114.114.114.114?lang={lang}").get_json()
    assert body["country"]["name"] == country


def test_lang_missing_for_one_part_is_null(client):
    # Jiangsu has no German name in this DB: null rather than another language.
    body = client.get("/v1/ip/114.114.114.114?lang=de").get_json()
    assert body["region"] == {"code": "JS", "name": None}


@pytest.mark.parametrize("lang", ["xx", "EN", "zh", "en,de"])
def test_unsupported_lang(client, lang):
    resp = client.get(f"/v1/ip/8.8.8.8?lang={lang}")
    assert resp.status_code == 400
    err = resp.get_json()["error"]
    assert err["code"] == "unsupported_lang"
    assert "zh-CN" in err["message"]


def test_default_lang_from_env(db_path):
    from ipgeo import create_app

    app = create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_DEFAULT_LANG": "zh-CN"})
    body = app.test_client().get("/v1/ip/114.114.114.114").get_json()
    assert body["city"]["name"] == "南京"


def test_fields_select_top_level(client):
    body = client.get("/v1/ip/114.114.114.114?fields=country,city").get_json()
    assert body == {"country": {"code": "CN", "name": "China"}, "city": {"name": "Nanjing"}}


def test_fields_keep_request_order_and_dedupe(client):
    resp = client.get("/v1/ip/8.8.8.8?fields=network,ip,network")
    assert list(resp.get_json()) == ["network", "ip"]


@pytest.mark.parametrize("fields", ["country,planet", "", ",", "IP"])
def test_unknown_fields(client, fields):
    resp = client.get(f"/v1/ip/8.8.8.8?fields={fields}")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "unknown_field"
