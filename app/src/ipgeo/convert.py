"""``ipgeo convert``: another format's file written out as an MMDB."""

from __future__ import annotations

import os
from collections.abc import Iterator

from .consts import MMDB
from .errors import DatabaseError
from .mmdb_writer import ProgressBar, Range, write_mmdb
from .sources import Source, sniff


def _ranges(src: Source) -> Iterator[Range]:
    for first, last, _, record in src.iterate():
        yield first, last, record


def convert(src_path: str, dst_path: str, progress: bool | None = None) -> dict[str, int]:
    """Convert ``src_path`` (sniffed) to an MMDB at ``dst_path``, replaced atomically."""
    try:
        kind = sniff(src_path)
    except OSError as exc:
        raise DatabaseError(f"{src_path}: cannot read: {exc.strerror or exc}") from None
    if kind is None or kind.format == MMDB:
        what = "not a 17monipdb file" if kind is None else "already a MaxMind DB"
        raise DatabaseError(f"{src_path}: {what}; convert reads 17monipdb only")
    src = kind(src_path)
    tmp = f"{dst_path}.tmp-{os.getpid()}"
    # The writer sets the bar's total once it knows the number of blocks.
    bar = ProgressBar(1, "converting", enabled=progress)
    try:
        stats = write_mmdb(
            tmp,
            _ranges(src),
            database_type=src.database_type,
            languages=list(src.languages),
            description=f"converted from {os.path.basename(src_path)} by ipgeo",
            build_epoch=src.build_epoch,
            progress=bar,
        )
        os.replace(tmp, dst_path)
    finally:
        bar.close()
        src.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return stats
