"""MaxMind DB files (GeoLite2, GeoIP2, ``ipgeo convert``'s output), read by ``maxminddb``.

The file is memory-mapped by the ``maxminddb`` C extension, so every worker shares the page
cache instead of holding a copy. The structural check and the IPv4 walk read the search tree
themselves: the reader has no API for either.
"""

from __future__ import annotations

import mmap
import re
import socket
import time
from array import array
from collections.abc import Iterator
from typing import Any

import maxminddb
from maxminddb.decoder import Decoder

from ..consts import MMDB, MMDB_MARKER, MMDB_METADATA_MAX
from ..errors import CheckError, DatabaseError
from ..types import IPAddress, Progress, Record

_SEPARATOR = 16
_MAP_TYPE = 7
# Data records sampled for a full decode; the tree walk already checks every pointer.
_DECODE_SAMPLE = 2000
_EARLIEST_BUILD = 946684800  # 2000-01-01: older build dates mean corrupt metadata


class MMDBSource:
    """An open MaxMind DB (see :class:`ipgeo.sources.Source`)."""

    format = MMDB
    indexable = True
    lookup_errors: tuple[type[Exception], ...] = (maxminddb.InvalidDatabaseError, ValueError)

    def __init__(self, path: str) -> None:
        try:
            self._reader = maxminddb.open_database(path, maxminddb.MODE_MMAP_EXT)
        except (ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise DatabaseError(f"{path}: not a valid MaxMind DB: {exc}") from exc
        self.path = path
        meta = self._reader.metadata()
        self.database_type: str = meta.database_type
        self.build_epoch: int = int(meta.build_epoch)
        self.languages: tuple[str, ...] = tuple(meta.languages)
        self.ip_version: int = int(meta.ip_version)
        #: For a file ``ipgeo convert`` wrote: the original's format, name and SHA-256.
        self.converted_from = converted_from(meta.description)

    @staticmethod
    def sniff(head: bytes, tail: bytes, size: int) -> bool:
        return tail.rfind(MMDB_MARKER) >= 0

    @staticmethod
    def check(path: str, size: int, progress: Progress) -> str:
        return check_mmdb(path, size, progress)

    @staticmethod
    def explain(head: bytes) -> str | None:
        if _looks_like_tree_start(head):
            return (
                "truncated: no MaxMind DB metadata at the end, but the file starts like an MMDB "
                "search tree"
            )
        return None

    def lookup(self, ip: IPAddress) -> tuple[Record | None, int]:
        if ip.version == 6 and self.ip_version == 4:
            return None, 0
        record, prefix_len = self._reader.get_with_prefix_len(ip)
        return record, prefix_len

    def iterate(self) -> Iterator[tuple[int, int, int, Record]]:
        cache: dict[int, Record] = {}
        get = self._reader.get
        for start, plen, pointer in ipv4_networks(self.path):
            record = cache.get(pointer)
            if record is None:
                # The C reader decodes the record of the network's first address.
                record = cache[pointer] = get(socket.inet_ntoa(start.to_bytes(4, "big")))
            yield start, start + (1 << (32 - plen)) - 1, pointer, record

    def iterate6(self) -> Iterator[tuple[int, int, int, Record]]:
        return iter(())  # an MMDB is served as it is, never converted

    def close(self) -> None:
        self._reader.close()


_CONVERTED = re.compile(
    r"converted from (?P<format>\S+) file (?P<name>.+) \(sha256 (?P<sha256>[0-9a-f]{64})\) by ipgeo"
    r"(?:; (?P<unknown_names>\d+) names without codes)?"
)


def converted_from(description: object) -> dict[str, Any] | None:
    """The origin ``ipgeo convert`` wrote into the description (``ipgeo.convert``)."""
    text = description.get("en") if isinstance(description, dict) else None
    match = _CONVERTED.fullmatch(text) if isinstance(text, str) else None
    if not match:
        return None
    origin: dict[str, Any] = {k: match[k] for k in ("format", "name", "sha256")}
    # How many distinct names of the original the built-in dictionaries could not place.
    origin["unknown_names"] = int(match["unknown_names"]) if match["unknown_names"] else None
    return origin


# --- the search tree ------------------------------------------------------------------------


def tree_records(tree: bytes, record_size: int, node_count: int) -> array:
    """All left/right records of the search tree as native uint32, in node order.

    Unpacking uses strided slices and ``bytes.translate`` so the loop runs in C.
    """
    count = node_count * 2
    buf = bytearray(count * 4)
    if record_size == 24:
        buf[1::4] = tree[0::3]
        buf[2::4] = tree[1::3]
        buf[3::4] = tree[2::3]
    elif record_size == 28:
        # Node = 7 bytes: left = high nibble of byte 3 + bytes 0-2, right = low nibble + 4-6.
        middle = tree[3::7]
        buf[0::8] = middle.translate(bytes(b >> 4 for b in range(256)))
        buf[1::8] = tree[0::7]
        buf[2::8] = tree[1::7]
        buf[3::8] = tree[2::7]
        buf[4::8] = middle.translate(bytes(b & 0x0F for b in range(256)))
        buf[5::8] = tree[4::7]
        buf[6::8] = tree[5::7]
        buf[7::8] = tree[6::7]
    elif record_size == 32:
        buf[:] = tree
    else:
        raise CheckError(f"corrupt metadata: unsupported record_size {record_size}")
    records = array("I")
    records.frombytes(bytes(buf))
    if records.itemsize != 4:  # pragma: no cover - every supported platform has 4-byte "I"
        raise RuntimeError("array('I') is not 32-bit here")
    records.byteswap()  # big-endian on disk
    return records


def ipv4_networks(path: str) -> Iterator[tuple[int, int, int]]:
    """(start, prefix length, data pointer) of every IPv4 network with data, ascending."""
    with maxminddb.open_database(path, maxminddb.MODE_MMAP_EXT) as reader:
        meta = reader.metadata()
    n = meta.node_count
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        rec = tree_records(mm[: n * meta.record_size // 4], meta.record_size, n)
    node = 0
    if meta.ip_version == 6:
        for _ in range(96):  # ::/96 holds IPv4
            node = rec[2 * node]
            if node >= n:
                return
    # Depth-first, lower half first, leaves emitted when popped: ascending starts.
    stack = [(node, 0, 0)]
    while stack:
        value, depth, base = stack.pop()
        if value < n:
            half = 1 << (31 - depth)
            stack.append((rec[2 * value + 1], depth + 1, base + half))
            stack.append((rec[2 * value], depth + 1, base))
        elif value > n:
            yield base, depth, value


def check_tree(records: array, node_count: int, data_size: int) -> list[int]:
    """Validate every record; return the distinct data-section offsets they point to.

    A record is a node number (< node_count), the empty marker (== node_count) or a pointer
    into the data section (node_count + 16 + offset). In a sound tree every node but the root
    is referenced, so a flipped bit that redirects a record to another node orphans one.
    """
    values = set(records)
    if 0 in values:
        raise CheckError("corrupt search tree: a record points back to the root node")
    high = [v for v in values if v >= node_count]
    referenced = len(values) - len(high)
    if referenced != node_count - 1:
        raise CheckError(
            f"corrupt search tree: {node_count - 1 - referenced} of {node_count} nodes "
            "are unreachable from the root"
        )
    offsets = []
    limit = node_count + _SEPARATOR + data_size
    for v in high:
        if v == node_count:
            continue
        if v < node_count + _SEPARATOR or v >= limit:
            raise CheckError(
                f"corrupt search tree: record value {v} points outside the data section "
                f"(nodes < {node_count}, data {node_count + _SEPARATOR}..{limit - 1})"
            )
        offsets.append(v - node_count - _SEPARATOR)
    return offsets


def _looks_like_tree_start(head: bytes) -> bool:
    """Whether ``head`` reads as the first nodes of an MMDB search tree (for a truncated file).

    Writers number nodes depth-first, so one child of most early nodes is the next node;
    random or text bytes almost never show that pattern.
    """
    for record_size in (24, 28, 32):
        node_bytes = record_size // 4
        nodes = min(len(head) // node_bytes, 256)
        if nodes < 16:
            continue
        records = tree_records(head[: nodes * node_bytes], record_size, nodes)
        chained = sum(1 for i in range(nodes - 1) if i + 1 in (records[2 * i], records[2 * i + 1]))
        if chained >= nodes // 2:
            return True
    return False


def check_mmdb(path: str, size: int, progress: Progress) -> str:
    """Structural check: metadata, the whole search tree, a sample of data records."""
    try:
        reader = maxminddb.open_database(path, maxminddb.MODE_MMAP_EXT)
    except (ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise CheckError(f"corrupt metadata: {exc}") from None
    try:
        meta = reader.metadata()
    finally:
        reader.close()
    if meta.binary_format_major_version != 2:
        raise CheckError(f"unsupported MMDB format version {meta.binary_format_major_version}")
    if meta.ip_version not in (4, 6):
        raise CheckError(f"corrupt metadata: ip_version {meta.ip_version}")
    if not isinstance(meta.database_type, str) or not meta.database_type:
        raise CheckError("corrupt metadata: empty database_type")
    if not isinstance(meta.languages, list) or not all(isinstance(x, str) for x in meta.languages):
        raise CheckError("corrupt metadata: languages is not a list of strings")
    if not _EARLIEST_BUILD <= meta.build_epoch <= time.time() + 2 * 86400:
        raise CheckError(f"corrupt metadata: implausible build_epoch {meta.build_epoch}")
    if meta.node_count <= 0:
        raise CheckError(f"corrupt metadata: node_count {meta.node_count}")

    tree_size = meta.node_count * meta.record_size // 4
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        marker = mm.rfind(MMDB_MARKER, max(0, size - MMDB_METADATA_MAX))
        data_start = tree_size + _SEPARATOR
        if data_start > marker:
            raise CheckError(
                f"truncated: the search tree ({tree_size} bytes) does not fit before the "
                f"metadata at byte {marker}"
            )
        if mm[tree_size:data_start] != bytes(_SEPARATOR):
            raise CheckError("corrupt: the 16-byte separator after the search tree is not zero")
        progress("walking the search tree")
        records = tree_records(mm[:tree_size], meta.record_size, meta.node_count)
        offsets = check_tree(records, meta.node_count, marker - data_start)
        del records
        progress("checking data records")
        for off in offsets:
            if mm[data_start + off] >> 5 != _MAP_TYPE:
                raise CheckError(f"corrupt data section: record at data offset {off} is not a map")
        decoder = Decoder(mm, data_start)
        step = max(1, len(offsets) // _DECODE_SAMPLE)
        for off in offsets[::step]:
            try:
                value, _ = decoder.decode(data_start + off)
            except Exception as exc:  # any decoder failure means corrupt bytes
                raise CheckError(f"corrupt data section at data offset {off}: {exc}") from None
            if not isinstance(value, dict):
                raise CheckError(f"corrupt data section: record at data offset {off} is not a map")
    return (
        f"{meta.database_type} (MMDB v{meta.binary_format_major_version}, IPv{meta.ip_version}, "
        f"{meta.node_count} nodes, {len(offsets)} records, built "
        f"{time.strftime('%Y-%m-%d', time.gmtime(meta.build_epoch))})"
    )
