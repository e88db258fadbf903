"""The DB file's SHA-256, computed once in the gunicorn master instead of in every worker.

Hashing GeoLite2-City (56 MB) takes a worker a second or more on a busy host, and after a HUP
every new worker would do it again before taking over. The master hashes the file in its
``on_starting`` / ``on_reload`` hooks (:func:`remember`) and forks the workers after them, so
they inherit this module's cache. A worker trusts the cached digest only if the file it opened
has the same identity (path, device, inode, size, mtime); a swapped or rewritten file is
hashed again (:func:`sha256_of`).

Standard library only: the master imports this before gunicorn has applied ``raw_env``.
"""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO

FileKey = tuple[str, int, int, int, int]

# One entry: the DB the master saw last. Workers read it after fork.
_cache: dict[FileKey, str] = {}


def file_key(path: str, st: os.stat_result) -> FileKey:
    return (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def hash_stream(fh: BinaryIO, chunk: int = 1 << 20) -> str:
    # Streamed so a worker never holds the whole file in memory.
    digest = hashlib.sha256()
    while block := fh.read(chunk):
        digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hash_stream(fh)


def remember(path: str) -> str:
    """Hash ``path`` and keep the digest for workers forked later (the master's side)."""
    # Always hashed anew: a HUP usually follows a DB swap, and the master has time for it.
    with open(path, "rb") as fh:
        key = file_key(path, os.fstat(fh.fileno()))
        sha = hash_stream(fh)
    _cache.clear()
    _cache[key] = sha
    return sha


def forget() -> None:
    _cache.clear()


def sha256_of(path: str, fh: BinaryIO) -> str:
    """The digest of ``fh``, the open file of ``path``: from the cache when its identity
    matches what the master hashed, else computed from ``fh`` itself."""
    sha = _cache.get(file_key(path, os.fstat(fh.fileno())))
    if sha is not None:
        return sha
    fh.seek(0)
    return hash_stream(fh)
