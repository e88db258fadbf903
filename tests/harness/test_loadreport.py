"""The figures of a load run: counts, longest gap, promised total, versions, node back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import loadreport
import pytest

HERE = Path(__file__).resolve().parent
HARNESS = HERE.parents[1] / "molecule" / "harness"


def rec(i, t, status=200, dt=0.01, db="v1", node="a", error=None):
    return {"i": i, "t": t, "dt": dt, "status": status, "db": db, "node": node, "error": error}


def write_run(path: Path, records, started=100.0, stopped=101.0, rate=10.0) -> Path:
    lines = [{"config": {"rate": rate}}, *records]
    lines.append({"summary": {"started": started, "stopped": stopped, "sent": len(records)}})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_counts_and_gap(tmp_path):
    records = [rec(i, 100.0 + i / 10) for i in range(10)]
    records[3] = rec(3, 100.3, status=502, db=None, node=None)
    records[4] = rec(4, 100.4, status=None, db=None, node=None, error="ConnectionRefusedError")
    row = loadreport.summarize(*loadreport.load(write_run(tmp_path / "r", records)), "e")
    assert (row["sent"], row["ok"], row["non_2xx"], row["conn_errors"]) == (10, 8, 1, 1)
    # successes complete at .21 and .51: the gap is 0.3 s
    assert row["longest_gap"] == pytest.approx(0.3)
    assert row["min_sent"] == 9  # 10/s x 1 s minus 5 %
    assert row["statuses"] == {"502": 1} and row["errors"] == {"ConnectionRefusedError": 1}


def test_gap_counts_from_the_first_request_and_to_the_last(tmp_path):
    # completions at 100.11, 100.21 and 100.9 (the slow first one)
    slow_first = [rec(0, 100.0, dt=0.9), rec(1, 100.1), rec(2, 100.2)]
    assert loadreport.longest_gap(slow_first, 100.0, 100.2) == pytest.approx(0.69)
    assert loadreport.longest_gap(slow_first[:1], 100.0, 100.0) == pytest.approx(0.9)
    late_failures = [rec(0, 100.0), rec(1, 100.5, status=503), rec(2, 101.5, status=503)]
    assert loadreport.longest_gap(late_failures, 100.0, 101.5) == pytest.approx(1.49)
    assert loadreport.longest_gap([rec(0, 100.0, status=500)], 100.0, 102.0) == 2.0


def test_a_shortfall_shows(tmp_path):
    records = [rec(i, 100.0 + i / 10) for i in range(5)]  # 5 sent in 1 s at 10/s
    row = loadreport.summarize(*loadreport.load(write_run(tmp_path / "r", records)), "e")
    assert row["sent"] < row["min_sent"]


def test_versions_after_and_node_back(tmp_path):
    records = [rec(i, 100.0 + i / 10, db="old" if i < 5 else "new") for i in range(10)]
    records += [rec(10, 100.95, node="b"), rec(11, 100.97, node="b", status=502)]
    run = loadreport.load(write_run(tmp_path / "r", records))
    row = loadreport.summarize(*run, "e", after=100.5, node="b", since=100.9)
    # the 502 at 100.97 is the one failure sent after 100.5
    assert row["after"] == {"answers": 6, "versions": {"new": 5, "v1": 1}, "failed": 1}
    assert row["node_back"] == {"node": "b", "seconds": pytest.approx(0.05)}
    never = loadreport.summarize(*run, "e", node="c", since=100.0)
    assert never["node_back"]["seconds"] is None


def test_an_unfinished_run_is_an_error(tmp_path):
    path = tmp_path / "r"
    path.write_text(json.dumps({"config": {"rate": 1}}) + "\n" + json.dumps(rec(0, 1.0)) + "\n")
    with pytest.raises(ValueError, match="did not finish"):
        loadreport.summarize(*loadreport.load(path), "e")


def test_command_line_row_and_table(tmp_path):
    run = write_run(tmp_path / "r", [rec(i, 100.0 + i / 10) for i in range(10)])
    table = tmp_path / "table.jsonl"
    for event in ("1 first", "2 second"):
        cmd = [sys.executable, str(HARNESS / "loadreport.py"), str(run), "--event", event]
        out = subprocess.run([*cmd, "--table", str(table)], capture_output=True, text=True)
        assert out.returncode == 0 and json.loads(out.stdout)["event"] == event
    printed = subprocess.run(
        [sys.executable, str(HARNESS / "loadreport.py"), "--print-table", str(table)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert printed[0].startswith("| event | sent | non-2xx | conn errors | longest gap")
    assert printed[2] == "| 1 first | 10 | 0 | 0 | 0.100 | 1.0 |"
    assert len(printed) == 4
    missing = subprocess.run(
        [sys.executable, str(HARNESS / "loadreport.py"), str(tmp_path / "nope"), "--event", "x"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "nope" in missing.stderr


def test_timeouts_failed_and_percentiles(tmp_path):
    records = [rec(i, 100.0 + i / 100, dt=(i + 1) / 1000) for i in range(98)]
    records.append(rec(98, 100.98, status=None, dt=3.0, error="timeout after 3 s"))
    records.append(rec(99, 100.99, status=None, dt=0.001, error="ConnectionResetError: reset"))
    row = loadreport.summarize(*loadreport.load(write_run(tmp_path / "r", records)), "e")
    assert (row["conn_errors"], row["timeouts"], row["failed"]) == (2, 1, 2)
    # every request counts, the timeout with its full wait
    assert row["p50"] == pytest.approx(0.049) and row["p99"] == pytest.approx(0.098)
    assert loadreport.percentile([], 99) is None
    assert loadreport.percentile([3.0, 1.0, 2.0], 100) == 3.0


def test_ha_table_columns(tmp_path):
    records = [rec(0, 100.0), rec(1, 100.1, status=503), rec(2, 100.2, node="b")]
    records.append(rec(3, 100.3, status=None, dt=3.0, error="timeout after 3 s"))
    records.append(rec(4, 100.4, status=None, error="ConnectionRefusedError: x"))
    run = loadreport.load(write_run(tmp_path / "r", records))
    row = loadreport.summarize(*run, "6 LB frozen", node="b", since=100.15, note="VIP moved")
    assert row["note"] == "VIP moved"
    table = loadreport.format_table([row], columns="ha").splitlines()
    assert table[0].startswith("| event | sent | non-2xx | connection errors | timeouts | failed |")
    cells = [c.strip() for c in table[2].strip("|").split("|")]
    # connection errors without the timeout; failed = non-2xx + every error
    assert cells[:8] == ["6 LB frozen", "5", "1", "1", "1", "3", cells[6], "3.000"]
    assert cells[8] == "VIP moved; b answered again 0.05 s after it was let go"
    # the ops table is unchanged
    assert (
        loadreport.format_table([row]).splitlines()[0]
        == "| " + " | ".join(loadreport.HEADER) + " |"
    )


def test_print_table_with_ha_columns(tmp_path):
    records = [rec(i, 100.0 + i / 10) for i in range(10)]
    table = tmp_path / "table.jsonl"
    run = str(write_run(tmp_path / "r", records))
    cmd = [sys.executable, str(HARNESS / "loadreport.py"), run, "--event", "x", "--note", "n"]
    subprocess.run([*cmd, "--table", str(table)], capture_output=True, check=True, timeout=30)
    cmd = [sys.executable, str(HARNESS / "loadreport.py"), "--print-table", str(table)]
    done = subprocess.run([*cmd, "--columns", "ha"], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[2] == "| x | 10 | 0 | 0 | 0 | 0 | 0.100 | 0.010 | n |"


def test_window(tmp_path):
    records = [rec(i, 100.0 + i / 10, dt=0.002) for i in range(10)]
    records[4] = rec(4, 100.4, status=503, dt=0.001)
    records[5] = rec(5, 100.5, status=None, dt=3.0, error="timeout after 3 s")
    records[6] = rec(6, 100.6, dt=0.5)
    run = loadreport.load(write_run(tmp_path / "r", records))
    window = loadreport.summarize(*run, "e", window=(100.3, 100.7))["window"]
    assert (window["sent"], window["ok"]) == (4, 2)
    assert window["statuses"] == {"503": 1, "timeout after 3 s": 1}
    assert window["ok_p99"] == 0.5 and window["others_p99"] == 3.0
