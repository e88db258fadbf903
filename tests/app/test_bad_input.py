"""Damaged files, every command, every name-only format: one line, non-zero exit, no traceback.

Files are cut at every section boundary (and inside each section) and have random bytes
written into each section; ``check-db``, ``info``, ``lookup`` and ``convert`` must end with
an exit code and, on failure, one line on stderr naming the file. Bounded: a fixed seed, a
few dozen files per format, each small.
"""

from __future__ import annotations

import ipaddress
import random
import struct

import pytest
from ipgeo.cli import main
from ipgeo.sources.xdb import DATA_START, HEADER
from ipgeo.writers import write_17mon, write_ipdb, write_xdb


def to_int(text: str) -> int:
    return int(ipaddress.ip_address(text))


RANGES = [
    (to_int("1.0.0.0"), to_int("1.0.0.255"), ("澳大利亚", "", "")),
    (to_int("1.0.1.0"), to_int("1.0.3.255"), ("中国", "福建", "福州")),
    (to_int("114.114.0.0"), to_int("114.114.255.255"), ("中国", "江苏", "南京")),
    (to_int("223.5.5.0"), to_int("223.5.5.255"), ("中国", "北京", "北京")),
]


def _17mon() -> tuple[bytes, dict[str, int]]:
    data = write_17mon([(a, b, "\t".join(p)) for a, b, p in RANGES])
    text = int.from_bytes(data[:4], "big") - 1024
    return data, {"header": 4, "octet table": 1028, "records": text, "texts": len(data)}


def _xdb() -> tuple[bytes, dict[str, int]]:
    data = write_xdb(
        [(a, b, "|".join([p[0], "0", p[1] or "0", p[2] or "0", "0"])) for a, b, p in RANGES]
    )
    first = struct.unpack_from("<I", data, 8)[0]
    return data, {
        "header": HEADER,
        "vector index": DATA_START,
        "texts": first,
        "segments": len(data),
    }


def _ipdb() -> tuple[bytes, dict[str, int]]:
    data = write_ipdb([(a, b, "\t".join(p)) for a, b, p in RANGES])
    meta = 4 + int.from_bytes(data[:4], "big")
    import json

    nodes = json.loads(data[4:meta])["node_count"] * 8
    return data, {"length": 4, "metadata": meta, "tree": meta + nodes, "data": len(data)}


FORMATS = {"17mon": _17mon, "xdb": _xdb, "ipdb": _ipdb}


def _run(capsys, path, *argv):
    code = main([*argv])
    _out, err = capsys.readouterr()
    assert isinstance(code, int)
    if code:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("ipgeo: "), err
        # A lookup that the file answers with "no data" is an answer, not a failure.
        assert str(path) in lines[0] or "not_found" in lines[0], err
        assert "Traceback" not in err
    return code, err


def _all_commands(capsys, path, tmp_path):
    results = {}
    results["check-db"] = _run(
        capsys, path, "check-db", str(path), "--expect", "114.114.114.114=CN"
    )
    results["info"] = _run(capsys, path, "info", str(path))
    results["lookup"] = _run(capsys, path, "lookup", "--db", str(path), "114.114.114.114")
    results["convert"] = _run(
        capsys, path, "convert", "--no-progress", str(path), str(tmp_path / "out.mmdb")
    )
    return results


def _cuts(sections: dict[str, int]) -> list[tuple[str, int]]:
    cuts = []
    start = 0
    for name, end in sections.items():
        for at in sorted({start + 1, (start + end) // 2, end - 1}):
            if start < at < end:
                cuts.append((f"inside {name}", at))
        if end < max(sections.values()):
            cuts.append((f"after {name}", end))
        start = end
    return cuts


@pytest.mark.parametrize("fmt", FORMATS)
def test_intact_files_pass(capsys, tmp_path, fmt):
    data, _ = FORMATS[fmt]()
    path = tmp_path / f"db.{fmt}"
    path.write_bytes(data)
    for command, (code, err) in _all_commands(capsys, path, tmp_path).items():
        assert code == 0, (command, err)


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_files(capsys, tmp_path, fmt):
    data, sections = FORMATS[fmt]()
    for where, at in _cuts(sections):
        path = tmp_path / f"cut-{at}.{fmt}"
        path.write_bytes(data[:at])
        results = _all_commands(capsys, path, tmp_path)
        code, err = results["check-db"]
        assert code != 0, (where, at)
        first = next(iter(sections.values()))
        if (at >= first and fmt != "ipdb") or at > sections.get("metadata", 0):
            # Past the header the format is known: the file is reported as cut short.
            assert "truncated" in err or "corrupt" in err, (where, at, err)
        assert results["convert"][0] != 0, (where, at)


@pytest.mark.parametrize("fmt", FORMATS)
def test_random_bytes_in_each_section(capsys, tmp_path, fmt):
    data, sections = FORMATS[fmt]()
    rng = random.Random(fmt)
    start = 0
    for name, end in sections.items():
        for trial in range(4):
            damaged = bytearray(data)
            at = rng.randrange(start, end)
            length = min(rng.choice([1, 4, 16]), end - at)
            damaged[at : at + length] = rng.randbytes(length)
            path = tmp_path / f"{name.replace(' ', '-')}-{trial}.{fmt}"
            path.write_bytes(bytes(damaged))
            _all_commands(capsys, path, tmp_path)
        start = end


def test_17mon_out_of_order_and_bad_utf8(capsys, tmp_path):
    data = bytearray(_17mon()[0])
    # Swap the first two records' end addresses: out of order.
    first, second = data[1028:1032], data[1036:1040]
    data[1028:1032], data[1036:1040] = second, first
    path = tmp_path / "order.dat"
    path.write_bytes(bytes(data))
    results = _all_commands(capsys, path, tmp_path)
    assert "out of order" in results["check-db"][1]
    assert results["convert"][0] != 0
    data = bytearray(_17mon()[0])
    text = int.from_bytes(data[:4], "big") - 1024
    data[text : text + 2] = b"\xff\xfe"
    path = tmp_path / "utf8.dat"
    path.write_bytes(bytes(data))
    results = _all_commands(capsys, path, tmp_path)
    assert "not UTF-8" in results["check-db"][1]
    assert results["convert"][0] != 0


def test_wrong_answer_names_what_it_resolved_to(capsys, tmp_path):
    path = tmp_path / "db.dat"
    path.write_bytes(_17mon()[0])
    code, err = _run(capsys, path, "check-db", str(path), "--expect", "114.114.114.114=US")
    assert code != 0
    assert "114.114.114.114 resolved to CN, expected US" in err
