from __future__ import annotations

import ipaddress
import random

import pytest
from ipgeo import create_app
from ipgeo.cli import main
from ipgeo.db import file_sha256
from ipgeo.mmdb_writer import write_mmdb
from ipgeo.prepared import PreparedIndex, PreparedIndexError, build_index, validate_index


def _record(i: int):
    return {
        "country": {"iso_code": f"C{i % 9}", "names": {"en": f"Land {i}", "zh-CN": f"国{i}"}},
        "subdivisions": [{"iso_code": f"R{i % 4}", "names": {"en": f"Region {i % 4}"}}],
        "city": {"names": {"en": 'Town "' + str(i) + '"', "zh-CN": f"城{i}"}},
        "location": {"latitude": i / 7, "longitude": -i / 3, "time_zone": "Etc/UTC"},
    }


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    rng = random.Random(5)
    cuts = sorted(rng.sample(range(1, 2**32 - 1), 799))
    bounds = [0, *cuts, 2**32]
    ranges = [
        (bounds[i], bounds[i + 1] - 1, None if i % 6 == 0 else _record(i % 50)) for i in range(800)
    ]
    base = tmp_path_factory.mktemp("prep")
    db = base / "synthetic.mmdb"
    write_mmdb(str(db), ranges, database_type="Synth", languages=["en", "zh-CN"], description="t")
    assert main(["prepare", str(db), "--samples", "3000"]) == 0
    return db, base / "synthetic.mmdb.idx", ranges


def test_index_matches_mmdb_on_every_edge(synthetic):
    db, idx, ranges = synthetic
    index = PreparedIndex(str(idx), file_sha256(str(db)))
    plain = create_app({"IPGEO_DB_PATH": str(db), "IPGEO_INDEX_PATH": str(db) + ".none"})
    client = plain.test_client()
    try:
        for lang in ("en", "zh-CN"):
            render = index.renderer(lang)
            for first, last, _ in ranges[::3]:
                for value in (first, last, (first + last) // 2):
                    text = str(ipaddress.IPv4Address(value))
                    want = client.get(f"/v1/ip/{text}?lang={lang}")
                    got = render(text)
                    if want.status_code == 404:
                        assert got is None, text
                    else:
                        assert got == want.data, text
    finally:
        index.close()


def test_app_uses_index_found_next_to_db(synthetic):
    db, idx, _ = synthetic
    client = create_app({"IPGEO_DB_PATH": str(db)}).test_client()
    ready = client.get("/readyz").get_json()
    assert ready["db"]["index"]["path"] == str(idx)
    assert ready["db"]["index"]["languages"] == ["en", "zh-CN"]
    plain = create_app({"IPGEO_DB_PATH": str(db), "IPGEO_INDEX_PATH": "/nonexistent"}).test_client()
    assert plain.get("/readyz").get_json()["db"]["index"] is None
    ips = [str(ipaddress.IPv4Address(v)) for v in random.Random(3).sample(range(2**32), 300)]
    ips += ["::ffff:1.2.3.4", "bogus", "2001:db8::1", 7]
    for ip in ips[:300:10]:
        for query in ("", "?lang=zh-CN", "?fields=city", "?lang=de"):
            a, b = client.get(f"/v1/ip/{ip}{query}"), plain.get(f"/v1/ip/{ip}{query}")
            assert (a.status_code, a.data) == (b.status_code, b.data), (ip, query)
    a = client.post("/v1/batch", json={"ips": ips})
    b = plain.post("/v1/batch", json={"ips": ips})
    assert a.status_code == 200
    assert a.get_json() == b.get_json()
    assert a.data == b.data


def test_index_for_another_db_is_ignored(synthetic, db_path):
    _, idx, _ = synthetic
    client = create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_INDEX_PATH": str(idx)}).test_client()
    assert client.get("/readyz").get_json()["db"]["index"] is None
    assert client.get("/v1/ip/114.114.114.114").get_json()["city"]["name"] == "Nanjing"
    with pytest.raises(PreparedIndexError, match="another DB"):
        PreparedIndex(str(idx), "0" * 64)


@pytest.mark.parametrize("damage", ["magic", "truncate"])
def test_damaged_index_is_refused(synthetic, tmp_path, damage):
    db, idx, _ = synthetic
    data = idx.read_bytes()
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"XXXXXXXX" + data[8:] if damage == "magic" else data[: len(data) // 2])
    with pytest.raises(PreparedIndexError):
        PreparedIndex(str(bad), file_sha256(str(db)))
    client = create_app({"IPGEO_DB_PATH": str(db), "IPGEO_INDEX_PATH": str(bad)}).test_client()
    assert client.get("/readyz").get_json()["db"]["index"] is None


def test_prepare_rejects_unknown_language(synthetic, tmp_path, capsys):
    db, _, _ = synthetic
    assert main(["prepare", str(db), str(tmp_path / "x.idx"), "--lang", "fr"]) != 0
    assert "languages not in the DB" in capsys.readouterr().err
    assert not (tmp_path / "x.idx").exists()


def test_real_db_index(db_path, tmp_path):
    # The real GeoLite2 tree is IPv6 with IPv4 under ::/96: walk it and check answers.
    idx = tmp_path / "city.idx"
    stats = build_index(str(db_path), str(idx), ["zh-CN"], file_sha256(str(db_path)))
    assert stats["networks"] > 1_000_000
    assert "identical" in validate_index(str(db_path), str(idx), samples=2000)
    client = create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_INDEX_PATH": str(idx)}).test_client()
    resp = client.get("/v1/ip/114.114.114.114?lang=zh-CN")
    assert resp.get_json()["city"]["name"] == "南京"
    assert resp.get_json()["network"] == "114.114.0.0/16"
    assert client.get("/v1/ip/10.0.0.1?lang=zh-CN").status_code == 404


def test_index_without_idx20_still_answers_the_same(synthetic, tmp_path):
    # Indexes built before the /20 table have only idx16: readers fall back to it.
    import orjson

    db, idx, ranges = synthetic
    data = bytearray(idx.read_bytes())
    size = int.from_bytes(data[8:12], "little")
    header = orjson.loads(data[12 : 12 + size])
    assert "idx20" in header["sections"]
    del header["sections"]["idx20"]
    head = orjson.dumps(header)
    assert len(head) <= size
    data[8:12] = len(head).to_bytes(4, "little")
    data[12 : 12 + size] = head + b" " * (size - len(head))
    old = tmp_path / "old.idx"
    old.write_bytes(bytes(data))
    sha = file_sha256(str(db))
    new_index, old_index = PreparedIndex(str(idx), sha), PreparedIndex(str(old), sha)
    assert new_index._idx20 is not None and old_index._idx20 is None
    try:
        for lang in ("en", "zh-CN"):
            new, legacy = new_index.renderer(lang), old_index.renderer(lang)
            for first, last, _ in ranges:
                for value in (first, last, (first + last) // 2):
                    text = str(ipaddress.IPv4Address(value))
                    assert new(text) == legacy(text), text
    finally:
        new_index.close()
        old_index.close()
