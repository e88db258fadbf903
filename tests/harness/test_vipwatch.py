"""The VIP watcher: local addresses from fib_trie, and when the VIP moved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import vipwatch

HARNESS = Path(__file__).resolve().parents[2] / "molecule" / "harness"

# /proc/<pid>/net/fib_trie of a container holding 172.29.40.100 as a second address (shortened).
FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 172.29.40.0/24 2 0 2
        +-- 172.29.40.0/25 2 0 2
           |-- 172.29.40.0
              /24 link UNICAST
           |-- 172.29.40.21
              /32 host LOCAL
           |-- 172.29.40.100
              /32 host LOCAL
        |-- 172.29.40.255
           /32 link BROADCAST
"""


def test_local_addresses():
    assert vipwatch.local_addresses(FIB_TRIE) == {"127.0.0.1", "172.29.40.21", "172.29.40.100"}
    without = FIB_TRIE.replace("172.29.40.100\n              /32 host LOCAL", "x\n /24 link")
    assert "172.29.40.100" not in vipwatch.local_addresses(without)


CHANGES = [
    {"t": 10.0, "holders": ["lb1"]},
    {"t": 20.5, "holders": []},
    {"t": 21.2, "holders": ["lb2"]},
    {"t": 30.0, "holders": ["lb1", "lb2"]},
    {"t": 30.4, "holders": ["lb1"]},
]


def test_moved():
    assert vipwatch.moved(CHANGES, 20.0, "lb1") == {
        "seconds": 1.2,
        "holders": ["lb2"],
        "both_seconds": 0.4,
    }
    # Asked about the LB that took it back: moved at the thaw, to both at once.
    assert vipwatch.moved(CHANGES, 25.0, "lb2")["seconds"] == 5.0
    # Never left lb1 after 5.0... until 21.2.
    assert vipwatch.moved(CHANGES[:2], 15.0, "lb1") == {
        "seconds": None,
        "holders": None,
        "both_seconds": 0.0,
    }
    # Already elsewhere when asked.
    assert vipwatch.moved(CHANGES[:3], 25.0, "lb1")["seconds"] == 0.0


def test_moved_command_waits_for_the_move(tmp_path):
    path = tmp_path / "vip.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in [{"config": {}}, *CHANGES[:2]]))
    cmd = [sys.executable, str(HARNESS / "vipwatch.py"), "moved", str(path), "--since", "20"]
    cmd += ["--away-from", "lb1", "--wait", "0.3"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(done.stdout)["seconds"] is None
    with path.open("a") as fh:
        fh.write(json.dumps(CHANGES[2]) + "\n")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(done.stdout)["seconds"] == pytest.approx(1.2)


def test_watch_stops_by_itself_and_records_nothing_for_missing_containers(tmp_path):
    out = tmp_path / "w.jsonl"
    cmd = [sys.executable, str(HARNESS / "vipwatch.py"), "watch", "--vip", "172.29.99.100"]
    cmd += ["--containers", "no-such-container-xyz", "--out", str(out), "--time-limit", "0.5"]
    subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[1] == {"t": lines[1]["t"], "holders": []}
    assert lines[-1]["summary"]["reason"] == "time-limit" and lines[-1]["summary"]["polls"] >= 2
