from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ipgeo.db import file_sha256


def _sample(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if not m:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


def test_metrics_single_process(client):
    before = client.get("/metrics").get_data(as_text=True)
    client.get("/v1/ip/8.8.8.8")
    client.get("/v1/ip/10.0.0.1")
    client.get("/nowhere")
    after = client.get("/metrics")
    assert after.status_code == 200
    assert after.mimetype == "text/plain"
    text = after.get_data(as_text=True)
    route = "/v1/ip/<anything:ip>"

    def delta(name, **labels):
        return _sample(text, name, **labels) - _sample(before, name, **labels)

    assert delta("ipgeo_http_requests_total", endpoint=route, status="200") == 1
    assert delta("ipgeo_http_requests_total", endpoint=route, status="404") == 1
    assert delta("ipgeo_http_requests_total", endpoint="unmatched", status="404") == 1
    assert delta("ipgeo_http_request_duration_seconds_count", endpoint=route) == 2
    assert delta("ipgeo_lookups_total", result="found") == 1
    assert delta("ipgeo_lookups_total", result="not_found") == 1
    age = _sample(text, "ipgeo_db_age_seconds")
    assert age == pytest.approx(time.time() - 1530653216, abs=120)
    assert _sample(text, "ipgeo_db_loaded") == 1


def _worker_pids(mdir: Path) -> set[str]:
    return {m.group(1) for p in mdir.iterdir() if (m := re.match(r"counter_(\d+)\.db$", p.name))}


def test_metrics_count_across_workers(gunicorn_two_workers, http_get, db_path):
    base, mdir = gunicorn_two_workers
    # The stale file from an earlier run was removed by on_starting.
    assert "999999" not in _worker_pids(mdir)
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        # Concurrent requests keep both sync workers busy; stop once both have answered.
        for _ in range(20):
            statuses = list(pool.map(lambda _: http_get(base + "/v1/ip/8.8.8.8")[0], range(50)))
            assert statuses == [200] * 50
            sent += 50
            if len(_worker_pids(mdir)) >= 2:
                break
    assert len(_worker_pids(mdir)) >= 2, "requests never reached a second worker"
    status, body = http_get(base + "/metrics")
    assert status == 200
    text = body.decode()
    counted = _sample(text, "ipgeo_http_requests_total", endpoint="/v1/ip/<anything:ip>")
    assert counted == sent
    assert _sample(text, "ipgeo_lookups_total", result="found") == sent
    # Info metrics: one series each, value 1, not one per worker (livemax, not a sum).
    assert _sample(text, "ipgeo_release_info") == 1
    assert _sample(text, "ipgeo_db_info") == 1
    assert _sample(text, "ipgeo_db_info", sha256=file_sha256(str(db_path))) == 1


def _series(text: str, name: str) -> list[dict[str, str]]:
    """The label sets of ``name``'s samples whose value is not 0."""
    found = []
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m and float(m.group(2)) != 0:
            found.append(dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))))
    return found


def test_release_and_db_info(db_path):
    from ipgeo import create_app
    from ipgeo.consts import VERSION

    env = {"IPGEO_DB_PATH": str(db_path), "IPGEO_RELEASE": "r-one"}
    text = create_app(env).test_client().get("/metrics").get_data(as_text=True)
    assert _series(text, "ipgeo_release_info") == [{"release": "r-one", "version": VERSION}]
    (db,) = _series(text, "ipgeo_db_info")
    assert db["sha256"] == file_sha256(str(db_path))
    assert db["version"] == f"1530653216-{db['sha256'][:12]}"

    # A new release in the same process replaces the old label set: one series stays at 1.
    text = (
        create_app({**env, "IPGEO_RELEASE": "r-two"})
        .test_client()
        .get("/metrics")
        .get_data(as_text=True)
    )
    assert _series(text, "ipgeo_release_info") == [{"release": "r-two", "version": VERSION}]
    assert len(_series(text, "ipgeo_db_info")) == 1


def test_db_info_absent_without_db(tmp_path):
    from ipgeo import create_app

    app = create_app({"IPGEO_DB_PATH": str(tmp_path / "missing.mmdb")})
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert _series(text, "ipgeo_db_info") == []
    assert _sample(text, "ipgeo_db_loaded") == 0
    assert len(_series(text, "ipgeo_release_info")) == 1
