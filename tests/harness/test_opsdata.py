"""The scenario's test databases and releases, checked with the app's own checker."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import maxminddb
import opsdata
import pytest
from ipgeo.checkdb import CheckError, check_db
from ipgeo.db import open_database

HERE = Path(__file__).resolve().parent
HARNESS = HERE.parents[1] / "molecule" / "harness"
REPO = HERE.parents[1]
DB = REPO / "files" / "GeoLite2-City.mmdb"
EXPECT = ()


@pytest.fixture(scope="module")
def dbs(tmp_path_factory) -> dict:
    if not DB.is_file():
        pytest.fail(f"{DB} is missing: run `make db`")
    return opsdata.make_dbs(DB, tmp_path_factory.mktemp("dbs"))


def test_new_db_is_valid_and_differs_only_in_its_build_date(dbs):
    original, new = dbs["original"], dbs["new"]
    assert new["build_epoch"] == original["build_epoch"] + 86400
    assert new["sha256"] != original["sha256"]
    old_bytes = Path(original["path"]).read_bytes()
    new_bytes = Path(new["path"]).read_bytes()
    assert len(old_bytes) == len(new_bytes)
    differ = [i for i, (a, b) in enumerate(zip(old_bytes, new_bytes, strict=True)) if a != b]
    assert differ and min(differ) > len(old_bytes) - 300  # only in the metadata at the end
    with maxminddb.open_database(new["path"]) as reader:
        assert reader.metadata().build_epoch == new["build_epoch"]
        assert reader.get("8.8.8.8")["country"]["iso_code"] == "US"
    summary = check_db(new["path"], [])
    assert summary.startswith("ok:")
    db = open_database(new["path"])
    assert db.version == new["version"] and db.sha256 == new["sha256"]
    assert hashlib.sha256(new_bytes).hexdigest() == new["sha256"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated", "truncated: "),
        ("bitflip", "corrupt search tree: "),
        ("text", "unknown format: "),
    ],
)
def test_corrupt_dbs_fail_the_apps_check(dbs, name, message):
    with pytest.raises(CheckError) as err:
        check_db(dbs[name]["path"], [])
    assert str(err.value).startswith(message)


def test_bitflip_touches_only_the_search_tree(dbs):
    old_bytes = Path(dbs["original"]["path"]).read_bytes()
    flipped = Path(dbs["bitflip"]["path"]).read_bytes()
    differ = [i for i, (a, b) in enumerate(zip(old_bytes, flipped, strict=True)) if a != b]
    assert differ == [i * 7 for i in range(8)]


def test_patch_refuses_a_file_without_metadata():
    with pytest.raises(opsdata.DataError, match="marker"):
        opsdata.patch_build_epoch(bytearray(b"\x00" * 100), 1)
    no_epoch = bytearray(b"\x00" * 10 + opsdata.MARKER + b"\xe0")
    with pytest.raises(opsdata.DataError, match="no build_epoch"):
        opsdata.read_build_epoch(no_epoch)


def test_patch_keeps_the_value_in_its_bytes():
    # build_epoch as uint32 (type 6) in 1 byte: 250 + 10 does not fit.
    data = bytearray(opsdata.MARKER + bytes([0x4B]) + b"build_epoch" + bytes([0xC1, 250]))
    assert opsdata.read_build_epoch(data) == 250
    assert opsdata.patch_build_epoch(data, 5) == 255 and data[-1] == 255
    with pytest.raises(opsdata.DataError, match="does not fit"):
        opsdata.patch_build_epoch(data, 1)


def test_release_copy_has_the_new_version_and_broken_is_broken(tmp_path):
    app = REPO / "app"
    good = opsdata.make_release(app, tmp_path / "good", "9.8.7.post1")
    text = (tmp_path / "good/pyproject.toml").read_text()
    assert 'version = "9.8.7.post1"' in text
    # The package itself reports the new version (wherever the tree defines it).
    reported = subprocess.run(
        [sys.executable, "-c", "import ipgeo; print(ipgeo.__version__)"],
        cwd=tmp_path / "good/src",
        capture_output=True,
        text=True,
        check=True,
    )
    assert reported.stdout.strip() == "9.8.7.post1"
    assert not list((tmp_path / "good").rglob("__pycache__"))
    assert good["version"] == "9.8.7.post1"
    opsdata.make_release(app, tmp_path / "bad", "9.8.7.post2", broken=True)
    broken = subprocess.run(
        [sys.executable, "-c", "import ipgeo.wsgi"],
        cwd=tmp_path / "bad/src",
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "bad/src"), "PATH": "/usr/bin:/bin"},
    )
    assert broken.returncode != 0 and "broken on purpose" in broken.stderr
    with pytest.raises(opsdata.DataError, match="plain version"):
        opsdata.make_release(app, tmp_path / "x", "1.0; rm -rf /")


def test_command_line(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(HARNESS / "opsdata.py"),
            "release",
            str(REPO / "app"),
            str(tmp_path / "r"),
            "--version",
            "1.2.3",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["version"] == "1.2.3"
    bad = subprocess.run(
        [
            sys.executable,
            str(HARNESS / "opsdata.py"),
            "dbs",
            str(tmp_path / "none.mmdb"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "none.mmdb" in bad.stderr
