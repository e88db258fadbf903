"""``ipgeo convert``: a 17monipdb file written out as an MMDB."""

from __future__ import annotations

import os
from collections.abc import Iterator

from . import formats
from .db import DatabaseError
from .ipip import IPIPSource, to_record
from .mmdb_writer import ProgressBar, Range, write_mmdb


def _ranges(src: IPIPSource) -> Iterator[Range]:
    for index in range(src.count):
        first, last, parts = src.entry(index)
        yield first, last, to_record(parts)


def convert(src_path: str, dst_path: str, progress: bool | None = None) -> dict[str, int]:
    """Convert ``src_path`` (sniffed) to an MMDB at ``dst_path``, replaced atomically."""
    try:
        kind = formats.sniff(src_path)
    except OSError as exc:
        raise DatabaseError(f"{src_path}: cannot read: {exc.strerror or exc}") from None
    if kind != formats.IPIP:
        what = "already a MaxMind DB" if kind == formats.MMDB else "not a 17monipdb file"
        raise DatabaseError(f"{src_path}: {what}; convert reads 17monipdb only")
    src = IPIPSource(src_path)
    tmp = f"{dst_path}.tmp-{os.getpid()}"
    bar = ProgressBar(src.count, "converting", enabled=progress)
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
