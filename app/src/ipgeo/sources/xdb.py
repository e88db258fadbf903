"""Reader for ip2region's ``xdb`` files (structure 2.0 IPv4 and 3.0 IPv4/IPv6).

Layout (integers little-endian): a 256-byte header (version u16, index policy u16, creation
time u32, first and last segment-index entry u32, since 3.0 the IP version u16 and the
runtime pointer size u16); a vector index of 256 x 256 slots of 8 bytes (first and end of the
segment entries whose addresses start with those two bytes); the region texts; the segment
index, sorted: start IP, end IP (IPv4: u32 each; IPv6: 16 bytes big-endian each), text length
u16, text offset u32. A text is ``country|area|province|city|ISP`` (ip2region's classic data,
``0`` for unknown) or ``country|province|city|ISP|CC`` (its newer data, with the ISO code).

The official binding (``py-ip2region``) reads one entry per seek; this reader maps the file
and bisects the segment index, and the tests compare the two.
"""

from __future__ import annotations

import bisect
import mmap
import os
import re
import time
from collections.abc import Iterator

from ..consts import XDB
from ..dictionaries import Enricher
from ..errors import CheckError, DatabaseError
from ..types import IPAddress, Progress, Record
from .common import SelfVerifying, largest_block, to_record

HEADER = 256
VECTOR = 256 * 256 * 8
DATA_START = HEADER + VECTOR
ENTRY = {4: 14, 6: 38}
LANG = "zh-CN"
_CODE = re.compile(r"[A-Z]{2}")
# ip2region's words for "no location".
NO_LOCATION = frozenset({"内网IP", "保留", "本机地址", "局域网"})
_EARLIEST_BUILD = 946684800


def _u16(raw: bytes, at: int) -> int:
    return int.from_bytes(raw[at : at + 2], "little")


def _u32(raw: bytes, at: int) -> int:
    return int.from_bytes(raw[at : at + 4], "little")


def parse_header(head: bytes) -> tuple[int, int, int, int, int]:
    """(structure version, IP version, created, first entry, last entry); ValueError if the
    bytes are not an xdb header."""
    if len(head) < HEADER:
        raise ValueError("shorter than the 256-byte header")
    version, policy = _u16(head, 0), _u16(head, 2)
    if version not in (2, 3) or policy not in (1, 2):
        raise ValueError("not an xdb header")
    ip_version = 4 if version == 2 else {4: 4, 6: 6}.get(_u16(head, 16), 0)
    if not ip_version:
        raise ValueError(f"unknown IP version {_u16(head, 16)}")
    if version == 2 and any(head[16:HEADER]):
        raise ValueError("not an xdb header")
    first, last = _u32(head, 8), _u32(head, 12)
    if first < DATA_START or last < first or (last - first) % ENTRY[ip_version]:
        raise ValueError("bad segment index pointers")
    return version, ip_version, _u32(head, 4), first, last


def text_to_record(text: str, enricher: Enricher | None) -> Record | None:
    fields = ["" if f == "0" else f for f in text.split("|")]
    if len(fields) == 5 and _CODE.fullmatch(fields[4]):
        country, province, city, _isp, code = fields
    else:
        country, _area, province, city = ([*fields, "", "", "", ""])[:4]
        code = ""
    if not country or country in NO_LOCATION:
        return None
    return to_record(LANG, country, province, city, code or None, enricher)


class _Starts:
    """The segment index's start addresses as a sequence (for :mod:`bisect`)."""

    def __init__(self, mm: mmap.mmap, first: int, count: int, ip_version: int) -> None:
        self.mm, self.first, self.count = mm, first, count
        self.size = ENTRY[ip_version]
        self.width = 4 if ip_version == 4 else 16
        self.order = "little" if ip_version == 4 else "big"

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> int:
        at = self.first + i * self.size
        return int.from_bytes(self.mm[at : at + self.width], self.order)  # type: ignore[arg-type]


class XdbSource(SelfVerifying):
    """An open ip2region xdb file (see :class:`ipgeo.sources.Source`)."""

    format = XDB
    database_type = "ip2region-xdb"
    languages = (LANG,)
    indexable = False
    lookup_errors: tuple[type[Exception], ...] = (ValueError,)

    def __init__(self, path: str) -> None:
        try:
            with open(path, "rb") as fh:
                self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise DatabaseError(f"{path}: cannot map: {exc}") from None
        try:
            self.version, self.ip_version, created, first, last = parse_header(self._mm[:HEADER])
        except ValueError as exc:
            self._mm.close()
            raise DatabaseError(f"{path}: not an ip2region xdb file: {exc}") from None
        self.entry = ENTRY[self.ip_version]
        size = len(self._mm)
        if last + self.entry > size:
            self._mm.close()
            raise DatabaseError(
                f"{path}: truncated xdb: the segment index ends at byte {last + self.entry}, "
                f"the file at {size}"
            )
        self.path = path
        # Files without a creation time: the file's mtime is the closest thing.
        self.build_epoch = created if created >= _EARLIEST_BUILD else int(os.stat(path).st_mtime)
        self.first = first
        self.count = (last - first) // self.entry + 1
        self._starts = _Starts(self._mm, first, self.count, self.ip_version)
        self.width = self._starts.width
        self.bits = self.width * 8
        self.enricher = Enricher()

    @staticmethod
    def sniff(head: bytes, tail: bytes, size: int) -> bool:
        try:
            parse_header(head)
        except ValueError:
            return False
        return True

    def segment(self, i: int) -> tuple[int, int, int, int]:
        """Start, end, text offset and text length of segment entry ``i``."""
        at = self.first + i * self.entry
        raw = self._mm[at : at + self.entry]
        w = self.width
        order = "little" if self.ip_version == 4 else "big"
        start = int.from_bytes(raw[:w], order)  # type: ignore[arg-type]
        end = int.from_bytes(raw[w : 2 * w], order)  # type: ignore[arg-type]
        return start, end, _u32(raw, 2 * w + 2), _u16(raw, 2 * w)

    def text(self, offset: int, length: int) -> str:
        if offset + length > len(self._mm):
            raise ValueError(f"text at byte {offset} is past the end of the file")
        return self._mm[offset : offset + length].decode("utf-8")

    def lookup(self, ip: IPAddress) -> tuple[Record | None, int]:
        if ip.version != self.ip_version:
            return None, 0
        value = int(ip)
        i = bisect.bisect_right(self._starts, value) - 1
        if i < 0:
            return None, 0
        start, end, offset, length = self.segment(i)
        if value > end or not length:
            return None, 0
        record = text_to_record(self.text(offset, length), self.enricher)
        return record, largest_block(value, start, end, self.bits)

    def iterate(self) -> Iterator[tuple[int, int, int, Record]]:
        if self.ip_version == 4:
            yield from self._segments()

    def iterate6(self) -> Iterator[tuple[int, int, int, Record]]:
        # ip2region keeps IPv4 and IPv6 in separate files: an IPv6 file's ranges are all IPv6.
        if self.ip_version == 6:
            yield from self._segments()

    def _segments(self) -> Iterator[tuple[int, int, int, Record]]:
        cache: dict[int, Record | None] = {}
        for i in range(self.count):
            start, end, offset, length = self.segment(i)
            if not length:
                continue
            if offset in cache:
                record = cache[offset]
            else:
                record = cache[offset] = text_to_record(self.text(offset, length), self.enricher)
            if record is not None:
                yield start, end, offset, record

    def verify(self, progress: Progress | None = None) -> str:
        """Structural check of every segment entry and its text; raises ``CheckError``."""
        size = len(self._mm)
        previous_end = -1
        for i in range(self.count):
            start, end, offset, length = self.segment(i)
            if start > end or start <= previous_end:
                raise CheckError(f"corrupt xdb: segment {i} is out of order")
            previous_end = end
            if length and not DATA_START <= offset <= size - length:
                raise CheckError(f"corrupt xdb: text of segment {i} points outside the file")
            try:
                self.text(offset, length)
            except UnicodeDecodeError:
                raise CheckError(f"corrupt xdb: text of segment {i} is not UTF-8") from None
        for slot in range(256 * 256):
            at = HEADER + slot * 8
            s_ptr, e_ptr = _u32(self._mm, at), _u32(self._mm, at + 4)
            if (s_ptr or e_ptr) and not (
                self.first <= s_ptr <= e_ptr <= self.first + self.count * self.entry
            ):
                raise CheckError(f"corrupt xdb: vector index slot {slot} points outside the index")
        built = (
            time.strftime("%Y-%m-%d", time.gmtime(self.build_epoch))
            if self.build_epoch >= _EARLIEST_BUILD
            else "unknown"
        )
        return (
            f"ip2region xdb {self.version}.0 (IPv{self.ip_version}, {self.count} segments, "
            f"built {built})"
        )

    def close(self) -> None:
        self._mm.close()
