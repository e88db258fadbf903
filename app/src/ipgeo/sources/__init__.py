"""Database readers, one module per format, behind one interface and picked by their bytes.

A format is a class implementing :class:`Source`: its static methods recognise and check a
file, its instances answer lookups. ``check-db``, ``convert``, ``prepare`` and the app go
through this interface only, so a new format is one module here and one line in
:data:`FORMATS`.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterator
from typing import Protocol

from ..errors import DatabaseError
from ..types import IPAddress, Progress, Record
from .ipdb import IPDBSource
from .ipip import IPIPSource
from .mmdb import MMDBSource
from .xdb import XdbSource

__all__ = [
    "FORMATS",
    "IPDBSource",
    "IPIPSource",
    "MMDBSource",
    "Source",
    "XdbSource",
    "open_source",
    "read_ends",
    "sniff",
]

# What sniffing reads: MMDB metadata lies in the last 128 KiB; 64 KiB of the head hold a
# 17monipdb, xdb or IPDB header and enough of an MMDB search tree to recognise a truncated file.
HEAD_SIZE = 64 * 1024
TAIL_SIZE = 128 * 1024


class Source(Protocol):
    """An open database file of one format."""

    format: str  # the format's name (``ipgeo.consts``)
    database_type: str
    build_epoch: int
    languages: tuple[str, ...]
    ip_version: int
    #: Whether ``ipgeo prepare`` builds (and the app uses) a prepared index for this format.
    indexable: bool
    #: What :meth:`lookup` raises on damaged data (``check-db`` reports them as corrupt).
    lookup_errors: tuple[type[Exception], ...]

    def __init__(self, path: str) -> None:
        """Open ``path``; raises :class:`ipgeo.errors.DatabaseError`."""

    @staticmethod
    def sniff(head: bytes, tail: bytes, size: int) -> bool:
        """Whether a file with this head, tail and size is of this format."""
        ...

    @staticmethod
    def check(path: str, size: int, progress: Progress) -> str:
        """Structural check of a file of this format: a summary, or ``CheckError``."""
        ...

    @staticmethod
    def explain(head: bytes) -> str | None:
        """Why a file no format recognised looks like a damaged one of this format, if it does."""
        ...

    def lookup(self, ip: IPAddress) -> tuple[Record | None, int]:
        """The record for ``ip`` (None if the DB has none) and the record's prefix length."""
        ...

    def iterate(self) -> Iterator[tuple[int, int, Hashable, Record]]:
        """The IPv4 ranges with data, ascending: first and last address (as ints), a key
        that is equal for ranges sharing one record, and that record."""
        ...

    def iterate6(self) -> Iterator[tuple[int, int, Hashable, Record]]:
        """The IPv6 ranges with data, ascending, as :meth:`iterate` gives the IPv4 ones
        (ints of 128 bits); none where the file has no IPv6 data. Ranges under
        ``::ffff:0:0/96`` where the file keeps IPv4 there are left out."""
        ...

    def close(self) -> None: ...


#: Every format, in the order they are tried.
FORMATS: tuple[type[Source], ...] = (MMDBSource, IPDBSource, XdbSource, IPIPSource)

#: What the formats are called in messages.
KNOWN = "a MaxMind DB, an ipip.net IPDB, an ip2region xdb or a 17monipdb file"


def read_ends(path: str | os.PathLike[str]) -> tuple[bytes, bytes, int]:
    """The head, the tail and the size of a file. Raises OSError if unreadable."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(HEAD_SIZE)
        fh.seek(max(0, size - TAIL_SIZE))
        tail = fh.read()
    return head, tail, size


def sniff(path: str | os.PathLike[str]) -> type[Source] | None:
    """The format of the file at ``path``, or None. Raises OSError if unreadable."""
    head, tail, size = read_ends(path)
    return next((kind for kind in FORMATS if kind.sniff(head, tail, size)), None)


def open_source(path: str) -> Source:
    """Open ``path`` with the reader its content calls for."""
    try:
        kind = sniff(path)
    except FileNotFoundError:
        raise DatabaseError(f"{path}: file not found") from None
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if kind is None:
        raise DatabaseError(f"{path}: unknown format (not {KNOWN})")
    return kind(path)
