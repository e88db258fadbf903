from __future__ import annotations

import ipaddress

import pytest
from ipgeo import create_app
from ipgeo.clientip import client_address
from ipgeo.config import parse_networks

LB = "192.0.2.10"
PROXIES = parse_networks(f"{LB},198.51.100.0/24")


@pytest.mark.parametrize(
    ("peer", "xff", "hops", "expected"),
    [
        # Untrusted peer: its own address, whatever it claims.
        ("203.0.113.5", ["8.8.8.8"], 1, "203.0.113.5"),
        # Trusted LB, one layer: the rightmost entry.
        (LB, ["114.114.114.114"], 1, "114.114.114.114"),
        # A forged leftmost entry sent by the client through the LB does not matter.
        (LB, ["1.2.3.4, 114.114.114.114"], 1, "114.114.114.114"),
        (LB, ["1.2.3.4", "114.114.114.114"], 1, "114.114.114.114"),
        # Two layers: second from the right.
        ("198.51.100.7", ["6.6.6.6, 114.114.114.114, 10.1.1.1"], 2, "114.114.114.114"),
        # Fewer entries than layers, or garbage: fall back to the peer.
        (LB, [], 1, LB),
        ("198.51.100.7", ["114.114.114.114"], 2, "198.51.100.7"),
        (LB, ["not-an-ip"], 1, LB),
        # IPv4-mapped peer (dual-stack socket) is still recognised as the LB.
        (f"::ffff:{LB}", ["8.8.8.8"], 1, "8.8.8.8"),
        (LB, ["2001:db8::1"], 1, "2001:db8::1"),
    ],
)
def test_client_address(peer, xff, hops, expected):
    assert client_address(peer, xff, PROXIES, hops) == ipaddress.ip_address(expected)


def test_no_proxies_configured_ignores_xff():
    assert client_address(LB, ["8.8.8.8"], (), 1) == ipaddress.ip_address(LB)


@pytest.fixture
def proxied(db_path):
    app = create_app(
        {"IPGEO_DB_PATH": str(db_path), "IPGEO_TRUSTED_PROXIES": f" {LB} , 198.51.100.0/24"}
    )
    return app.test_client()


def test_self_lookup_behind_lb(proxied):
    resp = proxied.get(
        "/v1/ip",
        headers={"X-Forwarded-For": "8.8.8.8, 114.114.114.114"},
        environ_base={"REMOTE_ADDR": LB},
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["ip"] == "114.114.114.114"
    assert body["city"]["name"] == "Nanjing"
    assert resp.headers["Cache-Control"] == "private, no-store"


def test_self_lookup_direct_client_cannot_forge(proxied):
    resp = proxied.get(
        "/v1/ip",
        headers={"X-Forwarded-For": "114.114.114.114"},
        environ_base={"REMOTE_ADDR": "8.8.8.8"},
    )
    assert resp.get_json()["ip"] == "8.8.8.8"
    assert resp.get_json()["country"]["code"] == "US"


def test_self_lookup_private_address_has_null_location(client):
    resp = client.get("/v1/ip", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["ip"] == "10.1.2.3"
    assert body["network"] is None
    assert body["country"] == {"code": None, "name": None}
    assert body["location"] == {"latitude": None, "longitude": None, "time_zone": None}


def test_self_lookup_lang_and_fields(client):
    resp = client.get(
        "/v1/ip?lang=zh-CN&fields=ip,country", environ_base={"REMOTE_ADDR": "114.114.114.114"}
    )
    assert resp.get_json() == {"ip": "114.114.114.114", "country": {"code": "CN", "name": "中国"}}


def test_bad_proxy_config_is_rejected(db_path):
    from ipgeo.config import ConfigError

    with pytest.raises(ConfigError, match="IPGEO_TRUSTED_PROXIES"):
        create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_TRUSTED_PROXIES": "10.0.0.0/33"})
    with pytest.raises(ConfigError, match="IPGEO_PROXY_HOPS"):
        create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_PROXY_HOPS": "0"})
