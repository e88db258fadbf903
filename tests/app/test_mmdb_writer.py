from __future__ import annotations

import ipaddress
import random

import maxminddb
import pytest
from ipgeo.checkdb import check_db
from ipgeo.mmdb_writer import encode, write_mmdb


def _ranges(seed: int, count: int):
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, 2**32 - 1), count - 1))
    bounds = [0, *cuts, 2**32]
    out = []
    for i in range(count):
        record = None if i % 5 == 0 else {"country": {"iso_code": f"C{i % 7}", "n": i % 3}}
        out.append((bounds[i], bounds[i + 1] - 1, record))
    return out


@pytest.mark.parametrize("record_size", [24, 28, 32])
def test_written_db_reads_back(tmp_path, record_size):
    ranges = _ranges(record_size, 300)
    path = tmp_path / f"w{record_size}.mmdb"
    stats = write_mmdb(
        str(path),
        ranges,
        database_type="Test-DB",
        languages=["en"],
        description="test",
        build_epoch=1700000000,
        record_size=record_size,
    )
    assert stats["records"] == 21  # 7 codes x 3 values, stored once each
    rng = random.Random(1)
    with maxminddb.open_database(str(path), maxminddb.MODE_MMAP_EXT) as reader:
        meta = reader.metadata()
        assert (meta.record_size, meta.ip_version, meta.database_type) == (
            record_size,
            4,
            "Test-DB",
        )
        for first, last, record in ranges:
            for value in {first, last, rng.randint(first, last)}:
                got, prefix = reader.get_with_prefix_len(str(ipaddress.IPv4Address(value)))
                assert got == record
                net = ipaddress.ip_network((value, prefix), strict=False)
                assert first <= int(net.network_address) and int(net.broadcast_address) <= last
    assert check_db(str(path)).startswith("ok: ")


def test_encode_types_round_trip(tmp_path):
    record = {
        "s": "文字" * 40,
        "long": "x" * 70000,
        "neg": -5,
        "big": 2**40,
        "huge": 2**70,
        "f": 1.25,
        "t": True,
        "list": [1, "a", {"k": False}],
        "empty": {},
    }
    path = tmp_path / "types.mmdb"
    write_mmdb(
        str(path), [(0, 2**32 - 1, record)], database_type="T", languages=[], description="d"
    )
    with maxminddb.open_database(str(path), maxminddb.MODE_MMAP_EXT) as reader:
        assert reader.get("8.8.8.8") == record


def test_encode_rejects_unknown_types():
    with pytest.raises(TypeError):
        encode(object())


def test_progress_bar(capsys):
    from ipgeo.mmdb_writer import ProgressBar

    bar = ProgressBar(4, "work", enabled=True)
    for _ in range(4):
        bar(1)
    bar.close()
    err = capsys.readouterr().err
    assert "work [" in err and "100%" in err and " 25%" in err
