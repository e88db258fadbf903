"""Validating a database file before it is swapped in (``ipgeo check-db``).

Each failure raises :class:`CheckError` whose message names the problem, so the deploy log
says why a file was refused.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import CheckError, DatabaseError
from .sources import FORMATS, KNOWN, open_source, read_ends, sniff
from .types import Progress

__all__ = ["CheckError", "Expectation", "check_db"]


@dataclass(frozen=True)
class Expectation:
    ip: str
    country: str

    @classmethod
    def parse(cls, text: str) -> Expectation:
        ip, sep, cc = text.partition("=")
        if not sep or not cc.strip():
            raise ValueError(f"expected IP=CC, got {text!r}")
        try:
            ipaddress.ip_address(ip.strip())
        except ValueError:
            raise ValueError(f"not an IP address in {text!r}") from None
        return cls(ip.strip(), cc.strip().upper())


def _check_answers(path: str, expects: Sequence[Expectation]) -> None:
    try:
        source = open_source(path)
    except DatabaseError as exc:
        raise CheckError(str(exc)) from None
    try:
        probes = list(expects) or [Expectation("1.1.1.1", "")]
        for exp in probes:
            ip = ipaddress.ip_address(exp.ip)
            try:
                record, _ = source.lookup(ip)
            except (*source.lookup_errors, UnicodeDecodeError, IndexError) as exc:
                raise CheckError(f"corrupt: lookup of {exp.ip} failed: {exc}") from None
            if not exp.country:
                continue
            country = (record or {}).get("country") or {}
            got = country.get("iso_code")
            if got != exp.country:
                names = country.get("names") or {}
                what = got or (
                    f"no country code (names {', '.join(sorted(set(names.values())))})"
                    if names
                    else "nothing"
                )
                raise CheckError(
                    f"wrong answer: {exp.ip} resolved to {what}, expected {exp.country}"
                )
    finally:
        source.close()


def check_db(
    path: str, expects: Sequence[Expectation] = (), progress: Progress | None = None
) -> str:
    """Validate ``path``; return a one-line summary or raise :class:`CheckError`."""
    report: Progress = progress or (lambda _msg: None)
    if not os.path.exists(path):
        raise CheckError(f"file not found: {path}")
    if not os.path.isfile(path):
        raise CheckError(f"not a regular file: {path}")
    try:
        head, _, size = read_ends(path)
        kind = sniff(path)
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise CheckError("empty file")
    if kind is None:
        for fmt in FORMATS:
            if reason := fmt.explain(head):
                raise CheckError(reason)
        raise CheckError(f"unknown format: not {KNOWN}")
    summary = kind.check(path, size, report)
    report("checking lookups")
    _check_answers(path, expects)
    checked = f", {len(expects)} expected answers ok" if expects else ""
    return f"ok: {path}: {summary}{checked}"
