"""The Grafana dashboard (files/grafana/ipgeo-fleet.json): importable as is (its datasource a
variable, no fixed uid), the panels the issue asks for, and every query parses (promtool checks
them as recording rules, Grafana's variables replaced by values)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from promlib import REPO, run_promtool

DASHBOARD = REPO / "files" / "grafana" / "ipgeo-fleet.json"
# Grafana's variables, as Grafana substitutes them before a query leaves.
VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "$node": ".*"}


def load() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(dash: dict) -> list[dict]:
    found = []
    for p in dash["panels"]:
        found.append(p)
        found.extend(p.get("panels", []))
    return [p for p in found if p["type"] != "row"]


def exprs(dash: dict) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels(dash) for t in p["targets"]]


def substitute(expr: str) -> str:
    for name, value in sorted(VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    return expr


def check_queries(tmp_path: Path, queries: list[tuple[str, str]]) -> tuple[int, str]:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": substitute(expr)}
                    for i, (_, expr) in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    proc = run_promtool("check", "rules", str(path))
    return proc.returncode, proc.stdout + proc.stderr


def test_every_query_parses(tmp_path):
    queries = exprs(load())
    assert len(queries) >= 15
    code, out = check_queries(tmp_path, queries)
    assert code == 0, out
    assert f"SUCCESS: {len(queries)} rules found" in out


def test_a_broken_query_is_caught(tmp_path):
    code, out = check_queries(tmp_path, [("bad", 'sum by (node) (rate(up{job="ipgeo"}[5m])')])
    assert code != 0, out


def test_no_grafana_variable_is_left_unreplaced():
    for title, expr in exprs(load()):
        assert "$" not in substitute(expr), title


def test_datasource_is_a_variable():
    dash = load()
    (ds,) = [v for v in dash["templating"]["list"] if v["type"] == "datasource"]
    assert ds["query"] == "prometheus"
    ref = {"type": "prometheus", "uid": "${" + ds["name"] + "}"}
    for p in panels(dash):
        assert p["datasource"] == ref, p["title"]
        for t in p["targets"]:
            assert t["datasource"] == ref, p["title"]
    assert "__inputs" not in dash  # nothing to map on import


@pytest.mark.parametrize(
    ("what", "pattern"),
    [
        (
            "requests/s by node and status",
            r"by \(node, status\).*ipgeo_http_requests_total",
        ),
        (
            "latency percentiles",
            r"histogram_quantile\(0\.99.*ipgeo_http_request_duration_seconds_bucket",
        ),
        ("lookups by result", r"by \(result\).*ipgeo_lookups_total"),
        ("DB age per node", r"ipgeo_db_age_seconds|ipgeo_db_build_timestamp_seconds"),
        ("DB version per node", r"by \(node, version, sha256\).*ipgeo_db_info"),
        ("release per node", r"by \(node, release, version\).*ipgeo_release_info"),
        ("LB upstream errors", r"ipgeo_lb_upstream_errors_total"),
    ],
)
def test_the_panels_the_issue_asks_for(what, pattern):
    assert any(re.search(pattern, expr) for _, expr in exprs(load())), what


def test_panels_do_not_overlap():
    cells = set()
    for p in load()["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, p["title"]
        cells |= mine
