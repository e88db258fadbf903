"""ip2region xdb and ipip.net IPDB: readers, writers, the CLI, conversion to MMDB.

The files are written by ``ipgeo.writers``; the official readers (``py-ip2region``,
``ipip-ipdb``) are the reference the project's readers are compared with, and
:mod:`ipaddress` the reference for ranges and networks.
"""

from __future__ import annotations

import ipaddress
import json
import random
import time

import ip2region.searcher as xdb_searcher
import ip2region.util as xdb_util
import ipdb
import jsonschema
import maxminddb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ipgeo import create_app
from ipgeo.cli import main
from ipgeo.sources import IPDBSource, XdbSource, open_source
from ipgeo.writers import write_17mon, write_ipdb, write_xdb


def to_int(text: str) -> int:
    return int(ipaddress.ip_address(text))


PLACES = [
    ("中国", "江苏省", "南京市"),
    ("中国", "福建省", "福州市"),
    ("中国", "北京", "北京"),
    ("中国", "宁夏", "银川"),
    ("美国", "", ""),
    ("澳大利亚", "", ""),
]
IPDB_FIELDS = ("country_name", "region_name", "city_name")

KNOWN = [
    (to_int("1.0.0.0"), to_int("1.0.0.255"), 5),
    (to_int("1.0.1.0"), to_int("1.0.3.255"), 1),
    (to_int("8.8.8.0"), to_int("8.8.8.255"), 4),
    (to_int("114.114.0.0"), to_int("114.114.255.255"), 0),
    (to_int("223.5.5.0"), to_int("223.5.5.255"), 2),
]


def xdb_text(place):
    country, province, city = place
    return f"{country}|0|{province or 0}|{city or 0}|电信"


def ipdb_text(place):
    return "\t".join(place)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def xdb_file(tmp_path):
    path = tmp_path / "ip2region_v4.xdb"
    path.write_bytes(write_xdb([(a, b, xdb_text(PLACES[p])) for a, b, p in KNOWN]))
    return path


@pytest.fixture
def ipdb_file(tmp_path):
    path = tmp_path / "ipipfree.ipdb"
    # IPDB trees cover the whole space (the reference reads past an empty leaf).
    ranges = [(a, b, ipdb_text(PLACES[p])) for a, b, p in KNOWN]
    filled, nxt = [], 0
    for a, b, text in ranges:
        if a > nxt:
            filled.append((nxt, a - 1, "局域网\t\t"))
        filled.append((a, b, text))
        nxt = b + 1
    filled.append((nxt, 0xFFFFFFFF, "局域网\t\t"))
    path.write_bytes(write_ipdb(filled, IPDB_FIELDS, ("CN",), build=int(time.time())))
    return path


@pytest.mark.parametrize("fixture", ["xdb_file", "ipdb_file"])
def test_answers_with_codes_through_the_api(request, fixture):
    path = request.getfixturevalue(fixture)
    client = create_app({"IPGEO_DB_PATH": str(path)}).test_client()
    body = client.get("/v1/ip/114.114.114.114").get_json()
    assert body["country"] == {"code": "CN", "name": "中国"}
    assert body["region"]["code"] == "JS"
    assert body["region"]["adcode"] == "320000"
    assert body["city"]["adcode"] == "320100"
    assert client.get("/v1/ip/9.9.9.9").status_code == 404


@pytest.mark.parametrize("fixture", ["xdb_file", "ipdb_file"])
def test_cli_info_check_convert_lookup(request, capsys, tmp_path, fixture):
    path = request.getfixturevalue(fixture)
    code, out, err = run(capsys, "check-db", str(path), "--expect", "114.114.114.114=CN")
    assert code == 0, err
    assert "1 expected answers ok" in out
    code, out, err = run(capsys, "info", str(path))
    assert code == 0, err
    info = json.loads(out)
    assert info["format"] == open_source(str(path)).format
    assert info["unknown_names"] == {}
    mmdb = tmp_path / "converted.mmdb"
    code, out, err = run(capsys, "convert", "--no-progress", str(path), str(mmdb))
    assert code == 0, err
    assert "0 names without codes" in out
    code, out, err = run(capsys, "check-db", str(mmdb), "--expect", "114.114.114.114=CN")
    assert code == 0, err
    code, out, err = run(capsys, "info", str(mmdb))
    origin = json.loads(out)["converted_from"]
    assert origin["format"] == info["format"]
    assert origin["sha256"] == info["sha256"]
    assert origin["unknown_names"] == 0
    client = create_app({"IPGEO_DB_PATH": str(mmdb)}).test_client()
    ready = client.get("/readyz").get_json()
    assert ready["db"]["converted_from"] == origin
    # The answers and /readyz match the OpenAPI document.
    doc = client.get("/v1/openapi.json").get_json()
    for url, template in (("/readyz", "/readyz"), ("/v1/ip/114.114.114.114", "/v1/ip/{ip}")):
        schema = doc["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]
        jsonschema.Draft202012Validator(
            {**schema["schema"], "components": doc["components"]}
        ).validate(client.get(url).get_json())
    assert ready["db"]["sha256"] != origin["sha256"]
    code, out, err = run(capsys, "lookup", "--db", str(mmdb), "114.114.114.114")
    assert code == 0, err
    body = json.loads(out)
    assert (body["region"]["code"], body["region"]["adcode"], body["city"]["adcode"]) == (
        "JS",
        "320000",
        "320100",
    )
    idx = tmp_path / "converted.mmdb.idx"
    code, out, err = run(capsys, "prepare", str(mmdb), str(idx), "--samples", "500")
    assert code == 0, err


def test_unknown_names_are_listed(capsys, tmp_path):
    path = tmp_path / "odd.xdb"
    path.write_bytes(write_xdb([(1 << 24, (1 << 25) - 1, "中国|0|江苏省|乌有市|0")]))
    code, out, err = run(capsys, "info", str(path))
    assert code == 0, err
    assert json.loads(out)["unknown_names"] == {"乌有市": 1}
    # Conversion keeps the count: /readyz and the metric show it.
    mmdb = tmp_path / "odd.mmdb"
    code, out, err = run(capsys, "convert", "--no-progress", str(path), str(mmdb))
    assert code == 0, err
    assert "1 names without codes (乌有市)" in out
    client = create_app({"IPGEO_DB_PATH": str(mmdb)}).test_client()
    assert client.get("/readyz").get_json()["db"]["converted_from"]["unknown_names"] == 1
    assert "ipgeo_db_unknown_names 1.0" in client.get("/metrics").get_data(as_text=True)


def test_ipv6_xdb(tmp_path, capsys):
    path = tmp_path / "ip2region_v6.xdb"
    ranges = [
        (to_int("2001:db8::"), to_int("2001:db8::ffff"), xdb_text(PLACES[0])),
        (to_int("240e::"), to_int("240e:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), xdb_text(PLACES[1])),
    ]
    path.write_bytes(write_xdb(ranges, ip_version=6))
    src = XdbSource(str(path))
    ref = xdb_searcher.new_with_file_only(xdb_util.IPv6, str(path))
    for text in ("2001:db8::1", "240e:1::1", "2001:db8::1:0", "::1"):
        record, _ = src.lookup(ipaddress.ip_address(text))
        expected = ref.search(text)
        assert (record is not None) == bool(expected), text
        if record:
            assert record["subdivisions"][0]["names"]["zh-CN"] == expected.split("|")[2]
    assert src.lookup(ipaddress.ip_address("240e:1::1"))[1] == 16
    assert src.verify().startswith("ip2region xdb 3.0 (IPv6")
    assert list(src.iterate()) == []
    # info, check-db, lookup and convert (to an IPv6 MMDB) work.
    code, out, err = run(capsys, "info", str(path))
    assert code == 0, err
    assert (json.loads(out)["ranges"], json.loads(out)["unknown_names"]) == (2, {})
    code, out, err = run(capsys, "check-db", str(path))
    assert code == 0, err
    code, out, err = run(capsys, "lookup", "--db", str(path), "240e:1::1")
    assert code == 0, err
    assert json.loads(out)["region"]["code"] == "FJ"
    mmdb = tmp_path / "v6.mmdb"
    code, out, err = run(capsys, "convert", "--no-progress", str(path), str(mmdb))
    assert code == 0, err
    with maxminddb.open_database(str(mmdb)) as reader:
        assert reader.metadata().ip_version == 6
        for text in ("2001:db8::", "2001:db8::ffff", "2001:db8::1:0", "240e::", "240f::", "::2"):
            assert reader.get(text) == src.lookup(ipaddress.ip_address(text))[0], text
        # No IPv4 data: IPv4 addresses resolve to nothing, as in the xdb file.
        assert reader.get("114.114.114.114") is None
    code, out, err = run(capsys, "check-db", str(mmdb))
    assert code == 0, err
    code, out, err = run(capsys, "lookup", "--db", str(mmdb), "240e:1::1")
    assert code == 0, err
    body = json.loads(out)
    assert (body["country"]["code"], body["region"]["code"], body["region"]["adcode"]) == (
        "CN",
        "FJ",
        "350000",
    )


def test_ipv6_under_the_ipv4_space_is_left_out(tmp_path, capsys):
    # ::/96 is IPv4's in an MMDB: an IPv6 file's ranges there are not converted.
    path = tmp_path / "low.xdb"
    ranges = [(0, to_int("::1:0:0"), xdb_text(PLACES[0]))]
    path.write_bytes(write_xdb(ranges, ip_version=6))
    mmdb = tmp_path / "low.mmdb"
    code, _out, err = run(capsys, "convert", "--no-progress", str(path), str(mmdb))
    assert code == 0, err
    src = XdbSource(str(path))
    with maxminddb.open_database(str(mmdb)) as reader:
        assert reader.get("::1:0:0") == src.lookup(ipaddress.ip_address("::1:0:0"))[0]
        assert reader.get("::1:0:0") is not None
        assert reader.get("::ffff:ffff") is None
        assert reader.get("1.2.3.4") is None


def test_ipdb_with_ipv4_and_ipv6_converts_both(tmp_path, capsys):
    v4 = [(a, b, ipdb_text(PLACES[p])) for a, b, p in KNOWN]
    v6 = [
        (to_int("2001:db8::"), to_int("2001:db8::ffff"), ipdb_text(PLACES[2])),
        (to_int("240e::"), to_int("240e:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), ipdb_text(PLACES[1])),
    ]
    path = tmp_path / "dual.ipdb"
    path.write_bytes(write_ipdb(v4, IPDB_FIELDS, ranges6=v6))
    src = IPDBSource(str(path))
    ref = ipdb.City(str(path))
    assert ref.find("240e::1", "CN") == list(PLACES[1])
    assert ref.find("114.114.114.114", "CN") == list(PLACES[0])
    assert src.verify().startswith("ipip.net IPDB (IPv4+6")
    assert [(a, b) for a, b, _, _ in src.iterate6()] == [
        (to_int("2001:db8::"), to_int("2001:db8::ffff")),
        (to_int("240e::"), to_int("240e:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
    ]
    mmdb = tmp_path / "dual.mmdb"
    code, _out, err = run(capsys, "convert", "--no-progress", str(path), str(mmdb))
    assert code == 0, err
    probes = [str(ipaddress.IPv4Address(x)) for a, b, _ in KNOWN for x in (a - 1, a, b, b + 1)]
    probes += ["2001:db8::", "2001:db8::ffff", "2001:db8::1:0", "240e::1", "2400::1", "::1"]
    with maxminddb.open_database(str(mmdb)) as reader:
        assert reader.metadata().ip_version == 6
        for text in probes:
            want = src.lookup(ipaddress.ip_address(text))[0]
            assert reader.get(text) == want, text
            if ":" not in text:  # ::ffff:a.b.c.d leads to the IPv4 data, as in the IPDB
                mapped = f"::ffff:{text}"
                assert reader.get(mapped) == want == src.lookup(ipaddress.ip_address(mapped))[0]
    code, _out, err = run(capsys, "check-db", str(mmdb), "--expect", "114.114.114.114=CN")
    assert code == 0, err
    code, _out, err = run(
        capsys, "prepare", str(mmdb), str(tmp_path / "dual.idx"), "--samples", "500"
    )
    assert code == 0, err


# --- hypothesis: the readers against ipaddress and the official readers ---------------------

boundaries = st.lists(st.integers(0, 0xFFFFFFFF), min_size=1, max_size=40, unique=True)


def _ranges(cuts: list[int], gaps: list[bool]) -> list[tuple[int, int, int]]:
    cuts = sorted(cuts)
    out = []
    for i, start in enumerate(cuts):
        end = cuts[i + 1] - 1 if i + 1 < len(cuts) else 0xFFFFFFFF
        if not gaps[i % len(gaps)]:
            out.append((start, end, i % len(PLACES)))
    return out


def _probe(ranges):
    points = {0, 0xFFFFFFFF}
    for a, b, _ in ranges:
        points |= {a, b, max(a - 1, 0), min(b + 1, 0xFFFFFFFF), (a + b) // 2}
    return sorted(points)


def _expected(ranges, ip):
    for a, b, place in ranges:
        if a <= ip <= b:
            return a, b, place
    return None


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=boundaries, gaps=st.lists(st.booleans(), min_size=1, max_size=5))
def test_xdb_reader_against_ipaddress_and_reference(tmp_path_factory, cuts, gaps):
    # Few examples: every file has 65536 vector slots and segments (about 0.5 s each).
    ranges = _ranges(cuts, gaps)
    path = tmp_path_factory.mktemp("xdb") / "h.xdb"
    path.write_bytes(write_xdb([(a, b, xdb_text(PLACES[p])) for a, b, p in ranges]))
    src = XdbSource(str(path))
    ref = xdb_searcher.new_with_buffer(xdb_util.IPv4, path.read_bytes())
    for ip in _probe(ranges):
        addr = ipaddress.IPv4Address(ip)
        record, prefix = src.lookup(addr)
        want = _expected(ranges, ip)
        assert ref.search(str(addr)) == (xdb_text(PLACES[want[2]]) if want else "")
        if want is None:
            assert record is None
            continue
        a, b, place = want
        assert record["country"]["names"]["zh-CN"] == PLACES[place][0]
        net = ipaddress.ip_network((addr, prefix), strict=False)
        # The network holds the address, lies inside the range and its /16 slot.
        assert a <= int(net.network_address) <= ip <= int(net.broadcast_address) <= b
    assert [(a, b) for a, b, _, _ in src.iterate()] == [
        (s, e) for a, b, _ in ranges for s, e in _split16(a, b)
    ]
    src.close()


def _split16(a, b):
    while a <= b:
        end = min(b, ((a >> 16) + 1 << 16) - 1)
        yield a, end
        a = end + 1


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=boundaries, gaps=st.lists(st.booleans(), min_size=1, max_size=5))
def test_ipdb_reader_against_ipaddress_and_reference(tmp_path_factory, cuts, gaps):
    ranges = _ranges(cuts, gaps)
    # Fill the gaps with "no location" so the reference (which reads past empty leaves) can
    # answer everywhere.
    full, nxt = [], 0
    for a, b, p in ranges:
        if a > nxt:
            full.append((nxt, a - 1, "局域网\t\t"))
        full.append((a, b, ipdb_text(PLACES[p])))
        nxt = b + 1
    if nxt <= 0xFFFFFFFF:
        full.append((nxt, 0xFFFFFFFF, "局域网\t\t"))
    path = tmp_path_factory.mktemp("ipdb") / "h.ipdb"
    path.write_bytes(write_ipdb(full, IPDB_FIELDS))
    src = IPDBSource(str(path))
    ref = ipdb.City(str(path))
    for ip in _probe(ranges):
        addr = ipaddress.IPv4Address(ip)
        record, prefix = src.lookup(addr)
        want = _expected(ranges, ip)
        got_ref = ref.find(str(addr), "CN")
        if want is None:
            assert record is None
            assert got_ref[0] == "局域网"
            continue
        a, b, place = want
        assert got_ref == list(PLACES[place])
        assert record["country"]["names"]["zh-CN"] == PLACES[place][0]
        net = ipaddress.ip_network((addr, prefix), strict=False)
        assert a <= int(net.network_address) <= ip <= int(net.broadcast_address) <= b
    # iterate() gives back exactly the CIDR blocks of the ranges.
    blocks = [
        (int(n.network_address), int(n.broadcast_address))
        for a, b, _ in ranges
        for net in ipaddress.summarize_address_range(
            ipaddress.IPv4Address(a), ipaddress.IPv4Address(b)
        )
        # The tree's root is a node: 0.0.0.0/0 is stored as its two halves.
        for n in (net.subnets() if net.prefixlen == 0 else [net])
    ]
    assert [(a, b) for a, b, _, _ in src.iterate()] == blocks
    src.close()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    # In 2001::/15: few xdb segments per range (a segment per /16), so each file is quick.
    cuts=st.lists(
        st.integers(0x2001 << 112, (0x2003 << 112) - 1), min_size=1, max_size=30, unique=True
    ),
    gaps=st.lists(st.booleans(), min_size=1, max_size=5),
)
def test_ipv6_xdb_converts_to_the_same_answers(tmp_path_factory, cuts, gaps):
    top = (0x2003 << 112) - 1
    cuts = sorted(cuts)
    ranges = [
        (start, cuts[i + 1] - 1 if i + 1 < len(cuts) else top, i % len(PLACES))
        for i, start in enumerate(cuts)
        if not gaps[i % len(gaps)]
    ]
    tmp = tmp_path_factory.mktemp("xdb6")
    path, mmdb = tmp / "h6.xdb", tmp / "h6.mmdb"
    path.write_bytes(write_xdb([(a, b, xdb_text(PLACES[p])) for a, b, p in ranges], 6))
    assert main(["convert", "--no-progress", str(path), str(mmdb)]) == (0 if ranges else 1)
    if not ranges:
        return
    src = XdbSource(str(path))
    points = {0x2001 << 112, top, top + 1}
    for a, b, _ in ranges:
        points |= {a, b, a - 1, b + 1, (a + b) // 2}
    with maxminddb.open_database(str(mmdb)) as reader:
        for ip in sorted(points):
            addr = ipaddress.IPv6Address(ip)
            got, prefix = reader.get_with_prefix_len(addr)
            want = _expected(ranges, ip)
            assert got == src.lookup(addr)[0], addr
            assert (got is None) == (want is None), addr
            if want:
                net = ipaddress.ip_network((addr, prefix), strict=False)
                assert want[0] <= int(net.network_address) <= int(net.broadcast_address) <= want[1]
        assert reader.get("8.8.8.8") is None
    src.close()


@pytest.mark.slow
def test_million_range_round_trip(tmp_path):
    """Write 1M ranges as xdb, 17mon and (a tenth as) IPDB; read all back; spot-check the
    official readers. About 80 s on a 2-core build machine."""
    rng = random.Random(11)
    cuts = sorted(rng.sample(range(1, 1 << 32), 1_000_000 - 1))
    starts = [0, *cuts]
    ranges = [
        (s, (starts[i + 1] - 1 if i + 1 < len(starts) else 0xFFFFFFFF), i % len(PLACES))
        for i, s in enumerate(starts)
    ]
    path = tmp_path / "big.xdb"
    path.write_bytes(write_xdb([(a, b, xdb_text(PLACES[p])) for a, b, p in ranges]))
    src = XdbSource(str(path))
    got = [(a, b) for a, b, _, _ in src.iterate()]
    assert got == [(s, e) for a, b, _ in ranges for s, e in _split16(a, b)]
    ref = xdb_searcher.new_with_buffer(xdb_util.IPv4, path.read_bytes())
    for a, b, p in rng.sample(ranges, 2000):
        ip = rng.randint(a, b)
        text = str(ipaddress.IPv4Address(ip))
        assert ref.search(text) == xdb_text(PLACES[p])
        record, _ = src.lookup(ipaddress.IPv4Address(ip))
        assert record["country"]["names"]["zh-CN"] == PLACES[p][0]
    src.close()

    mon = tmp_path / "big.dat"
    mon.write_bytes(write_17mon([(a, b, "\t".join(PLACES[p])) for a, b, p in ranges]))
    src17 = open_source(str(mon))
    assert src17.format == "17mon"
    assert sum(1 for _ in src17.iterate()) == len(ranges)
    assert src17.verify().startswith("ipip.net 17monipdb (1000000 ranges")
    src17.close()

    small = ranges[::10]
    small = [
        (a, small[i + 1][0] - 1 if i + 1 < len(small) else 0xFFFFFFFF, p)
        for i, (a, _, p) in enumerate(small)
    ]
    pdb = tmp_path / "big.ipdb"
    pdb.write_bytes(write_ipdb([(a, b, ipdb_text(PLACES[p])) for a, b, p in small], IPDB_FIELDS))
    srcdb = IPDBSource(str(pdb))
    ref = ipdb.City(str(pdb))
    for a, b, p in rng.sample(small, 2000):
        ip = str(ipaddress.IPv4Address(rng.randint(a, b)))
        assert ref.find(ip, "CN") == list(PLACES[p])
        record, _ = srcdb.lookup(ipaddress.ip_address(ip))
        assert record["country"]["names"]["zh-CN"] == PLACES[p][0]
    srcdb.verify()
    srcdb.close()
