"""Helpers the name-only formats (17monipdb, IPDB, xdb) share."""

from __future__ import annotations

from typing import Any

from ..dictionaries import Enricher
from ..errors import CheckError, DatabaseError
from ..types import Progress, Record


class SelfVerifying:
    """``check`` and ``explain`` of a format whose reader verifies its own file (IPDB, xdb):
    open it, walk it (``verify``), close it; a file it cannot open is the check's error."""

    @classmethod
    def check(cls, path: str, size: int, progress: Progress) -> str:
        try:
            src = cls(path)  # type: ignore[call-arg]
        except DatabaseError as exc:
            raise CheckError(str(exc)) from None
        try:
            return src.verify(progress)  # type: ignore[attr-defined]
        finally:
            src.close()  # type: ignore[attr-defined]

    @staticmethod
    def explain(head: bytes) -> str | None:
        return None


def largest_block(ip: int, first: int, last: int, bits: int = 32) -> int:
    """Prefix length of the largest CIDR block that holds ``ip`` and lies in first..last."""
    mask = (1 << bits) - 1
    for prefix in range(bits + 1):
        size = 1 << (bits - prefix)
        start = ip & ~(size - 1) & mask
        if start >= first and start + size - 1 <= last:
            return prefix
    return bits  # pragma: no cover - a single address always fits since first <= ip <= last


def to_record(
    lang: str,
    country: str,
    province: str,
    city: str,
    country_code: str | None = None,
    enricher: Enricher | None = None,
    extra: dict[str, Any] | None = None,
) -> Record:
    """The MMDB-like record for names in one language; ``enricher`` adds their codes
    (:mod:`ipgeo.dictionaries`). A province equal to the country (香港 / 香港) is none; a
    municipality's city (北京 / 北京) is kept."""
    record: dict[str, Any] = {"country": {"names": {lang: country}}}
    if country_code:
        record["country"]["iso_code"] = country_code
    if province and province != country:
        record["subdivisions"] = [{"names": {lang: province}}]
    if city and (city != province or province != country):
        record["city"] = {"names": {lang: city}}
    if extra:
        record.update(extra)
    return enricher.enrich(record) if enricher is not None else record
