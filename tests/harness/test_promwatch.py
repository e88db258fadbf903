"""promwatch.py (molecule/harness) against a fake Prometheus API: it waits for every target up,
reports an alert's firing times from its activeAt, and gives up after its timeout."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import promwatch
import pytest


@pytest.fixture
def fake_prometheus():
    state: dict = {"targets": [], "alerts": [], "result": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/api/v1/targets"):
                data = {"activeTargets": state["targets"]}
            elif self.path.startswith("/api/v1/alerts"):
                data = {"alerts": state["alerts"]}
            else:
                data = {"resultType": "vector", "result": state["result"]}
            body = json.dumps({"status": "success", "data": data}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


def target(job, node, health):
    return {"labels": {"job": job, "node": node}, "health": health}


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def test_epoch_reads_prometheus_times():
    assert promwatch.epoch("1970-01-01T00:00:10.500000000Z") == pytest.approx(10.5)
    assert promwatch.epoch("1970-01-01T01:00:00+01:00") == 0
    with pytest.raises(ValueError):
        promwatch.epoch("yesterday")


def test_targets_wait_for_all_up(fake_prometheus, capsys):
    url, state = fake_prometheus
    state["targets"] = [target("ipgeo", "a", "up"), target("ipgeo", "b", "down")]
    assert promwatch.main(["--url", url, "--timeout", "0.5", "targets", "--expect", "2"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
    state["targets"][1]["health"] = "up"
    assert promwatch.main(["--url", url, "--timeout", "2", "targets", "--expect", "2"]) == 0
    # One target fewer than expected is not "all up".
    assert promwatch.main(["--url", url, "--timeout", "0.3", "targets", "--expect", "3"]) == 1


def test_alert_firing_times_and_absence(fake_prometheus, capsys):
    url, state = fake_prometheus
    since = time.time() - 12
    alert = {"labels": {"alertname": "IpgeoNodeDown", "node": "b"}, "state": "pending"}
    alert["activeAt"] = rfc3339(since + 3)
    state["alerts"] = [alert, {"labels": {"alertname": "IpgeoNodeDown", "node": "a"}}]
    args = ["--url", url, "--timeout", "0.4", "alert", "IpgeoNodeDown", "--match", "node=b"]
    assert promwatch.main([*args, "--state", "firing", "--since", str(since)]) == 1
    capsys.readouterr()
    alert["state"] = "firing"
    assert promwatch.main([*args, "--state", "firing", "--since", str(since)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["after_s"] == pytest.approx(12, abs=1)
    assert got["active_after_s"] == pytest.approx(3, abs=0.01)
    assert got["after_active_s"] == pytest.approx(9, abs=1)
    assert promwatch.main([*args, "--state", "absent"]) == 1
    state["alerts"] = state["alerts"][1:]
    assert promwatch.main([*args, "--state", "absent"]) == 0


def test_query_waits_for_the_series_expected(fake_prometheus, capsys):
    url, state = fake_prometheus
    state["result"] = [{"metric": {"node": "a", "sha256": "old"}, "value": [0, "1"]}]
    assert promwatch.main(["--url", url, "query", "up"]) == 0
    assert json.loads(capsys.readouterr().out)["result"][0]["metric"]["node"] == "a"
    args = [
        "--url",
        url,
        "--timeout",
        "0.4",
        "query",
        "x",
        "--expect",
        "1",
        "--label",
        "sha256=new",
    ]
    assert promwatch.main(args) == 1
    state["result"][0]["metric"]["sha256"] = "new"
    assert promwatch.main(args) == 0
    assert promwatch.main([*args[:-3], "2"]) == 1
