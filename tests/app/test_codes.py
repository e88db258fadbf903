"""Code dictionaries (IPGEO_ADCODE_FILE): a separate ``adcode`` on region and city, the same
from the MMDB and from a prepared index built with the same dictionary."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import pytest
from ipgeo import create_app
from ipgeo.cli import main
from ipgeo.codes import CodeBook, CodesError
from ipgeo.mmdb_writer import write_mmdb

CODES = Path(__file__).parent / "data" / "adcodes.tsv"


def _app(db, codes=None, **env):
    settings = {"IPGEO_DB_PATH": str(db), **env}
    if codes is not None:
        settings["IPGEO_ADCODE_FILE"] = str(codes)
    return create_app(settings)


# --- the dictionary on the real DB -----------------------------------------------------------


@pytest.fixture(scope="module")
def coded(db_path):
    return _app(db_path, CODES).test_client()


@pytest.mark.parametrize(
    ("ip", "region", "city"),
    [
        ("114.114.114.114", ("JS", "320000"), "320100"),  # zh-CN names
        ("223.5.5.5", ("ZJ", "330000"), "330100"),  # en names
        ("61.135.169.121", ("BJ", "110000"), "110100"),  # city row without a region
        ("202.96.128.86", ("GD", "440000"), "440100"),  # country by name
        ("1.0.1.1", ("FJ", None), None),  # not in the dictionary
        ("8.8.8.8", (None, None), None),  # no region or city at all
    ],
)
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_adcodes_beside_iso_codes(coded, ip, region, city, lang):
    body = coded.get(f"/v1/ip/{ip}?lang={lang}").get_json()
    # region.code stays the DB's ISO 3166-2 code: two code systems never share a field.
    assert (body["region"]["code"], body["region"]["adcode"]) == region
    assert body["city"]["adcode"] == city
    assert set(body["region"]) == {"code", "name", "adcode"}
    assert set(body["city"]) == {"name", "adcode"}


def test_no_dictionary_no_adcode_keys(client):
    body = client.get("/v1/ip/114.114.114.114").get_json()
    assert body["region"] == {"code": "JS", "name": "Jiangsu"}
    assert body["city"] == {"name": "Nanjing"}


def test_batch_self_and_etag_with_codes(coded, client):
    ips = ["114.114.114.114", "223.5.5.5", "8.8.8.8", "10.0.0.1", "::ffff:61.135.169.121"]
    results = coded.post("/v1/batch", json={"ips": ips}).get_json()["results"]
    for ip, result in zip(ips, results, strict=True):
        single = coded.get(f"/v1/ip/{ip}")
        assert result == (single.get_json() if single.status_code == 200 else result)
    assert results[0]["city"]["adcode"] == "320100"
    assert results[4]["region"]["adcode"] == "110000"
    me = coded.get("/v1/ip", environ_base={"REMOTE_ADDR": "223.5.5.5"}).get_json()
    assert me["city"]["adcode"] == "330100"
    # Other bodies, so another ETag.
    assert (
        coded.get("/v1/ip/8.8.8.8").headers["ETag"] != client.get("/v1/ip/8.8.8.8").headers["ETag"]
    )


def test_readyz_names_the_dictionary(coded, client):
    codes = coded.get("/readyz").get_json()["db"]["codes"]
    assert codes["path"] == str(CODES)
    assert codes["entries"] == 10
    assert len(codes["sha256"]) == 64
    assert client.get("/readyz").get_json()["db"]["codes"] is None


def test_cli_lookup_with_codes(capsys, db_path):
    assert main(["lookup", "114.114.114.114", "--db", str(db_path), "--codes", str(CODES)]) == 0
    assert '"adcode": "320100"' in capsys.readouterr().out


# --- parsing ---------------------------------------------------------------------------------


def _wide(text: str) -> str:
    """Fullwidth forms, as some Chinese data sources write Latin letters and digits."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def test_parse_normalises_and_digests_content():
    a = CodeBook.parse(
        ["CN\tJiangsu\t\t320000\n", f"cn\t {_wide('JIANGSU')} \tNanjing\t320100\r\n"]
    )
    b = CodeBook.parse(
        ["# other comments\n", "CN\tjiangsu\tnanjing\t320100\n", "CN\tJiangsu\t\t320000"]
    )
    assert len(a) == 2
    assert a.sha256 == b.sha256  # the same entries, however written
    assert CodeBook.parse(["CN\tJiangsu\t\t320001"]).sha256 != a.sha256
    record = {"country": {"iso_code": "CN"}, "subdivisions": [{"names": {"en": "Jiangsu"}}]}
    assert a.adcodes(record) == ("320000", None)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("CN\tJiangsu\t320000", "4 tab-separated columns"),
        ("CN\tJiangsu\t\t\t320000", "4 tab-separated columns"),
        ("\tJiangsu\t\t320000", "a country and a region or city"),
        ("CN\t\t\t320000", "a country and a region or city"),
        ("CN\tJiangsu\t\t", "bad code"),
        ("CN\tJiangsu\t\t32 0000", "bad code"),
        ("CN\tJiangsu\t\t" + _wide("320000"), "bad code"),
    ],
)
def test_parse_errors_name_file_and_line(line, message):
    with pytest.raises(CodesError, match=message) as err:
        CodeBook.parse(["# header", line], "x.tsv")
    assert str(err.value).startswith("x.tsv:2: ")


def test_conflicting_entries():
    with pytest.raises(CodesError, match=r"x.tsv:2: .* already has code 320000"):
        CodeBook.parse(["CN\tJiangsu\t\t320000", "CN\tjiangsu\t\t330000"], "x.tsv")


def test_bad_dictionary_makes_the_app_not_ready(db_path, tmp_path):
    bad = tmp_path / "codes.tsv"
    bad.write_text("CN\tJiangsu\n")
    for path, message in ((bad, "codes.tsv:1:"), (tmp_path / "absent.tsv", "not found")):
        resp = _app(db_path, path).test_client().get("/readyz")
        assert resp.status_code == 503
        assert message in resp.get_json()["error"]["message"]
    bad.write_bytes(b"CN\t\xff\t\t1\n")
    assert "UTF-8" in _app(db_path, bad).test_client().get("/readyz").get_json()["error"]["message"]


# --- the prepared index ----------------------------------------------------------------------


def _place(country, region, city, lat):
    rec = {"country": {"iso_code": country[0], "names": {"en": country[1], "zh-CN": country[2]}}}
    if region:
        rec["subdivisions"] = [
            {"iso_code": region[0], "names": {"en": region[1], "zh-CN": region[2]}}
        ]
    if city:
        rec["city"] = {"names": {"en": city[0], "zh-CN": city[1]}}
    rec["location"] = {"latitude": lat, "longitude": 118.0, "time_zone": "Asia/Shanghai"}
    return rec


CN = ("CN", "China", "中国")
PLACES = [
    _place(CN, ("JS", "Jiangsu", "江苏省"), ("Nanjing", "南京"), 32.0),
    _place(CN, ("JS", "Jiangsu", "江苏省"), ("Suzhou", "苏州"), 31.3),
    _place(CN, ("ZJ", "Zhejiang", "浙江省"), ("Hangzhou", "杭州"), 30.2),
    _place(CN, ("BJ", "Beijing", "北京市"), ("Beijing", "北京"), 39.9),
    _place(CN, ("GD", "Guangdong", "广东"), ("Guangzhou", "广州"), 23.1),
    _place(CN, None, ("Beijing", "北京"), 39.9),
    _place(CN, ("FJ", "Fujian", "闽"), None, 26.0),
    _place(("US", "United States", "美国"), None, None, 37.7),
]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    base = tmp_path_factory.mktemp("codes")
    db = base / "cn.mmdb"
    step = 2**32 // 40
    ranges = [
        (
            i * step,
            (i + 1) * step - 1 if i < 39 else 2**32 - 1,
            None if i % 5 == 4 else PLACES[i % 8],
        )
        for i in range(40)
    ]
    write_mmdb(str(db), ranges, database_type="Synth", languages=["en", "zh-CN"], description="t")
    other = base / "other.tsv"
    other.write_text(CODES.read_text().replace("320100", "320199"))
    for name, codes in (("coded.idx", CODES), ("plain.idx", None), ("other.idx", other)):
        argv = ["prepare", str(db), str(base / name), "--samples", "500"]
        assert main(argv + (["--codes", str(codes)] if codes else [])) == 0
    probes = []
    for first, last, _ in ranges:
        probes += [first, last, (first + last) // 2]
    return db, base, other, [str(ipaddress.IPv4Address(v)) for v in probes]


def _same_answers(a, b, ips):
    for ip in ips:
        for query in ("", "?lang=zh-CN", "?fields=city,region"):
            ra, rb = a.get(f"/v1/ip/{ip}{query}"), b.get(f"/v1/ip/{ip}{query}")
            assert (ra.status_code, ra.data) == (rb.status_code, rb.data), (ip, query)
    for lang in ("en", "zh-CN"):
        ra = a.post(f"/v1/batch?lang={lang}", json={"ips": ips})
        rb = b.post(f"/v1/batch?lang={lang}", json={"ips": ips})
        assert (ra.status_code, ra.data) == (rb.status_code, rb.data)


def test_index_built_with_the_dictionary_answers_like_the_mmdb(synth):
    db, base, _, ips = synth
    indexed = _app(db, CODES, IPGEO_INDEX_PATH=str(base / "coded.idx")).test_client()
    plain = _app(db, CODES, IPGEO_INDEX_PATH="/nonexistent").test_client()
    assert indexed.get("/readyz").get_json()["db"]["index"] is not None
    assert plain.get("/readyz").get_json()["db"]["index"] is None
    _same_answers(indexed, plain, ips)
    nanjing = indexed.get(f"/v1/ip/{ips[0]}").get_json()
    assert (nanjing["region"]["adcode"], nanjing["city"]["adcode"]) == ("320000", "320100")


@pytest.mark.parametrize(
    ("index", "codes", "why"),
    [
        ("coded.idx", None, "built with a code dictionary"),
        ("plain.idx", CODES, "built without a code dictionary"),
        ("other.idx", CODES, "built with another code dictionary"),
    ],
)
def test_index_with_another_dictionary_is_ignored(synth, caplog, index, codes, why):
    db, base, _, ips = synth
    with caplog.at_level(logging.WARNING, logger="ipgeo.db"):
        app = _app(db, codes, IPGEO_INDEX_PATH=str(base / index)).test_client()
    assert app.get("/readyz").get_json()["db"]["index"] is None
    assert why in caplog.text
    reference = _app(db, codes, IPGEO_INDEX_PATH="/nonexistent").test_client()
    _same_answers(app, reference, ips[:30])


def test_check_db_index_needs_the_same_dictionary(synth, capsys):
    db, base, other, _ = synth
    argv = ["check-db", str(db), "--index-samples", "200", "--index"]
    assert main([*argv, str(base / "coded.idx"), "--codes", str(CODES)]) == 0
    assert main([*argv, str(base / "plain.idx")]) == 0
    capsys.readouterr()
    for index, codes, why in (
        ("coded.idx", [], "built with a code dictionary"),
        ("plain.idx", ["--codes", str(CODES)], "built without a code dictionary"),
        ("other.idx", ["--codes", str(CODES)], "built with another code dictionary"),
        ("coded.idx", ["--codes", str(other)], "built with another code dictionary"),
    ):
        assert main([*argv, str(base / index), *codes]) != 0
        assert why in capsys.readouterr().err


# --- ipgeo check-codes (the deploy's preflight check) -----------------------------------------


def test_check_codes_prints_size_and_digest(capsys):
    assert main(["check-codes", str(CODES)]) == 0
    out, err = capsys.readouterr()
    book = CodeBook.load(str(CODES))
    assert out == f"{len(book)} entries, content sha256 {book.sha256}\n"
    assert len(book) > 0
    assert err == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CN\t江苏省\t320000\n", ":1: expected 4 tab-separated columns, got 3"),
        ("# header\nCN\t江苏省\t\tx y\n", ":2: bad code 'x y'"),
        ("# only a comment\n\n", ": no entries (only blank lines and comments)"),
        ("", ": no entries (only blank lines and comments)"),
    ],
)
def test_check_codes_refuses_a_bad_file(capsys, tmp_path, text, message):
    path = tmp_path / "codes.tsv"
    path.write_text(text, encoding="utf-8")
    assert main(["check-codes", str(path)]) != 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"{path}{message}\n"


def test_check_codes_missing_file(capsys, tmp_path):
    path = tmp_path / "absent.tsv"
    assert main(["check-codes", str(path)]) != 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"{path}: code dictionary not found\n"
