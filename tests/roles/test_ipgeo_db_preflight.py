"""ipgeo_db's preflight entry point on the controller: the code dictionary is checked with the
app's `ipgeo check-codes` (the controller venv's app), and a bad one stops the play with the
loader's message inside the role's fail_msg."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from slb_testlib import run_playbook

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CODES = REPO / "tests/app/data/adcodes.tsv"


def preflight(tmp_path: Path, codes_file: str) -> tuple[subprocess.CompletedProcess, str]:
    """Run the entry point; return the process and the play's output (ansible.posix.json)."""
    play = [
        {
            "name": "Preflight",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Check the database source and the code dictionary",
                    "ansible.builtin.include_role": {"name": "ipgeo_db", "tasks_from": "preflight"},
                    "vars": {
                        # Any existing file: preflight only looks at it.
                        "ipgeo_db_src": str(CODES),
                        "ipgeo_db_codes_file": codes_file,
                        "ipgeo_db_index_prepare_command": str(BIN / "ipgeo"),
                    },
                }
            ],
        }
    ]
    proc, output = run_playbook(tmp_path, play)
    return proc, json.dumps(output, ensure_ascii=False)


@pytest.fixture(scope="module")
def ipgeo():
    if not (BIN / "ipgeo").exists() or not (BIN / "ansible-playbook").exists():
        pytest.skip("needs the controller venv (ipgeo and ansible-playbook)")


def test_a_good_dictionary_passes(tmp_path, ipgeo):
    proc, out = preflight(tmp_path, str(CODES))
    assert proc.returncode == 0, out + proc.stderr
    assert '"failures": 0' in out


def test_a_malformed_dictionary_stops_the_play_with_the_loaders_message(tmp_path, ipgeo):
    bad = tmp_path / "bad.tsv"
    bad.write_text("CN\t江苏省\t\n")  # three columns, not four
    proc, out = preflight(tmp_path, str(bad))
    assert proc.returncode != 0
    assert f"ipgeo_db_codes_file: {bad}:1" in out
    assert "Fix the file (UTF-8, four tab-separated columns" in out


def test_a_missing_dictionary_stops_the_play(tmp_path, ipgeo):
    missing = tmp_path / "none.tsv"
    proc, out = preflight(tmp_path, str(missing))
    assert proc.returncode != 0
    assert f"ipgeo_db_codes_file: {missing}" in out
    assert "Fix the file" in out


def test_the_check_is_the_apps_cli(tmp_path, ipgeo):
    out = subprocess.run(
        [str(BIN / "ipgeo"), "check-codes", str(CODES)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert " entries, content sha256 " in out.stdout
