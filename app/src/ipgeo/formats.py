"""Recognising database files by their bytes, not their names."""

from __future__ import annotations

import itertools
import os

# The MaxMind DB metadata section starts after this marker, within the last 128 KiB.
MMDB_MARKER = b"\xab\xcd\xefMaxMind.com"
MMDB_METADATA_MAX = 128 * 1024

MMDB = "mmdb"
IPIP = "17mon"


def find_mmdb_marker(tail: bytes) -> int:
    """Offset of the last metadata marker in ``tail``, or -1."""
    return tail.rfind(MMDB_MARKER)


def read_tail(path: str | os.PathLike[str], size: int = MMDB_METADATA_MAX) -> tuple[bytes, int]:
    """The last ``size`` bytes of a file and the offset they start at."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        total = fh.tell()
        start = max(0, total - size)
        fh.seek(start)
        return fh.read(), start


def looks_like_ipip(head: bytes, file_size: int) -> bool:
    """A 17monipdb file: big-endian index length, 256 uint32 first-octet starts, 8-byte records."""
    if len(head) < 1028 + 8:
        return False
    index_len = int.from_bytes(head[:4], "big")
    # The text starts at index_len - 1024, inside the file, after whole 8-byte records.
    text_base = index_len - 1024
    if not 1028 + 8 <= text_base <= file_size or (text_base - 1028) % 8:
        return False
    starts = [int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "little") for i in range(256)]
    return all(a <= b for a, b in itertools.pairwise(starts))


def sniff(path: str | os.PathLike[str]) -> str | None:
    """``"mmdb"``, ``"17mon"`` or None for anything else. Raises OSError if unreadable."""
    tail, _ = read_tail(path)
    if find_mmdb_marker(tail) >= 0:
        return MMDB
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(1028 + 8)
    if looks_like_ipip(head, size):
        return IPIP
    return None
