"""The C renderer (ipgeo._speedups) against its pure Python twin: same bytes, same errors."""

from __future__ import annotations

import ipaddress
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ipgeo import create_app, prepared
from ipgeo.db import file_sha256
from ipgeo.mmdb_writer import write_mmdb
from ipgeo.prepared import PreparedIndex, build_index

# CI builds the extension; a build without it (IPGEO_NO_SPEEDUPS=1) is the only excuse.
if os.environ.get("IPGEO_NO_SPEEDUPS", "") not in ("", "0"):
    pytest.skip("built without the C renderer on purpose", allow_module_level=True)


def test_the_c_renderer_is_built():
    # Fails where a compiler or the Python headers were missing: the app would still work,
    # 3-4x slower, and nobody would notice without this.
    assert prepared._CRenderer is not None, "ipgeo._speedups was not built"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    rng = random.Random(11)
    cuts = sorted(rng.sample(range(1, 2**32 - 1), 1500))
    # A /32 and networks at both ends of the address space, where off-by-ones live.
    cuts = sorted({*cuts, 0x01020304, 0x01020305, 0xFFFFFF00})
    bounds = [0, *cuts, 2**32]
    ranges = []
    for i in range(len(bounds) - 1):
        record = None
        if i % 5:
            record = {
                "country": {"iso_code": "NZ", "names": {"en": f"N{i % 37}", "zh-CN": f"新{i}"}},
                "city": {"names": {"en": f'Q "{i % 11}" \\ é'}},
            }
        ranges.append((bounds[i], bounds[i + 1] - 1, record))
    base = tmp_path_factory.mktemp("speedups")
    db = base / "s.mmdb"
    write_mmdb(str(db), ranges, database_type="Synth", languages=["en", "zh-CN"], description="t")
    build_index(str(db), str(base / "s.idx"), ["en", "zh-CN"], file_sha256(str(db)))
    idx = PreparedIndex(str(base / "s.idx"), file_sha256(str(db)))
    yield idx, ranges, db
    idx.close()


def _outcome(render, text):
    try:
        return "ok", render(text)
    except Exception as exc:  # the kind of error is what is compared
        return type(exc).__name__


def test_same_bytes_on_every_edge(index):
    idx, ranges, _ = index
    for lang in idx.languages:
        c, py = idx.renderer(lang), idx.renderer(lang, speedups=False)
        assert type(c).__name__ == "Renderer" and c is not py
        seen = 0
        for first, last, _ in ranges:
            for value in (first, last, (first + last) // 2, min(last + 1, 2**32 - 1)):
                text = str(ipaddress.IPv4Address(value))
                got = c(text)
                assert got == py(text), text
                seen += got is not None
        assert seen > len(ranges)  # most lookups found something: not a None-vs-None pass


def test_same_bytes_as_the_app_without_index(index):
    idx, ranges, db = index
    client = create_app({"IPGEO_DB_PATH": str(db), "IPGEO_INDEX_PATH": str(db) + ".none"})
    plain = client.test_client()
    c = idx.renderer("zh-CN")
    for first, _, _ in ranges[::17]:
        text = str(ipaddress.IPv4Address(first))
        resp = plain.get(f"/v1/ip/{text}?lang=zh-CN")
        assert (resp.data if resp.status_code == 200 else None) == c(text), text


@pytest.mark.parametrize(
    "text",
    [
        "0.0.0.0", "255.255.255.255", "1.2.3.4", "1.2.3.5", "1.2.3.4\x00", "1.2.3.4 ", " 1.2.3.4",
        "01.2.3.4", "1.2.3.04", "1.2.3", "1.2.3.4.5", "1.2.3.256", "\u0661.2.3.4", "0x1.2.3.4",
        "1..2.3", "", "::1", "::ffff:1.2.3.4", "1.2.3.4/8", "1.2.3.4%eth0", "1.2.3.\uff14",
        "1111.2.3.4", "1.2.3.-4", "1.2.3.+4", 5, None, b"1.2.3.4", 1.5, ["1.2.3.4"],
    ],
)  # fmt: skip
def test_same_errors(index, text):
    idx, _, _ = index
    c, py = idx.renderer("en"), idx.renderer("en", speedups=False)
    assert _outcome(c, text) == _outcome(py, text)


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="0123456789.", max_size=20),
        st.tuples(*[st.integers(0, 300)] * 4).map(lambda t: ".".join(map(str, t))),
        st.text(max_size=20),
    )
)
def test_same_answers_for_generated_strings(index, text):
    idx, _, _ = index
    c, py = idx.renderer("en"), idx.renderer("en", speedups=False)
    assert _outcome(c, text) == _outcome(py, text)


def test_released_renderer_refuses_to_read(tmp_path, index):
    _, _, db = index
    idx = PreparedIndex(str(db.parent / "s.idx"), file_sha256(str(db)))
    render = idx.renderer("en")
    assert render("1.2.3.4") is not None
    idx.close()  # gives the renderer's buffer back first, or closing the map would fail
    with pytest.raises(ValueError, match="closed"):
        render("1.2.3.4")


def test_corrupt_record_number_is_an_error_not_a_crash(tmp_path, index):
    _, _, db = index
    data = bytearray((db.parent / "s.idx").read_bytes())
    idx = PreparedIndex(str(db.parent / "s.idx"), file_sha256(str(db)))
    keys_off, keys_len = idx.header["sections"]["keys"]
    records = idx.header["records"]
    idx.close()
    # Every network now names a record past the end of the tails table.
    keys = memoryview(data)[keys_off : keys_off + keys_len].cast("Q")
    for i in range(len(keys)):
        keys[i] = (keys[i] & ~(0x3FFFFFF << 6)) | ((records + 5) << 6)
    keys.release()
    broken = tmp_path / "broken.idx"
    broken.write_bytes(bytes(data))
    bad = PreparedIndex(str(broken), file_sha256(str(db)))
    try:
        c, py = bad.renderer("en"), bad.renderer("en", speedups=False)
        errors = 0
        for value in range(0, 2**32, 2**32 // 997):
            text = str(ipaddress.IPv4Address(value))
            out_c = _outcome(c, text)
            assert out_c == _outcome(py, text), text
            errors += out_c == "IndexError"
        assert errors > 100
    finally:
        bad.close()
