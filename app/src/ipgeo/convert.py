"""``ipgeo convert``: another format's file written out as an MMDB.

IPv4 data gives an IPv4 MMDB; a file with IPv6 data (an ip2region IPv6 xdb, an IPv6 IPDB)
gives an IPv6 MMDB, its IPv4 data (if any) under ``::/96`` where MaxMind's readers look IPv4
addresses up, and ``::ffff:0:0/96`` aliased to it. IPv6 ranges under ``::/96`` (IPv4-compatible
addresses, deprecated) are left out: that space is IPv4's in an MMDB.

The MMDB's description records where it came from (format, file name, SHA-256), which
``/readyz`` shows as ``db.converted_from``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from .consts import MMDB
from .dbhash import file_sha256
from .errors import DatabaseError
from .mmdb_writer import V4_MAPPED, ProgressBar, Range, write_mmdb
from .sources import KNOWN, Source, sniff

#: The description's wording; ``ipgeo.sources.mmdb`` parses it back.
DESCRIPTION = (
    "converted from {format} file {name} (sha256 {sha256}) by ipgeo; {unknown} names without codes"
)


_V4_END = (1 << 32) - 1


def _clip(first: int, last: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """``first..last`` without ``lo..hi``."""
    if last < lo or first > hi:
        return [(first, last)]
    return [(a, b) for a, b in ((first, lo - 1), (hi + 1, last)) if a <= b]


def _ranges(src: Source, counter: list[int], ip_version: int) -> Iterator[Range]:
    for first, last, _, record in src.iterate():
        counter[0] += 1
        yield first, last, record
    if ip_version != 6:
        return
    has_v4 = counter[0] > 0
    for first, last, _, record in src.iterate6():
        pieces = _clip(first, last, 0, _V4_END)
        if has_v4:  # ::ffff:0:0/96 becomes an alias of the IPv4 data
            pieces = [p for a, b in pieces for p in _clip(a, b, V4_MAPPED, V4_MAPPED + _V4_END)]
        for a, b in pieces:
            counter[0] += 1
            yield a, b, record


def convert(src_path: str, dst_path: str, progress: bool | None = None) -> dict[str, object]:
    """Convert ``src_path`` (sniffed) to an MMDB at ``dst_path``, replaced atomically.

    Returns the writer's figures plus ``unknown_names`` (name -> count) that the built-in
    dictionaries could not place. Raises :class:`DatabaseError` with one line naming the file.
    """
    try:
        kind = sniff(src_path)
    except FileNotFoundError:
        raise DatabaseError(f"{src_path}: file not found") from None
    except OSError as exc:
        raise DatabaseError(f"{src_path}: cannot read: {exc.strerror or exc}") from None
    if kind is None:
        raise DatabaseError(f"{src_path}: unknown format (not {KNOWN})")
    if kind.format == MMDB:
        raise DatabaseError(f"{src_path}: already a MaxMind DB; nothing to convert")
    src = kind(src_path)
    sha = file_sha256(src_path)
    tmp = f"{dst_path}.tmp-{os.getpid()}"
    # The writer sets the bar's total once it knows the number of blocks.
    bar = ProgressBar(1, "converting", enabled=progress)
    count = [0]
    ip_version = 6 if src.ip_version == 6 else 4
    try:
        try:
            stats: dict[str, object] = dict(
                write_mmdb(
                    tmp,
                    _ranges(src, count, ip_version),
                    database_type=src.database_type,
                    languages=list(src.languages),
                    description=lambda: DESCRIPTION.format(
                        format=kind.format,
                        name=os.path.basename(src_path),
                        sha256=sha,
                        unknown=len(getattr(src, "enricher", None).unknown)
                        if hasattr(src, "enricher")
                        else 0,
                    ),
                    build_epoch=src.build_epoch,
                    progress=bar,
                    ip_version=ip_version,
                )
            )
        except (ValueError, UnicodeDecodeError, IndexError) as exc:
            raise DatabaseError(
                f"{src_path}: corrupt {kind.format} file at range {count[0]}: {exc} "
                "(ipgeo check-db tells more)"
            ) from None
        if not count[0]:
            raise DatabaseError(f"{src_path}: no data to convert (every range is empty)")
        os.replace(tmp, dst_path)
    finally:
        bar.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    stats["unknown_names"] = dict(src.enricher.unknown) if hasattr(src, "enricher") else {}
    stats["source_sha256"] = sha
    stats["source_format"] = kind.format
    src.close()
    return stats
