"""Writers of the name-only formats: 17monipdb, ip2region xdb and ipip.net IPDB.

For tests and the Molecule scenarios (which build their own files: no real database is
shipped): ``ranges`` are ``(first, last, text)`` with ``first``/``last`` as ints, ascending
and not overlapping, ``text`` in the format's own layout (17mon: ``country\\tprovince\\tcity``;
xdb: ``country|area|province|city|ISP``; IPDB: one tab-separated value per field and
language). Gaps between ranges are written as "no data".
"""

from __future__ import annotations

import ipaddress
import json
import struct
from collections.abc import Iterable, Iterator, Sequence

from .mmdb_writer import _EMPTY, V4_MAPPED, _Tree
from .sources.xdb import DATA_START, ENTRY, HEADER

TextRange = tuple[int, int, str]


def _filled(ranges: Iterable[TextRange], top: int) -> Iterator[TextRange]:
    """The ranges with every gap (and the space after the last) as an empty text."""
    nxt = 0
    for first, last, text in ranges:
        if first < nxt or last < first or last > top:
            raise ValueError(f"ranges must ascend without overlap: {first}..{last}")
        if first > nxt:
            yield nxt, first - 1, ""
        yield first, last, text
        nxt = last + 1
    if nxt <= top:
        yield nxt, top, ""


class _Texts:
    def __init__(self, base: int = 0) -> None:
        self.data = bytearray()
        self.base = base
        self.seen: dict[bytes, int] = {}

    def add(self, raw: bytes) -> int:
        at = self.seen.get(raw)
        if at is None:
            at = self.seen[raw] = self.base + len(self.data)
            self.data += raw
        return at


def write_17mon(ranges: Iterable[TextRange]) -> bytes:
    """A 17monipdb file (layout in :mod:`ipgeo.sources.ipip`)."""
    texts = _Texts()
    records = bytearray()
    lasts: list[int] = []
    for _first, last, text in _filled(ranges, 0xFFFFFFFF):
        raw = text.encode("utf-8")
        if len(raw) > 255:
            raise ValueError(f"text longer than 255 bytes: {text[:40]!r}")
        records += struct.pack(">I", last) + texts.add(raw).to_bytes(3, "little")
        records.append(len(raw))
        lasts.append(last)
    table = bytearray()
    i = 0
    for octet in range(256):
        while lasts[i] < octet << 24:
            i += 1
        table += struct.pack("<I", i)
    index_len = 4 + len(table) + len(records) + 1024
    return struct.pack(">I", index_len) + bytes(table) + bytes(records) + bytes(texts.data)


def write_xdb(ranges: Iterable[TextRange], ip_version: int = 4, created: int = 0) -> bytes:
    """An ip2region xdb file (structure 3.0; layout in :mod:`ipgeo.sources.xdb`)."""
    bits = 32 if ip_version == 4 else 128
    shift = bits - 16  # a vector-index slot per first two bytes
    texts = _Texts(DATA_START)
    segments: list[tuple[int, int, int, int]] = []
    for first, last, text in _filled(ranges, (1 << bits) - 1):
        raw = text.encode("utf-8")
        ptr = texts.add(raw) if raw else 0
        start = first
        while start <= last:
            end = min(last, (((start >> shift) + 1) << shift) - 1)
            segments.append((start, end, len(raw), ptr))
            start = end + 1
    size = ENTRY[ip_version]
    index_start = DATA_START + len(texts.data)
    vector = [[0, 0] for _ in range(256 * 256)]
    index = bytearray()
    for i, (start, end, length, ptr) in enumerate(segments):
        if ip_version == 4:
            index += struct.pack("<IIHI", start, end, length, ptr)
        else:
            index += start.to_bytes(16, "big") + end.to_bytes(16, "big")
            index += struct.pack("<HI", length, ptr)
        slot = vector[start >> shift]
        at = index_start + i * size
        if not slot[0]:
            slot[0] = at
        slot[1] = at + size
    header = struct.pack(
        "<HHIIIHH",
        3,
        1,
        created,
        index_start,
        index_start + (len(segments) - 1) * size,
        ip_version,
        4,
    )
    header += bytes(HEADER - len(header))
    vec = b"".join(struct.pack("<II", s, e) for s, e in vector)
    return header + vec + bytes(texts.data) + bytes(index)


def write_ipdb(
    ranges: Iterable[TextRange],
    fields: Sequence[str] = ("country_name", "region_name", "city_name"),
    languages: Sequence[str] = ("CN",),
    build: int = 0,
    ranges6: Iterable[TextRange] = (),
) -> bytes:
    """An ipip.net IPDB file (layout in :mod:`ipgeo.sources.ipdb`); each text holds
    ``len(fields) * len(languages)`` tab-separated values. ``ranges`` are IPv4 (kept under
    ``::ffff:0:0/96``), ``ranges6`` IPv6 (none under ``::ffff:0:0/96``); with IPv6 ranges the
    file is an IPv4+IPv6 one (``ip_version`` 3), or IPv6 only if ``ranges`` is empty."""
    data = bytearray(b"\x00\x00")  # offset 0 would read as "no data": keep it unused
    seen: dict[bytes, int] = {}
    blocks: list[tuple[int, int, int]] = []
    offsets: list[int] = []
    has = {4: False, 6: False}
    for version, rows in ((4, ranges), (6, ranges6)):
        address = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
        for first, last, text in rows:
            has[version] = True
            raw = text.encode("utf-8")
            index = seen.get(raw)
            if index is None:
                index = seen[raw] = len(offsets)
                offsets.append(len(data))
                data += struct.pack(">H", len(raw)) + raw
            for net in ipaddress.summarize_address_range(address(first), address(last)):
                start, prefix = int(net.network_address), net.prefixlen
                if version == 4:
                    start, prefix = V4_MAPPED + start, prefix + 96
                elif V4_MAPPED <= start <= V4_MAPPED + 0xFFFFFFFF:
                    raise ValueError("IPv6 ranges under ::ffff:0:0/96 collide with IPv4")
                if prefix in (0, 96):
                    # The root and the IPv4 root must be nodes: store /0 as its two halves.
                    half = 1 << (127 - prefix)
                    blocks += [(start, prefix + 1, index), (start + half, prefix + 1, index)]
                else:
                    blocks.append((start, prefix, index))
    blocks.sort()
    if not has[6]:
        has[4] = True  # an empty file is an IPv4 one
    # ::ffff:0:0/96 leads to the IPv4 tree (80 zero bits, then 16 one bits), as a chain of
    # nodes even with no IPv4 data, as ipip.net's files have it.
    if has[4] and not any(start >> 32 == 0xFFFF for start, _, _ in blocks):
        blocks.append((V4_MAPPED, 97, -1))  # data index -1: the empty reference
        blocks.sort()
    tree = _Tree(blocks, lambda _n: None, 128)
    node_count = len(tree.left)

    def value(ref: int) -> int:
        if ref >= 0:
            return ref
        if ref == _EMPTY:
            return node_count
        return node_count + offsets[-2 - ref]

    nodes = bytearray()
    for left, right in zip(tree.left, tree.right, strict=True):
        nodes += struct.pack(">II", value(left), value(right))
    meta = {
        "build": build,
        "ip_version": (1 if has[4] else 0) | (2 if has[6] else 0),
        "languages": {lang: i * len(fields) for i, lang in enumerate(languages)},
        "node_count": node_count,
        "total_size": len(nodes) + len(data),
        "fields": list(fields),
    }
    raw_meta = json.dumps(meta, ensure_ascii=False).encode("utf-8")
    return struct.pack(">I", len(raw_meta)) + raw_meta + bytes(nodes) + bytes(data)
