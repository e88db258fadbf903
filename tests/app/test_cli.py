from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys

import pytest
from ipgeo.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_lookup_prints_api_json(capsys, db_path):
    code, out, _ = run(capsys, "lookup", "114.114.114.114", "--db", str(db_path), "--lang", "zh-CN")
    assert code == 0
    body = json.loads(out)
    assert body["country"] == {"code": "CN", "name": "中国"}
    assert body["city"] == {"name": "南京"}


def test_lookup_not_found(capsys, db_path):
    code, out, err = run(capsys, "lookup", "10.0.0.1", "--db", str(db_path))
    assert code != 0
    assert out == ""
    assert "not_found" in err


def test_lookup_uses_env_db(capsys, db_path, monkeypatch):
    monkeypatch.setenv("IPGEO_DB_PATH", str(db_path))
    code, out, _ = run(capsys, "lookup", "8.8.8.8")
    assert code == 0
    assert json.loads(out)["country"]["code"] == "US"


def test_info(capsys, db_path):
    code, out, _ = run(capsys, "info", str(db_path))
    assert code == 0
    info = json.loads(out)
    assert info["type"] == "GeoLite2-City"
    assert info["build_date"].startswith("2018-07-03")
    assert info["ip_version"] == 6


def test_check_db_good_file(capsys, db_path):
    code, out, err = run(
        capsys,
        "check-db",
        str(db_path),
        "--expect",
        "114.114.114.114=CN",
        "--expect",
        "8.8.8.8=US",
    )
    assert code == 0, err
    assert out.startswith("ok: ")
    assert out.count("\n") == 1
    assert "GeoLite2-City" in out


def test_check_db_console_script(db_path):
    # The entry point as the deploy role calls it, in a fresh interpreter.
    proc = subprocess.run(
        [sys.executable, "-m", "ipgeo.cli", "check-db", str(db_path), "--expect", "8.8.8.8=US"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: ")


def test_check_db_wrong_expectation(capsys, db_path):
    code, out, err = run(capsys, "check-db", str(db_path), "--expect", "8.8.8.8=CN")
    assert code != 0
    assert out == ""
    assert "wrong answer" in err and "8.8.8.8" in err and "US" in err


def test_check_db_bad_expect_syntax(capsys, db_path):
    code, _, err = run(capsys, "check-db", str(db_path), "--expect", "8.8.8.8")
    assert code == 2
    assert "IP=CC" in err


def test_check_db_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "check-db", str(tmp_path / "absent.mmdb"))
    assert code != 0
    assert "file not found" in err


@pytest.mark.parametrize("keep", [1_000_000, 30_000_000, 56_000_000])
def test_check_db_truncated(capsys, db_path, tmp_path, keep):
    bad = tmp_path / "truncated.mmdb"
    with db_path.open("rb") as src:
        bad.write_bytes(src.read(keep))
    code, _, err = run(capsys, "check-db", str(bad))
    assert code != 0
    assert "truncated" in err


def test_check_db_text_file(capsys, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("this is a text file, not a database\n" * 200)
    code, _, err = run(capsys, "check-db", str(bad))
    assert code != 0
    assert "unknown format" in err


def test_check_db_random_bytes(capsys, tmp_path):
    bad = tmp_path / "random.bin"
    bad.write_bytes(random.Random(1).randbytes(200_000))
    code, _, err = run(capsys, "check-db", str(bad))
    assert code != 0
    assert "unknown format" in err


def test_check_db_empty_file(capsys, tmp_path):
    bad = tmp_path / "empty.mmdb"
    bad.write_bytes(b"")
    code, _, err = run(capsys, "check-db", str(bad))
    assert code != 0
    assert "empty" in err


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory, db_path):
    """A fresh copy of the DB for each flip, plus its search-tree geometry."""
    import maxminddb

    with maxminddb.open_database(str(db_path)) as reader:
        meta = reader.metadata()
    assert meta.record_size == 28  # the offsets below assume 7-byte nodes
    base = tmp_path_factory.mktemp("flip")

    def make(name, flips):
        path = base / name
        shutil.copyfile(db_path, path)
        with path.open("r+b") as fh:
            for offset, mask in flips:
                fh.seek(offset)
                byte = fh.read(1)[0]
                fh.seek(offset)
                fh.write(bytes([byte ^ mask]))
        return path

    return make, meta.node_count


def test_check_db_flipped_node_pointer(capsys, tree_copy):
    make, _ = tree_copy
    # Node 5's left record points at node 6; flipping its lowest bit makes it point at 7,
    # which still is a valid node number: only the structure shows node 6 is orphaned.
    bad = make("low.mmdb", [(5 * 7 + 2, 0x01)])
    code, _, err = run(capsys, "check-db", str(bad))
    assert code != 0
    assert "corrupt search tree" in err and "unreachable" in err


def test_check_db_flipped_high_bit(capsys, tree_copy):
    make, node_count = tree_copy
    node = node_count // 2
    bad = make("high.mmdb", [(node * 7 + 3, 0x80)])  # top bit of the left record
    code, _, err = run(capsys, "check-db", str(bad))
    assert code != 0
    assert "corrupt search tree" in err


def test_check_db_random_flips_in_tree(capsys, tree_copy):
    make, node_count = tree_copy
    rng = random.Random(7)
    flips = [(rng.randrange(node_count * 7), 1 << rng.randrange(8)) for _ in range(8)]
    bad = make("random.mmdb", flips)
    code, _, err = run(capsys, "check-db", str(bad))
    assert code != 0
    assert "corrupt" in err


def test_prepare_refuses_a_damaged_tree_without_crashing(tree_copy, tmp_path):
    # A subprocess: before prepare checked the file, walking this tree crashed the interpreter.
    make, node_count = tree_copy
    bad = make("prepare.mmdb", [(node_count // 3 * 7 + 3, 0x80)])
    out = tmp_path / "bad.idx"
    proc = subprocess.run(
        [sys.executable, "-m", "ipgeo.cli", "prepare", str(bad), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-500:])
    assert "prepare:" in proc.stderr and "corrupt search tree" in proc.stderr
    assert not out.exists()
