"""17monipdb support, against a fixture assembled here byte by byte from the format's
description (not by the project's writer), and the converter checked with maxminddb."""

from __future__ import annotations

import ipaddress
import json
import struct
from pathlib import Path

import maxminddb
import pytest
from ipgeo import create_app
from ipgeo.cli import main

# (last IP of the range, text); each range starts right after the previous one.
RANGES = [
    ("0.255.255.255", "保留地址\t保留地址\t"),
    ("1.0.0.255", "澳大利亚\t澳大利亚\t"),
    ("1.0.3.255", "中国\t福建\t福州"),
    ("114.113.255.255", "美国\t美国\t"),
    ("114.114.255.255", "中国\t江苏\t南京"),
    ("223.255.255.255", "中国\t北京\t北京"),
    ("255.255.255.255", "保留地址\t保留地址\t"),
]


def build_17mon(ranges=RANGES) -> bytes:
    texts = b""
    records = b""
    offsets = {}
    for _last, text in ranges:
        raw = text.encode("utf-8")
        if raw not in offsets:  # the format lets records share a text
            offsets[raw] = len(texts)
            texts += raw
    lasts = [int(ipaddress.IPv4Address(last)) for last, _ in ranges]
    for last, (_, text) in zip(lasts, ranges, strict=True):
        raw = text.encode("utf-8")
        # 4-byte big-endian last IP, 3-byte little-endian text offset, 1-byte length.
        records += struct.pack(">I", last) + offsets[raw].to_bytes(3, "little") + bytes([len(raw)])
    # For each first octet, the number of the first record that can hold it.
    table = b""
    for octet in range(256):
        first = next(i for i, last in enumerate(lasts) if last >= octet << 24)
        table += struct.pack("<I", first)
    # Text lives at H - 1024 + offset, and it follows the records (which start at 1028).
    index_len = 4 + len(table) + len(records) + 1024
    return struct.pack(">I", index_len) + table + records + texts


@pytest.fixture
def ipip_file(tmp_path):
    path = tmp_path / "17monipdb.dat"
    path.write_bytes(build_17mon())
    return path


@pytest.fixture
def ipip_client(ipip_file):
    return create_app({"IPGEO_DB_PATH": str(ipip_file)}).test_client()


def test_ipip_with_code_dictionary(ipip_file):
    codes = Path(__file__).parent / "data" / "adcodes.tsv"
    app = create_app({"IPGEO_DB_PATH": str(ipip_file), "IPGEO_ADCODE_FILE": str(codes)})
    body = app.test_client().get("/v1/ip/114.114.114.114").get_json()
    # No ISO codes in this format: the built-in dictionaries give them; the operator's
    # dictionary matches the country by its name.
    assert body["region"] == {"code": "JS", "name": "江苏", "adcode": "320000"}
    assert body["city"] == {"name": "南京", "adcode": "320100"}


def test_fixture_matches_the_description():
    data = build_17mon()
    (index_len,) = struct.unpack(">I", data[:4])
    assert index_len - 1024 == 1028 + 8 * len(RANGES)
    assert struct.unpack("<I", data[4 + 4 * 114 : 8 + 4 * 114])[0] == 3


def test_ipip_lookup(ipip_client):
    resp = ipip_client.get("/v1/ip/114.114.114.114")
    assert resp.status_code == 200
    assert resp.get_json() == {
        "ip": "114.114.114.114",
        "network": "114.114.0.0/16",
        # The format has names only: the codes come from the built-in dictionaries.
        "country": {"code": "CN", "name": "中国"},
        "region": {"code": "JS", "name": "江苏", "adcode": "320000"},
        "city": {"name": "南京", "adcode": "320100"},
        "location": {"latitude": None, "longitude": None, "time_zone": None},
    }


@pytest.mark.parametrize(
    ("ip", "network", "country", "region", "city"),
    [
        ("1.0.0.1", "1.0.0.0/24", "澳大利亚", None, None),
        ("1.0.1.7", "1.0.1.0/24", "中国", "福建", "福州"),
        ("1.0.2.5", "1.0.2.0/23", "中国", "福建", "福州"),
        ("8.8.8.8", "8.0.0.0/5", "美国", None, None),
        ("114.113.255.255", "114.112.0.0/15", "美国", None, None),
        # A municipality is its own city.
        ("223.5.5.5", "192.0.0.0/3", "中国", "北京", "北京"),
        ("::ffff:1.0.2.5", "1.0.2.0/23", "中国", "福建", "福州"),
    ],
)
def test_ipip_ranges_and_networks(ipip_client, ip, network, country, region, city):
    body = ipip_client.get(f"/v1/ip/{ip}").get_json()
    assert body["network"] == network
    assert body["country"]["name"] == country
    assert body["region"]["name"] == region
    assert body["city"]["name"] == city


@pytest.mark.parametrize("ip", ["0.1.2.3", "230.0.0.1", "2001:db8::1"])
def test_ipip_no_location_is_404(ipip_client, ip):
    resp = ipip_client.get(f"/v1/ip/{ip}")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"


def test_ipip_languages(ipip_client):
    ready = ipip_client.get("/readyz").get_json()
    assert ready["db"]["languages"] == ["zh-CN"]
    assert ready["db"]["format"] == "17mon"
    assert ipip_client.get("/v1/ip/1.0.1.1?lang=zh-CN").status_code == 200
    resp = ipip_client.get("/v1/ip/1.0.1.1?lang=en")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "unsupported_lang"


def test_check_db_ipip(capsys, ipip_file):
    assert main(["check-db", str(ipip_file), "--expect", "114.114.114.114="]) == 2
    capsys.readouterr()
    assert main(["check-db", str(ipip_file)]) == 0
    assert "17monipdb" in capsys.readouterr().out


def test_check_db_truncated_ipip(capsys, tmp_path):
    bad = tmp_path / "cut.dat"
    bad.write_bytes(build_17mon()[:-5])
    assert main(["check-db", str(bad)]) != 0
    assert "truncated 17monipdb" in capsys.readouterr().err


def test_check_db_unsorted_ipip(capsys, tmp_path):
    ranges = [RANGES[0], RANGES[2], RANGES[1], *RANGES[3:]]
    bad = tmp_path / "unsorted.dat"
    bad.write_bytes(build_17mon(ranges))
    assert main(["check-db", str(bad)]) != 0
    assert "out of order" in capsys.readouterr().err


def _sample_ips():
    ips = set()
    prev = -1
    for last, _ in RANGES:
        end = int(ipaddress.IPv4Address(last))
        for v in (prev + 1, prev + 2, (prev + 1 + end) // 2, end - 1, end):
            if 0 <= v <= end:
                ips.add(v)
        prev = end
    return sorted(ipaddress.IPv4Address(v) for v in ips)


def test_convert_to_mmdb(capsys, ipip_file, tmp_path):
    out = tmp_path / "converted.mmdb"
    assert main(["convert", str(ipip_file), str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    # The converted file reads with maxminddb itself, answer for answer.
    ipip = create_app({"IPGEO_DB_PATH": str(ipip_file)}).test_client()
    mmdb = create_app({"IPGEO_DB_PATH": str(out)}).test_client()
    with maxminddb.open_database(str(out)) as reader:
        meta = reader.metadata()
        assert meta.ip_version == 4 and meta.languages == ["zh-CN"]
        for ip in _sample_ips():
            record, prefix = reader.get_with_prefix_len(str(ip))
            want = ipip.get(f"/v1/ip/{ip}")
            got = mmdb.get(f"/v1/ip/{ip}")
            assert got.status_code == want.status_code, ip
            if want.status_code == 200:
                assert got.get_json() == want.get_json(), ip
                assert record["country"]["names"]["zh-CN"] == want.get_json()["country"]["name"]
                # The MMDB block is inside the 17mon range block that answered.
                assert ipaddress.ip_network(f"{ip}/{prefix}", strict=False).subnet_of(
                    ipaddress.ip_network(want.get_json()["network"])
                )
            else:
                assert record is None
    assert main(["check-db", str(out), "--expect", "114.114.114.114=XX"]) != 0
    assert main(["check-db", str(out)]) == 0
    info_code = main(["info", str(out)])
    assert info_code == 0
    assert "ipip.net-17monipdb" in capsys.readouterr().out


def test_convert_refuses_mmdb(capsys, db_path, tmp_path):
    assert main(["convert", str(db_path), str(tmp_path / "x.mmdb")]) != 0
    assert "already a MaxMind DB" in capsys.readouterr().err
    assert not (tmp_path / "x.mmdb").exists()


def test_cli_lookup_on_ipip(capsys, ipip_file):
    assert main(["lookup", "1.0.2.5", "--db", str(ipip_file)]) == 0
    assert json.loads(capsys.readouterr().out)["city"]["name"] == "福州"


def test_default_lang_not_in_db_falls_back(ipip_file):
    app = create_app({"IPGEO_DB_PATH": str(ipip_file), "IPGEO_DEFAULT_LANG": "en"})
    body = app.test_client().get("/v1/ip/114.114.114.114").get_json()
    assert body["city"]["name"] == "南京"
