"""Reader for ipip.net's free ``17monipdb.dat`` format.

Layout: a 4-byte big-endian index length ``H``; 256 little-endian uint32, the first record
number for each first octet; from byte 1028 up to ``H - 1024``, 8-byte records (4-byte
big-endian last IP of the range, 3-byte little-endian text offset, 1-byte text length). A
record's text is at ``H - 1024 + offset``: UTF-8, tab-separated country, province, city[, ...].
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
import mmap
import os
from array import array
from collections.abc import Iterator

from ..consts import IPIP
from ..dictionaries import Enricher
from ..errors import CheckError, DatabaseError
from ..types import IPAddress, Progress, Record
from . import common
from .common import largest_block

HEADER = 4
OCTET_TABLE = 1024
RECORDS_START = HEADER + OCTET_TABLE
RECORD = 8
# The data's own words for "no location": answered as not found, like private ranges in MMDB.
NO_LOCATION = frozenset({"局域网", "本机地址", "保留地址", "共享地址", "本地链路", "组播地址"})
LANG = "zh-CN"


def _uint32_be(raw: bytes, stride: int, count: int) -> array:
    """The big-endian uint32 at the start of each ``stride``-byte item, as native ints."""
    buf = bytearray(count * 4)
    for i in range(4):
        buf[i::4] = raw[i::stride][:count]
    values = array("I")
    values.frombytes(bytes(buf))
    values.byteswap()
    return values


def looks_like_ipip(head: bytes, file_size: int) -> bool:
    """A 17monipdb file: big-endian index length, 256 uint32 first-octet starts, 8-byte records."""
    if len(head) < RECORDS_START + RECORD:
        return False
    index_len = int.from_bytes(head[:HEADER], "big")
    # The text starts at index_len - 1024, inside the file, after whole 8-byte records.
    # (A text base past the end is a truncated file, which the reader reports as such.)
    text_base = index_len - OCTET_TABLE
    if text_base < RECORDS_START + RECORD or (text_base - RECORDS_START) % RECORD:
        return False
    starts = [int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "little") for i in range(256)]
    count = (text_base - RECORDS_START) // RECORD
    return starts[-1] < count and all(a <= b for a, b in itertools.pairwise(starts))


class IPIPSource:
    """An open 17monipdb file (see :class:`ipgeo.sources.Source`)."""

    format = IPIP
    database_type = "ipip.net-17monipdb"
    languages = (LANG,)
    ip_version = 4
    # The prepared index is built and checked for MaxMind DBs only: convert this format first.
    indexable = False
    lookup_errors: tuple[type[Exception], ...] = (ValueError,)

    def __init__(self, path: str) -> None:
        try:
            with open(path, "rb") as fh:
                self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise DatabaseError(f"{path}: cannot map: {exc}") from None
        size = len(self._mm)
        if not looks_like_ipip(self._mm[: RECORDS_START + RECORD], size):
            self._mm.close()
            raise DatabaseError(f"{path}: not a 17monipdb file")
        index_len = int.from_bytes(self._mm[:HEADER], "big")
        self._text_base = index_len - OCTET_TABLE
        if self._text_base > size:
            self._mm.close()
            raise DatabaseError(
                f"{path}: truncated 17monipdb: its records end at byte {self._text_base}, "
                f"the file at {size}"
            )
        self.count = (self._text_base - RECORDS_START) // RECORD
        records = self._mm[RECORDS_START : self._text_base]
        self._ends = _uint32_be(records, RECORD, self.count)
        self.octet_starts = [
            int.from_bytes(self._mm[HEADER + 4 * i : HEADER + 4 * i + 4], "little")
            for i in range(256)
        ]
        # The format has no build date; the file's mtime is the closest thing.
        self.build_epoch = int(os.stat(path).st_mtime)
        self.enricher = Enricher()

    @staticmethod
    def sniff(head: bytes, tail: bytes, size: int) -> bool:
        return looks_like_ipip(head, size)

    @classmethod
    def check(cls, path: str, size: int, progress: Progress) -> str:
        try:
            src = cls(path)
        except DatabaseError as exc:
            raise CheckError(str(exc)) from None
        try:
            return src.verify()
        finally:
            src.close()

    @staticmethod
    def explain(head: bytes) -> str | None:
        return None

    def entry(self, index: int) -> tuple[int, int, list[str]]:
        """First IP, last IP and text fields of record ``index``."""
        pos = RECORDS_START + index * RECORD
        last = self._ends[index]
        first = self._ends[index - 1] + 1 if index else 0
        offset = int.from_bytes(self._mm[pos + 4 : pos + 7], "little")
        length = self._mm[pos + 7]
        start = self._text_base + offset
        if start + length > len(self._mm):
            raise ValueError(f"truncated 17monipdb: text of record {index} is past the end")
        text = self._mm[start : start + length].decode("utf-8")
        return first, last, text.split("\t")

    def lookup(self, ip: IPAddress) -> tuple[Record | None, int]:
        if ip.version != 4:
            return None, 0
        value = int(ip)
        index = bisect.bisect_left(self._ends, value)
        if index >= self.count:
            return None, 0
        first, last, parts = self.entry(index)
        prefix = largest_block(value, first, last)
        return to_record(parts, self.enricher), prefix

    def iterate6(self) -> Iterator[tuple[int, int, int, Record]]:
        return iter(())  # 17monipdb is IPv4 only

    def iterate(self) -> Iterator[tuple[int, int, int, Record]]:
        for index in range(self.count):
            first, last, parts = self.entry(index)
            record = to_record(parts, self.enricher)
            if record is not None:
                yield first, last, index, record

    def verify(self) -> str:
        """Structural check of the open file; raises ``CheckError``."""
        size = len(self._mm)
        if self.count == 0:
            raise CheckError("corrupt 17monipdb: no records")
        ends = self._ends
        for i in range(1, self.count):
            if ends[i] <= ends[i - 1]:
                raise CheckError(f"corrupt 17monipdb: record {i} is out of order")
        if ends[-1] != 0xFFFFFFFF:
            raise CheckError(
                f"truncated 17monipdb: records end at {ipaddress.IPv4Address(ends[-1])}"
            )
        for octet, start in enumerate(self.octet_starts):
            if start > bisect.bisect_left(ends, octet << 24):
                raise CheckError(f"corrupt 17monipdb: first-octet index for {octet} is wrong")
        for i in range(self.count):
            pos = RECORDS_START + i * RECORD
            offset = int.from_bytes(self._mm[pos + 4 : pos + 7], "little")
            if self._text_base + offset + self._mm[pos + 7] > size:
                raise CheckError(f"truncated 17monipdb: text of record {i} is past the end")
            try:
                self.entry(i)
            except UnicodeDecodeError:
                raise CheckError(f"corrupt 17monipdb: text of record {i} is not UTF-8") from None
        return f"ipip.net 17monipdb ({self.count} ranges)"

    def close(self) -> None:
        self._mm.close()


def to_record(parts: list[str], enricher: Enricher | None = None) -> Record | None:
    """The MMDB-like record for one text entry; the format has names only, ``enricher``
    adds their codes (:mod:`ipgeo.dictionaries`)."""
    country, province, city = ([*parts, "", "", ""])[:3]
    if not country or country in NO_LOCATION:
        return None
    return common.to_record(LANG, country, province, city, enricher=enricher)
