"""The ASGI entry (``ipgeo.asgi``): its native lookup path against Flask answering the same
requests, through WSGI and through a2wsgi, byte for byte."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import re
from urllib.parse import unquote

import pytest
from a2wsgi import WSGIMiddleware
from ipgeo.db import file_sha256
from ipgeo.mmdb_writer import write_mmdb
from ipgeo.prepared import build_index
from ipgeo.web.app import create_asgi_app
from ipgeo.web.fastpath import AsgiLookupFastPath
from werkzeug.test import Client

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory):
    rng = random.Random(5)
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
    db = tmp_path_factory.mktemp("asgi") / "a.mmdb"
    write_mmdb(str(db), ranges, database_type="Synth", languages=["en", "zh-CN"], description="t")
    build_index(str(db), str(db) + ".idx", ["en", "zh-CN"], file_sha256(str(db)))
    return db, ranges


@pytest.fixture
def asgi(fixture_db) -> AsgiLookupFastPath:
    db, _ = fixture_db
    return create_asgi_app({"IPGEO_DB_PATH": str(db), "IPGEO_NODE_NAME": "asgi-1"})


class Counting:
    """The WSGI app behind the ASGI entry, counting what reaches it."""

    def __init__(self, app):
        self.app, self.calls = app, 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.app(environ, start_response)


def call(app, path: str, method: str = "GET", headers=(), body: bytes = b"") -> Answer:
    """One request through an ASGI app, as uvicorn hands it over (a loopback peer)."""
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"node"), *((k.lower().encode(), v.encode()) for k, v in headers)],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict] = []
    chunks = [body]

    async def receive():
        return {"type": "http.request", "body": chunks.pop() if chunks else b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    assert start["type"] == "http.response.start"
    data = b"".join(m.get("body", b"") for m in sent[1:])
    assert not sent[-1].get("more_body", False)
    return start["status"], [(bytes(k), bytes(v)) for k, v in start["headers"]], data


def wsgi_answer(app, path: str, method: str = "GET", headers=()) -> Answer:
    """Flask's answer through plain WSGI, in the ASGI shape (names lower-cased)."""
    resp = Client(app).open(path, method=method, headers=dict(headers))
    heads = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers]
    return resp.status_code, heads, resp.data


def _paths(ranges):
    paths = []
    for first, last, _ in ranges[::5]:
        for value in (first, last):
            paths.append(f"/v1/ip/{ipaddress.IPv4Address(value)}")
    return paths


def test_native_answers_are_flasks_byte_for_byte(asgi, fixture_db):
    """Found (200) and not found (404): the same status, header list and body as the Flask
    view gives through WSGI, and through a2wsgi, and Flask is never called for them."""
    _, ranges = fixture_db
    flask_app = asgi.app
    counted = Counting(flask_app)
    asgi.app = counted
    statuses = set()
    for path in _paths(ranges):
        native = call(asgi, path)
        via_wsgi = wsgi_answer(flask_app.wsgi_app.app, path)  # the Flask view, no fast path
        via_a2wsgi = call(WSGIMiddleware(flask_app.wsgi_app.app), path)  # as uvicorn sends it
        assert native == via_wsgi == via_a2wsgi, path
        statuses.add(native[0])
    assert statuses == {200, 404}
    assert counted.calls == 0


@pytest.mark.parametrize(
    ("path", "method", "headers"),
    [
        ("/v1/ip/1.2.3.4?lang=zh-CN", "GET", ()),
        ("/v1/ip/1.2.3.4?fields=country", "GET", ()),
        ("/v1/ip/1.2.3.4", "HEAD", ()),
        ("/v1/ip/1.2.3.4", "POST", ()),
        ("/v1/ip/1.2.3.4", "GET", (("If-None-Match", "*"),)),
        ("/v1/ip/01.2.3.4", "GET", ()),
        ("/v1/ip/1.2.3.4/", "GET", ()),
        ("/v1/ip/::ffff:1.2.3.4", "GET", ()),
        ("/v1/ip/2001:db8::1", "GET", ()),
        ("/v1/ip/%E2%91%A0.2.3.4", "GET", ()),
        ("/v1/ip/", "GET", ()),
        ("/v1/ipx/1.2.3.4", "GET", ()),
        ("/healthz", "GET", ()),
        ("/v1/openapi.json", "GET", ()),
    ],
)
def test_everything_else_goes_to_flask(asgi, path, method, headers):
    flask_app = asgi.app
    counted = Counting(flask_app)
    asgi.app = counted
    asgi.wsgi.app = _terminated_counting(counted)
    got = call(asgi, path, method, headers)
    assert counted.calls == 1, "the native path answered a request it must leave to Flask"
    want = wsgi_answer(flask_app, path, method, headers)
    assert got[0] == want[0] and got[2] == want[2]


def _terminated_counting(app):
    def wsgi(environ, start_response):
        environ["wsgi.input_terminated"] = True
        return app(environ, start_response)

    return wsgi


def test_batch_body_reaches_flask(asgi, fixture_db):
    _, ranges = fixture_db
    ip = str(ipaddress.IPv4Address(ranges[1][0]))
    status, headers, body = call(
        asgi,
        "/v1/batch",
        "POST",
        (("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")),
        f'{{"ips": ["{ip}", "nope"]}}'.encode(),
    )
    assert status == 200, body
    assert body.startswith(b'{"results":[{"ip":"' + ip.encode())
    assert b"invalid_ip" in body
    assert (b"x-served-by", b"asgi-1") in headers


def test_not_loaded_is_flasks_503(tmp_path):
    app = create_asgi_app({"IPGEO_DB_PATH": str(tmp_path / "missing.mmdb")})
    status, _, body = call(app, "/v1/ip/1.2.3.4")
    assert status == 503 and b"not_ready" in body


def test_native_answers_are_counted_like_the_view(asgi, fixture_db):
    _, ranges = fixture_db

    def sample(text, name, **labels):
        total = 0.0
        for line in text.splitlines():
            m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
            if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
                total += float(m.group(2))
        return total

    route = "/v1/ip/<anything:ip>"
    before = call(asgi, "/metrics")[2].decode()
    paths = _paths(ranges)
    statuses = [call(asgi, p)[0] for p in paths]
    after = call(asgi, "/metrics")[2].decode()

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    found, missing = statuses.count(200), statuses.count(404)
    assert found > 50 and missing > 10 and found + missing == len(paths)
    assert delta("ipgeo_http_requests_total", endpoint=route, status="200") == found
    assert delta("ipgeo_http_requests_total", endpoint=route, status="404") == missing
    assert delta("ipgeo_http_request_duration_seconds_count", endpoint=route) == len(paths)
    assert delta("ipgeo_lookups_total", result="found") == found
    assert delta("ipgeo_lookups_total", result="not_found") == missing
