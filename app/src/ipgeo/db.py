"""Opening a database file and answering lookups from it.

A worker opens the file once after gunicorn forks it. MMDB files are memory-mapped by the
``maxminddb`` C extension, so every worker shares the page cache instead of holding a copy.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import maxminddb

from . import dbhash, formats
from .dbhash import file_sha256 as file_sha256  # the name callers import from here

if TYPE_CHECKING:
    from .codes import CodeBook
    from .prepared import PreparedIndex

log = logging.getLogger(__name__)
Renderer = Callable[[str], bytes | None]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Record = Mapping[str, Any]


class DatabaseError(Exception):
    """The file is missing, unreadable or not a database this service understands."""


class Source(Protocol):
    """A database format reader."""

    format: str
    database_type: str
    build_epoch: int
    languages: tuple[str, ...]
    ip_version: int

    def lookup(self, ip: IPAddress) -> tuple[Record | None, int]:
        """The record for ``ip`` (None if the DB has none) and the record's prefix length."""
        ...

    def close(self) -> None: ...


class MMDBSource:
    format = formats.MMDB

    def __init__(self, path: str) -> None:
        try:
            self._reader = maxminddb.open_database(path, maxminddb.MODE_MMAP_EXT)
        except (ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise DatabaseError(f"{path}: not a valid MaxMind DB: {exc}") from exc
        meta = self._reader.metadata()
        self.database_type: str = meta.database_type
        self.build_epoch: int = int(meta.build_epoch)
        self.languages: tuple[str, ...] = tuple(meta.languages)
        self.ip_version: int = int(meta.ip_version)

    def lookup(self, ip: IPAddress) -> tuple[Record | None, int]:
        if ip.version == 6 and self.ip_version == 4:
            return None, 0
        record, prefix_len = self._reader.get_with_prefix_len(ip)
        return record, prefix_len

    def close(self) -> None:
        self._reader.close()


def open_source(path: str) -> Source:
    """Open ``path`` with the reader its content calls for."""
    try:
        kind = formats.sniff(path)
    except FileNotFoundError:
        raise DatabaseError(f"{path}: file not found") from None
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if kind == formats.MMDB:
        return MMDBSource(path)
    if kind == formats.IPIP:
        from .ipip import IPIPSource

        return IPIPSource(path)
    raise DatabaseError(f"{path}: unknown format (neither a MaxMind DB nor a 17monipdb file)")


def pick_default_lang(languages: tuple[str, ...], wanted: str | None) -> str | None:
    if wanted and wanted in languages:
        return wanted
    if wanted:
        # One setting serves every DB the fleet may get (e.g. Chinese-only ipip data).
        log.warning("IPGEO_DEFAULT_LANG=%s is not in this DB %s; choosing one", wanted, languages)
    if "en" in languages:
        return "en"
    return languages[0] if languages else None


@dataclass(frozen=True)
class Database:
    """An opened database plus what /readyz and the caching headers say about it."""

    source: Source
    path: str
    sha256: str
    default_lang: str | None
    index: PreparedIndex | None = None
    index_path: str | None = None
    # lang -> render(text) for IPv4 answers straight from the prepared index
    renderers: dict[str, Renderer] = field(default_factory=dict)
    # IPGEO_ADCODE_FILE: adds region/city adcodes to every answer
    codes: CodeBook | None = None

    @property
    def languages(self) -> tuple[str, ...]:
        return self.source.languages

    @functools.cached_property
    def version(self) -> str:
        """Short, header-safe identity of the data: build epoch and hash prefix."""
        return f"{self.source.build_epoch}-{self.sha256[:12]}"

    def describe(self) -> dict[str, Any]:
        epoch = self.source.build_epoch
        return {
            "type": self.source.database_type,
            "format": self.source.format,
            "build_epoch": epoch,
            "build_date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)),
            "sha256": self.sha256,
            "path": self.path,
            "languages": list(self.languages),
            "index": None
            if self.index is None
            else {
                "path": self.index_path,
                "languages": list(self.index.languages),
                "networks": self.index.header["networks"],
                "renderer": self.index.renderer_kind,
            },
            "codes": None
            if self.codes is None
            else {"path": self.codes.path, "sha256": self.codes.sha256, "entries": len(self.codes)},
        }


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _open_with_sha256(path: str, attempts: int = 3) -> tuple[Source, str]:
    """The source and the SHA-256 of the very file it opened.

    The digest names the DB in /readyz and ties the prepared index to it, so it must come
    from the same inode as the reader even if the file is swapped meanwhile (atomic rename):
    hold the file open, open the reader by path, and retry if the path moved in between.
    """
    for _ in range(attempts):
        try:
            with open(path, "rb") as fh:
                source = open_source(path)
                try:
                    same = _same_file(os.fstat(fh.fileno()), os.stat(path))
                    sha = dbhash.sha256_of(path, fh) if same else None
                except OSError:
                    source.close()
                    raise
        except FileNotFoundError:
            raise DatabaseError(f"{path}: file not found") from None
        except OSError as exc:
            raise DatabaseError(f"{path}: cannot read: {exc.strerror or exc}") from None
        if sha is not None:
            return source, sha
        source.close()
    raise DatabaseError(f"{path}: the file kept changing while it was opened")


def open_database(
    path: str,
    default_lang: str | None = None,
    index_path: str | None = None,
    codes_path: str | None = None,
) -> Database:
    """Open the DB, the code dictionary ``codes_path`` if given and, when one matches both,
    the prepared index (``index_path``, else ``<path>.idx`` if that exists). An unusable
    index is logged and skipped, never fatal; a bad dictionary is a DatabaseError."""
    from .codes import CodeBook, CodesError
    from .prepared import PreparedIndex, PreparedIndexError

    try:
        codes = CodeBook.load(codes_path) if codes_path else None
    except CodesError as exc:
        raise DatabaseError(str(exc)) from None
    source, sha = _open_with_sha256(path)
    index = None
    if index_path is None and os.path.exists(path + ".idx"):
        index_path = path + ".idx"
    if index_path and source.format == formats.MMDB:
        try:
            index = PreparedIndex(index_path, sha)
        except PreparedIndexError as exc:
            log.warning("prepared index not used: %s", exc)
        else:
            try:
                index.require_codes(codes)
            except PreparedIndexError as exc:
                log.warning("prepared index not used: %s", exc)
                index.close()
                index = None
    return Database(
        source,
        os.path.abspath(path),
        sha,
        pick_default_lang(source.languages, default_lang),
        index,
        os.path.abspath(index_path) if index is not None and index_path else None,
        {lang: index.renderer(lang) for lang in index.languages} if index is not None else {},
        codes,
    )


class DatabaseHolder:
    """Keeps the worker's database, retrying a failed open now and then.

    Opening never raises: a missing file must not stop the worker from answering /healthz,
    and a file that appears later is picked up without a restart.
    """

    RETRY_SECONDS = 5.0

    def __init__(
        self,
        path: str | None,
        default_lang: str | None,
        index_path: str | None = None,
        codes_path: str | None = None,
    ) -> None:
        self.path = path
        self.default_lang = default_lang
        self.index_path = index_path
        self.codes_path = codes_path
        self.db: Database | None = None
        self.error: str = "IPGEO_DB_PATH is not set" if not path else "database not loaded"
        self._next_try = 0.0
        self._lock = threading.Lock()

    def get(self) -> Database | None:
        if self.db is not None or not self.path:
            return self.db
        now = time.monotonic()
        if now < self._next_try:
            return None
        with self._lock:
            if self.db is None and now >= self._next_try:
                self._load(now)
        return self.db

    def _load(self, now: float) -> None:
        assert self.path
        try:
            self.db = open_database(self.path, self.default_lang, self.index_path, self.codes_path)
        except DatabaseError as exc:
            self.error = str(exc)
            self._next_try = now + self.RETRY_SECONDS
