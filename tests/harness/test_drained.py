"""molecule/harness/drained.py: drain windows from the double's call log, requests a drained
node got."""

from __future__ import annotations

import json
import math

import drained


def call(t: float, weights: dict[str, str], ok: bool = True, done: float | None = None) -> dict:
    return {
        "time": t,
        "done": t + 0.2 if done is None else done,
        "action": "SetBackendServers",
        "write": True,
        "ok": ok,
        "weights": weights,
    }


CALLS = [
    {"time": 1.0, "done": 1.1, "action": "DescribeHealthStatus", "write": False, "ok": True},
    call(10.0, {"i-1": "0"}),
    call(11.0, {"i-1": "100"}, ok=False),  # refused: still drained
    call(20.0, {"i-1": "100"}),
    call(30.0, {"i-2": "0"}),
    call(40.0, {"i-2": "50"}),
]


def test_windows_run_from_the_drain_answer_to_the_restore_request():
    assert drained.drain_windows(CALLS, "i-1") == [(10.2, 20.0)]
    assert drained.drain_windows(CALLS, "i-2") == [(30.2, 40.0)]
    assert drained.drain_windows(CALLS[:2], "i-1") == [(10.2, math.inf)]
    assert drained.drain_windows(CALLS, "i-3") == []


def test_weight_changes_in_order_only_successful_writes():
    assert drained.weight_changes(list(reversed(CALLS))) == [
        ["i-1", 0],
        ["i-1", 100],
        ["i-2", 0],
        ["i-2", 50],
    ]


def test_counts_requests_a_drained_node_answered(tmp_path):
    records = [
        {"i": 0, "t": 10.1, "node": "app1"},  # before the drain's answer: allowed
        {"i": 1, "t": 15.0, "node": "app2"},
        {"i": 2, "t": 16.0, "node": "app1"},  # drained, yet answered
        {"i": 3, "t": 35.0, "node": "app1"},
        {"i": 4, "t": 36.0, "node": None, "error": "reset"},
    ]
    calls_file = tmp_path / "calls.json"
    calls_file.write_text(json.dumps(CALLS))
    run = tmp_path / "run.jsonl"
    lines = [{"config": {}}, *records, {"summary": {"sent": 5}}]
    run.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    result = drained.check(CALLS, drained.load_records(run), {"app1": "i-1", "app2": "i-2"})
    assert result["nodes"]["app1"]["sent_inside"] == 2
    assert result["nodes"]["app1"]["served_inside"] == 1
    assert result["nodes"]["app2"] == {
        "server_id": "i-2",
        "windows": [[30.2, 40.0]],
        "seconds": 9.8,
        "sent_inside": 2,
        "served_inside": 0,
    }
    assert drained.main([str(calls_file), str(run), "--server", "app1=i-1"]) == 0
