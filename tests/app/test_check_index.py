"""``ipgeo check-db DB --index IDX``: the deploy refuses an index that does not belong to the
DB it ships with, with a message naming the problem."""

from __future__ import annotations

import pytest
from ipgeo.cli import main
from ipgeo.db import file_sha256
from ipgeo.mmdb_writer import write_mmdb
from ipgeo.prepared import MAGIC, build_index


def _write_db(path, city: str) -> None:
    rec = {"country": {"iso_code": "CN", "names": {"en": "China"}}, "city": {"names": {"en": city}}}
    other = {"country": {"iso_code": "US", "names": {"en": "United States"}}}
    write_mmdb(
        str(path),
        [(0, 2**30 - 1, rec), (2**30, 2**31 - 1, None), (2**31, 2**32 - 1, other)],
        database_type="Synth",
        languages=["en"],
        description="t",
        build_epoch=1_700_000_000,
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    base = tmp_path_factory.mktemp("checkidx")
    db, other = base / "a.mmdb", base / "b.mmdb"
    _write_db(db, "Nanjing")
    _write_db(other, "Suzhou")
    idx = base / "a.mmdb.idx"
    build_index(str(db), str(idx), ["en"], file_sha256(str(db)))
    return db, other, idx


def check(capsys, db, idx):
    code = main(["check-db", str(db), "--index", str(idx), "--index-samples", "500"])
    out, err = capsys.readouterr()
    return code, out, err


def test_matching_index_passes(capsys, pair):
    db, _, idx = pair
    code, out, err = check(capsys, db, idx)
    assert (code, err) == (0, "")
    assert out.startswith(f"ok: {db}: ") and "identical" in out


def test_index_of_another_db(capsys, pair):
    _, other, idx = pair
    code, out, err = check(capsys, other, idx)
    assert code != 0 and out == ""
    assert "built for another DB" in err and str(idx) in err


def _damaged(tmp_path, idx, data: bytes):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(data)
    return bad


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[: len(d) // 2], "truncated"),
        (lambda d: d[:-8], "truncated"),
        (lambda d: d[:10], "truncated"),
        (lambda d: d[:200], "truncated"),
        (lambda d: d + b"\0" * 8, "trailing bytes"),
        (lambda d: d.replace(b'"version":1', b'"version":7', 1), "version 7"),
        (lambda d: b"\0" * len(MAGIC) + d[len(MAGIC) :], "not an ipgeo prepared index"),
        (lambda d: b"not an index at all\n", "not an ipgeo prepared index"),
    ],
    ids=["half", "tail", "tiny", "header", "trailing", "version", "magic", "text"],
)
def test_damaged_index(capsys, pair, tmp_path, damage, message):
    db, _, idx = pair
    bad = _damaged(tmp_path, idx, damage(idx.read_bytes()))
    code, out, err = check(capsys, db, bad)
    assert code != 0 and out == ""
    assert message in err
    assert str(bad) in err


def test_index_with_wrong_answers(capsys, pair, tmp_path):
    db, _, idx = pair
    data = idx.read_bytes()
    assert data.count(b"Nanjing") == 1
    bad = _damaged(tmp_path, idx, data.replace(b"Nanjing", b"Nanking"))
    code, _, err = check(capsys, db, bad)
    assert code != 0
    assert "index and DB disagree on" in err


def test_missing_index(capsys, pair, tmp_path):
    db, _, _ = pair
    code, _, err = check(capsys, db, tmp_path / "absent.idx")
    assert code != 0
    assert "file not found" in err


def test_bad_db_is_reported_before_the_index(capsys, pair, tmp_path):
    _, _, idx = pair
    bad = tmp_path / "bad.mmdb"
    bad.write_text("text\n")
    code, _, err = check(capsys, bad, idx)
    assert code != 0
    assert "unknown format" in err
