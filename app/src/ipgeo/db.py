"""The opened database and the one lookup path: :meth:`Database.answer`.

A worker opens the file once after gunicorn forks it, through :mod:`ipgeo.sources` (which
picks the reader by the file's bytes), with the prepared index and the code dictionary that
go with it. The API (single and batch), the root page, the CLI and the WSGI fast path all
answer through a :class:`Database`; none of this needs Flask.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from . import dbhash
from .codes import CodeBook, CodesError
from .dbhash import file_sha256 as file_sha256  # the name callers import from here
from .errors import DatabaseError, NotFoundError
from .jsonutil import dumps
from .prepared import PreparedIndex, PreparedIndexError
from .render import parse_ip, resolve_lang, select, shape
from .sources import Source, open_source
from .types import IPAddress, Record, Renderer

__all__ = ["Database", "DatabaseError", "DatabaseHolder", "file_sha256", "open_database"]

log = logging.getLogger(__name__)


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
    def default_renderer(self) -> Renderer | None:
        """The prepared answers in the default language (the WSGI fast path's), if any."""
        return self.renderers.get(self.default_lang) if self.default_lang else None

    def resolve_lang(self, lang: str | None) -> str | None:
        """``?lang=``: the default when absent; an ``unsupported_lang`` APIError if unknown."""
        return resolve_lang(self.languages, self.default_lang, lang)

    def renderer(self, lang: str | None, fields: tuple[str, ...] | None) -> Renderer | None:
        """The prepared index's renderer for these parameters, None if it cannot answer them.

        ``render(text)`` gives the body, None when the DB has no entry, and raises OSError
        when ``text`` is not dotted-quad IPv4 (TypeError when not a str): then decode.
        """
        # The index holds whole bodies: a field selection is always decoded.
        return self.renderers.get(lang) if fields is None and lang else None

    # --- the one lookup path: every answer about an address comes from these ---------------

    def find(self, ip: IPAddress) -> tuple[Record | None, str | None]:
        """The record and the CIDR of the DB entry that answered."""
        record, prefix_len = self.source.lookup(ip)
        if record is None:
            return None, None
        return record, str(ipaddress.ip_network((ip, prefix_len), strict=False))

    def answer(self, text: str, lang: str | None, fields: tuple[str, ...] | None) -> bytes:
        """The lookup body for the address ``text``, with ``lang`` and ``fields`` already
        resolved: from the prepared index when it has the answer, else decoded.

        Raises :class:`ipgeo.errors.APIError`: ``invalid_ip``, or ``not_found``
        (:class:`~ipgeo.errors.NotFoundError`). Counting outcomes is the caller's business.
        """
        render = self.renderer(lang, fields)
        if render is not None:
            try:
                body = render(text)
            except OSError:
                pass  # not dotted-quad IPv4: decoded below
            else:
                if body is None:
                    raise NotFoundError(text)
                return body
        return self.decode(text, lang, fields)

    def decode(self, text: str, lang: str | None, fields: tuple[str, ...] | None) -> bytes:
        """:meth:`answer` without the prepared index (for callers that tried it already)."""
        ip = parse_ip(text)
        record, network = self.find(ip)
        if record is None:
            raise NotFoundError(str(ip))
        return dumps(select(shape(str(ip), network, record, lang, self.codes), fields))

    def result(self, ip: IPAddress, lang: str | None) -> dict[str, Any]:
        """The whole lookup body for ``ip`` as a dict; nulls (no error) when not found."""
        record, network = self.find(ip)
        return shape(str(ip), network, record, lang, self.codes)

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
            # An MMDB written by ``ipgeo convert``: the original's format, name and SHA-256.
            "converted_from": getattr(self.source, "converted_from", None),
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
    try:
        codes = CodeBook.load(codes_path) if codes_path else None
    except CodesError as exc:
        raise DatabaseError(str(exc)) from None
    source, sha = _open_with_sha256(path)
    index = None
    if index_path is None and os.path.exists(path + ".idx"):
        index_path = path + ".idx"
    if index_path and source.indexable:
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
