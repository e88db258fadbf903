from __future__ import annotations

import pytest

PEER = {"REMOTE_ADDR": "114.114.114.114"}


def test_curl_gets_plain_text(client):
    resp = client.get(
        "/", headers={"User-Agent": "curl/7.88.1", "Accept": "*/*"}, environ_base=PEER
    )
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    assert resp.get_data(as_text=True) == "114.114.114.114\n"
    assert "Accept" in resp.headers["Vary"]
    assert resp.headers["Cache-Control"] == "private, no-store"


def test_browser_gets_html(client):
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    resp = client.get(
        "/", headers={"Accept": accept, "User-Agent": "Mozilla/5.0"}, environ_base=PEER
    )
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "114.114.114.114" in page and "Nanjing" in page and "<form" in page
    assert "Accept" in resp.headers["Vary"]


def test_html_form_lookup_escapes_input(client):
    resp = client.get("/?ip=<script>", headers={"Accept": "text/html"}, environ_base=PEER)
    page = resp.get_data(as_text=True)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "not an IP address" in page


def test_html_form_lookup_other_ip(client):
    resp = client.get("/?ip=8.8.8.8", headers={"Accept": "text/html"}, environ_base=PEER)
    assert "United States" in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [
        {"User-Agent": "python-requests/2.32", "Accept": "*/*"},
        {"User-Agent": "curl/8.0", "Accept": "application/json"},
        {},
    ],
)
def test_json_otherwise(client, headers):
    resp = client.get("/", headers=headers, environ_base=PEER)
    assert resp.mimetype == "application/json"
    assert resp.get_json()["ip"] == "114.114.114.114"
    assert resp.get_json()["country"]["code"] == "CN"


def test_explicit_text_plain(client):
    resp = client.get("/", headers={"Accept": "text/plain"}, environ_base=PEER)
    assert resp.get_data(as_text=True) == "114.114.114.114\n"
