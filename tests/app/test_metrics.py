from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest


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


def test_metrics_count_across_workers(gunicorn_two_workers, http_get):
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
