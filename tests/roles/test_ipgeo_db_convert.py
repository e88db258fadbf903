"""ipgeo_db's index entry point on the controller with a source of another format: the format is
detected, a 17monipdb / xdb file is converted to a MaxMind DB in ipgeo_db_convert_build_dir
(once per source file), its prepared index is built, and the default known answers hold for
it; a file of no known format stops the play with one line naming it."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ipgeo.writers import write_17mon, write_xdb
from slb_testlib import run_playbook

BIN = Path(sys.executable).parent


def to_int(text: str) -> int:
    return int(ipaddress.ip_address(text))


PLACES = [
    (to_int("8.8.8.0"), to_int("8.8.8.255"), ("美国", "", "")),
    (to_int("114.114.0.0"), to_int("114.114.255.255"), ("中国", "江苏", "南京")),
]


def run_index(tmp_path: Path, src: Path) -> tuple[subprocess.CompletedProcess, dict]:
    play = [
        {
            "name": "Convert and index",
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {
                "ipgeo_db_src": str(src),
                "ipgeo_db_index_prepare_command": str(BIN / "ipgeo"),
                "ipgeo_db_convert_build_dir": str(tmp_path / "convert"),
                "ipgeo_db_index_build_dir": str(tmp_path / "index"),
            },
            "tasks": [
                {
                    "name": "Preflight",
                    "ansible.builtin.include_role": {"name": "ipgeo_db", "tasks_from": "preflight"},
                },
                {
                    "name": "Convert and index",
                    "ansible.builtin.include_role": {"name": "ipgeo_db", "tasks_from": "index"},
                },
                {
                    "name": "Show the outcome",
                    "ansible.builtin.debug": {
                        "msg": "{{ {'file': ipgeo_db__file, 'origin': ipgeo_db__origin, "
                        "'index': ipgeo_db__index, 'error': ipgeo_db__index_error} | to_json }}"
                    },
                },
            ],
        }
    ]
    proc, output = run_playbook(tmp_path, play)
    return proc, output


def outcome(output: dict) -> dict:
    for play in output["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == "Show the outcome":
                return json.loads(task["hosts"]["localhost"]["msg"])
    raise AssertionError("no outcome")


@pytest.fixture(scope="module")
def ipgeo():
    if not (BIN / "ipgeo").exists() or not (BIN / "ansible-playbook").exists():
        pytest.skip("needs the controller venv (ipgeo and ansible-playbook)")


@pytest.mark.parametrize("fmt", ["17mon", "xdb"])
def test_a_source_of_another_format_is_converted_and_indexed(tmp_path, ipgeo, fmt):
    src = tmp_path / f"source.{fmt}"
    if fmt == "17mon":
        src.write_bytes(write_17mon([(a, b, "\t".join(p)) for a, b, p in PLACES]))
    else:
        src.write_bytes(
            write_xdb([(a, b, f"{p[0]}|0|{p[1] or 0}|{p[2] or 0}|0") for a, b, p in PLACES])
        )
    proc, output = run_index(tmp_path, src)
    assert proc.returncode == 0, json.dumps(output, ensure_ascii=False)[-3000:] + proc.stderr
    assert output["stats"]["localhost"]["changed"] == 2  # converted, indexed
    result = outcome(output)
    assert result["origin"]["format"] == fmt
    converted = Path(result["file"])
    assert converted.parent == tmp_path / "convert"
    assert converted.name.startswith(result["origin"]["sha256"])
    assert converted.suffix == ".mmdb"
    assert result["error"] == ""
    assert result["index"]["path"]
    # The role's default known answers hold for the converted file.
    check = subprocess.run(
        [
            str(BIN / "ipgeo"),
            "check-db",
            str(converted),
            "--expect",
            "114.114.114.114=CN",
            "--expect",
            "8.8.8.8=US",
            "--index",
            result["index"]["path"],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    info = json.loads(
        subprocess.run(
            [str(BIN / "ipgeo"), "info", str(converted)], capture_output=True, text=True, check=True
        ).stdout
    )
    assert info["converted_from"]["sha256"] == result["origin"]["sha256"]
    # A second run reuses the conversion.
    proc, output = run_index(tmp_path, src)
    assert proc.returncode == 0
    assert outcome(output)["file"] == result["file"]
    assert output["stats"]["localhost"]["changed"] == 0


def test_a_file_of_no_known_format_stops_the_play(tmp_path, ipgeo):
    src = tmp_path / "notes.txt"
    src.write_text("not a database\n" * 100)
    proc, output = run_index(tmp_path, src)
    assert proc.returncode != 0
    text = json.dumps(output, ensure_ascii=False)
    assert f"ipgeo_db_src {src} cannot be deployed" in text
    assert "unknown format" in text
