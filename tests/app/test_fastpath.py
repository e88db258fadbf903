"""The WSGI fast path for plain IPv4 lookups against the Flask view it stands in for."""

from __future__ import annotations

import ipaddress
import random
import re

import pytest
from ipgeo import create_app
from ipgeo.db import file_sha256
from ipgeo.mmdb_writer import write_mmdb
from ipgeo.prepared import build_index
from ipgeo.web.fastpath import LookupFastPath
from werkzeug.test import Client


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory):
    rng = random.Random(3)
    cuts = sorted(rng.sample(range(1, 2**32 - 1), 300))
    bounds = [0, *cuts, 2**32]
    ranges = []
    for i in range(len(bounds) - 1):
        record = None
        if i % 4:
            record = {
                "country": {"iso_code": "FJ", "names": {"en": f"Fiji {i}", "zh-CN": f"斐{i}"}},
                "city": {"names": {"en": f"Suva {i % 7}"}},
            }
        ranges.append((bounds[i], bounds[i + 1] - 1, record))
    base = tmp_path_factory.mktemp("fast")
    db = base / "f.mmdb"
    write_mmdb(str(db), ranges, database_type="Synth", languages=["en", "zh-CN"], description="t")
    build_index(str(db), str(db) + ".idx", ["en", "zh-CN"], file_sha256(str(db)))
    return db, ranges


@pytest.fixture
def app(fixture_db):
    db, _ = fixture_db
    return create_app({"IPGEO_DB_PATH": str(db), "IPGEO_NODE_NAME": "fast-1"})


class Counting:
    """The Flask app behind the fast path, counting what reaches it."""

    def __init__(self, app):
        self.app, self.calls = app, 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.app(environ, start_response)


def _answer(wsgi, path, method="GET", headers=None):
    resp = Client(wsgi).open(path, method=method, headers=headers or {})
    return resp.status, list(resp.headers), resp.data


def _paths(ranges):
    paths = []
    for first, last, _ in ranges[::5]:
        for value in (first, last):
            paths.append(f"/v1/ip/{ipaddress.IPv4Address(value)}")
    return paths


def test_same_answers_as_the_flask_view(app, fixture_db):
    _, ranges = fixture_db
    fast = app.wsgi_app
    assert isinstance(fast, LookupFastPath)
    flask_only = fast.app
    counted = Counting(flask_only)
    fast.app = counted
    found = 0
    for path in _paths(ranges):
        want = _answer(flask_only, path)
        assert _answer(fast, path) == want, path
        found += want[0] == "200 OK"
    # Every 200 came from the fast path itself, every other answer from Flask.
    assert found > 50
    assert counted.calls == len(_paths(ranges)) - found


@pytest.mark.parametrize(
    ("path", "method", "headers"),
    [
        ("/v1/ip/1.2.3.4?lang=zh-CN", "GET", None),
        ("/v1/ip/1.2.3.4?fields=country", "GET", None),
        ("/v1/ip/1.2.3.4", "HEAD", None),
        ("/v1/ip/1.2.3.4", "POST", None),
        ("/v1/ip/1.2.3.4", "GET", {"If-None-Match": "*"}),
        ("/v1/ip/01.2.3.4", "GET", None),
        ("/v1/ip/1.2.3.4/", "GET", None),
        ("/v1/ip/1.2.3.4%00", "GET", None),
        ("/v1/ip/::ffff:1.2.3.4", "GET", None),
        ("/v1/ip/2001:db8::1", "GET", None),
        ("/v1/ip/%E2%91%A0.2.3.4", "GET", None),
        ("/v1/ip/", "GET", None),
        ("/v1/ipx/1.2.3.4", "GET", None),
        ("/healthz", "GET", None),
    ],
)
def test_everything_else_is_flasks(app, path, method, headers):
    fast = app.wsgi_app
    flask_only = fast.app
    counted = Counting(flask_only)
    fast.app = counted
    got = _answer(fast, path, method, headers)
    assert counted.calls == 1, "the fast path answered a request it must leave to Flask"
    want = _answer(flask_only, path, method, headers)
    # Only the ETag-free, date-free parts: the same app answered both.
    assert got[0] == want[0] and got[2] == want[2]


def test_not_loaded_is_flasks_503(tmp_path):
    app = create_app({"IPGEO_DB_PATH": str(tmp_path / "missing.mmdb")})
    status, _, body = _answer(app.wsgi_app, "/v1/ip/1.2.3.4")
    assert status.startswith("503") and b"not_ready" in body


def test_counted_like_the_view(app, fixture_db):
    _, ranges = fixture_db
    client = app.test_client()

    def sample(text, name, **labels):
        total = 0.0
        for line in text.splitlines():
            m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
            if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
                total += float(m.group(2))
        return total

    route = "/v1/ip/<anything:ip>"
    before = client.get("/metrics").get_data(as_text=True)
    paths = _paths(ranges)
    found = sum(client.get(p).status_code == 200 for p in paths)
    after = client.get("/metrics").get_data(as_text=True)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert found > 50
    assert delta("ipgeo_http_requests_total", endpoint=route, status="200") == found
    assert delta("ipgeo_http_request_duration_seconds_count", endpoint=route) == len(paths)
    assert delta("ipgeo_lookups_total", result="found") == found
