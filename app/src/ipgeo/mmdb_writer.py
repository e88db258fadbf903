"""A minimal MaxMind DB (format 2.0) writer for IPv4 or IPv6 data.

Enough for ``ipgeo convert``: maps, arrays, UTF-8 strings, unsigned ints, doubles and booleans;
identical records are stored once. Nodes are numbered depth-first, as MaxMind's writers do.
An IPv6 tree holds IPv4 under ``::/96`` (where MaxMind's readers look IPv4 addresses up) and,
where it has IPv4 data, aliases ``::ffff:0:0/96`` to it, as MaxMind's own databases do.
"""

from __future__ import annotations

import bisect
import ipaddress
import struct
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .consts import MMDB_MARKER

_EMPTY = -1
_SEPARATOR = 16
#: ::ffff:0:0/96, the IPv4-mapped addresses: aliased to ::/96 in an IPv6 tree with IPv4 data.
V4_MAPPED = 0xFFFF << 32

Range = tuple[int, int, Mapping[str, Any] | None]
Tick = Callable[[int], None]


# --- data section encoding -----------------------------------------------------------------


def _control(type_id: int, size: int) -> bytes:
    if size < 29:
        head, extra = size, b""
    elif size < 29 + 256:
        head, extra = 29, bytes([size - 29])
    elif size < 285 + 65536:
        head, extra = 30, (size - 285).to_bytes(2, "big")
    else:
        head, extra = 31, (size - 65821).to_bytes(3, "big")
    if type_id <= 7:
        return bytes([(type_id << 5) | head]) + extra
    return bytes([head, type_id - 7]) + extra


def _uint(type_id: int, value: int) -> bytes:
    payload = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return _control(type_id, len(payload)) + payload


class UInt16(int):
    """An int stored as uint16 (libmaxminddb insists on exact metadata types)."""


class UInt64(int):
    """An int stored as uint64."""


def encode(value: Any) -> bytes:
    """One value in MMDB data-section encoding."""
    if isinstance(value, UInt16):
        return _uint(5, int(value))
    if isinstance(value, UInt64):
        return _uint(9, int(value))
    if isinstance(value, bool):
        return _control(14, int(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _control(2, len(raw)) + raw
    if isinstance(value, int):
        if value < 0:
            if value < -(2**31):
                raise ValueError(f"integer too small for int32: {value}")
            raw = value.to_bytes(4, "big", signed=True)
            return _control(8, 4) + raw
        if value < 2**32:
            return _uint(6, value)
        if value < 2**64:
            return _uint(9, value)
        return _uint(10, value)
    if isinstance(value, float):
        return _control(3, 8) + struct.pack(">d", value)
    if isinstance(value, Mapping):
        parts = [_control(7, len(value))]
        for key, item in value.items():
            parts.append(encode(str(key)))
            parts.append(encode(item))
        return b"".join(parts)
    if isinstance(value, list | tuple):
        return _control(11, len(value)) + b"".join(encode(v) for v in value)
    raise TypeError(f"cannot store {type(value).__name__} in an MMDB")


# --- search tree -----------------------------------------------------------------------------


class _Tree:
    """Binary trie over the IPv4 (``bits`` 32) or IPv6 (128) space built from sorted,
    non-overlapping CIDR blocks."""

    def __init__(self, blocks: list[tuple[int, int, int]], tick: Tick, bits: int = 32) -> None:
        # blocks: (network start, prefix length, data index)
        self.bits = bits
        self.starts = [b[0] for b in blocks]
        self.blocks = blocks
        self.left: list[int] = []
        self.right: list[int] = []
        self.tick = tick
        self._build(0, 0, 0, len(blocks))

    def _leaf(self, lo: int, depth: int, first: int, last: int) -> int | None:
        """The record for a subtree fully covered by one block or by none, else None."""
        if first == last:
            return _EMPTY
        if last - first == 1:
            start, prefix, data = self.blocks[first]
            if start == lo and prefix == depth:
                return -2 - data
        return None

    def _build(self, lo: int, depth: int, first: int, last: int) -> int:
        node = len(self.left)
        self.left.append(_EMPTY)
        self.right.append(_EMPTY)
        half = 1 << (self.bits - 1 - depth)
        mid = lo + half
        split = bisect.bisect_left(self.starts, mid, first, last)
        for side, (sub_lo, a, b) in enumerate(((lo, first, split), (mid, split, last))):
            ref = self._leaf(sub_lo, depth + 1, a, b)
            if ref is None:
                ref = self._build(sub_lo, depth + 1, a, b)
            elif ref != _EMPTY:
                self.tick(1)
            (self.left if side == 0 else self.right)[node] = ref
        return node

    def _child(self, node: int, bit: int) -> int:
        return (self.right if bit else self.left)[node]

    def alias(self, start: int, prefix: int, target: int) -> bool:
        """Make the empty network ``start/prefix`` lead to the subtree ``target`` (a node);
        False (nothing changed) where the path holds data."""
        node = 0
        for depth in range(prefix - 1):
            bit = (start >> (self.bits - 1 - depth)) & 1
            child = self._child(node, bit)
            if child == _EMPTY:
                child = len(self.left)
                self.left.append(_EMPTY)
                self.right.append(_EMPTY)
                (self.right if bit else self.left)[node] = child
            elif child < 0:
                return False
            node = child
        bit = (start >> (self.bits - prefix)) & 1
        if self._child(node, bit) != _EMPTY:
            return False
        (self.right if bit else self.left)[node] = target
        return True

    def find(self, start: int, prefix: int) -> int:
        """The node (or leaf ref) found at ``start/prefix``, or a leaf above it."""
        node = 0
        for depth in range(prefix):
            node = self._child(node, (start >> (self.bits - 1 - depth)) & 1)
            if node < 0:
                break
        return node


def _records(tree: _Tree, offsets: list[int], record_size: int) -> bytes:
    node_count = len(tree.left)

    def value(ref: int) -> int:
        if ref >= 0:
            return ref
        if ref == _EMPTY:
            return node_count
        return node_count + _SEPARATOR + offsets[-2 - ref]

    out = bytearray()
    for left, right in zip(tree.left, tree.right, strict=True):
        lv, rv = value(left), value(right)
        if record_size == 24:
            out += lv.to_bytes(3, "big") + rv.to_bytes(3, "big")
        elif record_size == 28:
            out += (lv & 0xFFFFFF).to_bytes(3, "big")
            out.append(((lv >> 24) << 4) | (rv >> 24))
            out += (rv & 0xFFFFFF).to_bytes(3, "big")
        else:
            out += lv.to_bytes(4, "big") + rv.to_bytes(4, "big")
    return bytes(out)


def write_mmdb(
    path: str,
    ranges: Iterable[Range],
    *,
    database_type: str,
    languages: list[str],
    description: str | Callable[[], str],
    build_epoch: int | None = None,
    progress: ProgressBar | None = None,
    record_size: int | None = None,
    ip_version: int = 4,
) -> dict[str, int]:
    """Write an MMDB from ``(first, last, record)`` ranges (record None = no data).

    ``first`` and ``last`` are ints in the ``ip_version`` space: for 6, IPv4 data goes in as
    ``::a.b.c.d`` (the ints of the IPv4 addresses themselves).
    """
    if ip_version not in (4, 6):
        raise ValueError(f"ip_version must be 4 or 6, not {ip_version}")
    bits = 32 if ip_version == 4 else 128
    address = ipaddress.IPv4Address if ip_version == 4 else ipaddress.IPv6Address
    data = bytearray()
    offsets: list[int] = []
    seen: dict[bytes, int] = {}
    blocks: list[tuple[int, int, int]] = []
    for first, last, record in ranges:
        if record is None:
            continue
        encoded = encode(record)
        index = seen.get(encoded)
        if index is None:
            index = seen[encoded] = len(offsets)
            offsets.append(len(data))
            data += encoded
        for net in ipaddress.summarize_address_range(address(first), address(last)):
            if net.prefixlen == 0:
                # The root must be a node: store 0.0.0.0/0 (::/0) as its two halves.
                blocks += [(0, 1, index), (1 << (bits - 1), 1, index)]
            else:
                blocks.append((int(net.network_address), net.prefixlen, index))
    blocks.sort()
    if progress is not None:
        progress.total = max(len(blocks), 1)
    tree = _Tree(blocks, progress or (lambda _n: None), bits)
    aliased = False
    if ip_version == 6 and blocks and blocks[0][0] < 1 << 32:
        v4 = tree.find(0, 96)
        aliased = v4 >= 0 and tree.alias(V4_MAPPED, 96, v4)
    node_count = len(tree.left)
    largest = node_count + _SEPARATOR + len(data)
    if largest >= 1 << 32:
        raise ValueError("database too large for 32-bit records")
    smallest = next(bits for bits in (24, 28, 32) if largest < 1 << bits)
    if record_size is None:
        record_size = smallest
    elif record_size not in (24, 28, 32) or record_size < smallest:
        raise ValueError(f"record_size {record_size} cannot hold this database")
    metadata = {
        "binary_format_major_version": UInt16(2),
        "binary_format_minor_version": UInt16(0),
        "build_epoch": UInt64(time.time() if build_epoch is None else build_epoch),
        "database_type": database_type,
        # A callable is asked after the ranges are read (e.g. to count what they held).
        "description": {"en": description() if callable(description) else description},
        "ip_version": UInt16(ip_version),
        "languages": languages,
        "node_count": node_count,
        "record_size": UInt16(record_size),
    }
    with open(path, "wb") as fh:
        fh.write(_records(tree, offsets, record_size))
        fh.write(bytes(_SEPARATOR))
        fh.write(bytes(data))
        fh.write(MMDB_MARKER)
        fh.write(encode(metadata))
    return {
        "nodes": node_count,
        "records": len(offsets),
        "networks": len(blocks),
        "ip_version": ip_version,
        "v4_mapped_alias": int(aliased),
    }


class ProgressBar:
    """A one-line progress bar on stderr, shown only on a terminal."""

    def __init__(self, total: int, label: str, enabled: bool | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._shown = -1

    def __call__(self, n: int) -> None:
        self.done += n
        pct = min(100, self.done * 100 // self.total)
        if self.enabled and pct != self._shown:
            self._shown = pct
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r{self.label} [{bar:<25}] {pct:3d}%")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
