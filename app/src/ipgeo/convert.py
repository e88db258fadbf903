"""``ipgeo convert``: another format's file written out as an MMDB.

The MMDB's description records where it came from (format, file name, SHA-256), which
``/readyz`` shows as ``db.converted_from``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from .consts import MMDB
from .dbhash import file_sha256
from .errors import DatabaseError
from .mmdb_writer import ProgressBar, Range, write_mmdb
from .sources import KNOWN, Source, sniff

#: The description's wording; ``ipgeo.sources.mmdb`` parses it back.
DESCRIPTION = (
    "converted from {format} file {name} (sha256 {sha256}) by ipgeo; {unknown} names without codes"
)


def _ranges(src: Source, counter: list[int]) -> Iterator[Range]:
    for first, last, _, record in src.iterate():
        counter[0] += 1
        yield first, last, record


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
    try:
        try:
            stats: dict[str, object] = dict(
                write_mmdb(
                    tmp,
                    _ranges(src, count),
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
                )
            )
        except (ValueError, UnicodeDecodeError, IndexError) as exc:
            raise DatabaseError(
                f"{src_path}: corrupt {kind.format} file at range {count[0]}: {exc} "
                "(ipgeo check-db tells more)"
            ) from None
        if not count[0]:
            raise DatabaseError(
                f"{src_path}: no IPv4 data to convert (convert writes IPv4 MaxMind DBs)"
            )
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
