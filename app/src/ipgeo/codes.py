"""Code dictionaries: place names to administrative codes (``adcode``).

A dictionary adds ``region.adcode`` and ``city.adcode`` to answers, e.g. China's GB/T 2260
administrative division codes. It never touches ``country.code`` or ``region.code``, which stay
the DB's ISO 3166 codes: one field, one code system.

The file (``IPGEO_ADCODE_FILE``) is UTF-8 text, one entry per line, four tab-separated
columns (shown aligned here); blank lines and lines starting with ``#`` are skipped::

    # country   region      city        adcode
    CN          江苏省                    320000
    CN          Jiangsu                 320000
    CN          江苏省      南京         320100
    CN          Jiangsu     Nanjing     320100
    CN                      北京         110000

``country`` is matched against the answer's ISO country code or any of its country names,
``region`` and ``city`` against any of the names the DB has for them (in every language).
A row with an empty city gives the region's code; a row with a city gives the city's code,
and an empty region there matches a city in any region (or in none). Matching is exact after
Unicode NFKC normalisation, case folding and trimming: list every spelling the DB uses
(``江苏`` and ``江苏省``, ``Nanjing`` and ``南京``) as its own row.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

Key = tuple[str, str, str]


class CodesError(ValueError):
    """The dictionary file is missing or malformed; the message names file and line."""


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _names(part: Any) -> list[str]:
    if not isinstance(part, Mapping):
        return []
    names = part.get("names") or {}
    # Sorted by language so that the first match is the same in every process.
    return [_norm(names[lang]) for lang in sorted(names) if isinstance(names[lang], str)]


class CodeBook:
    """A loaded dictionary; :meth:`adcodes` answers for one DB record."""

    def __init__(self, entries: Mapping[Key, str], path: str | None = None) -> None:
        self._entries = dict(entries)
        self.path = path
        canonical = "".join(
            f"{c}\t{r}\t{ci}\t{code}\n" for (c, r, ci), code in sorted(entries.items())
        )
        #: Identity of the content (not of the file's bytes): the prepared index records it.
        self.sha256 = hashlib.sha256(canonical.encode()).hexdigest()

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def parse(cls, lines: Iterable[str], path: str = "<codes>") -> CodeBook:
        entries: dict[Key, str] = {}
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 4:
                raise CodesError(
                    f"{path}:{number}: expected 4 tab-separated columns, got {len(cols)}"
                )
            country, region, city = (_norm(c) for c in cols[:3])
            code = cols[3].strip()
            if not country or not (region or city):
                raise CodesError(f"{path}:{number}: a country and a region or city are required")
            if not code or not code.isascii() or not code.replace("-", "").isalnum():
                raise CodesError(f"{path}:{number}: bad code {cols[3]!r}")
            key = (country, region, city)
            if entries.get(key, code) != code:
                raise CodesError(f"{path}:{number}: {key} already has code {entries[key]}")
            entries[key] = code
        return cls(entries, path)

    @classmethod
    def load(cls, path: str) -> CodeBook:
        try:
            with open(path, encoding="utf-8") as fh:
                return cls.parse(fh, path)
        except FileNotFoundError:
            raise CodesError(f"{path}: code dictionary not found") from None
        except UnicodeDecodeError:
            raise CodesError(f"{path}: not UTF-8 text") from None
        except OSError as exc:
            raise CodesError(f"{path}: cannot read: {exc.strerror or exc}") from None

    def adcodes(self, record: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """``(region adcode, city adcode)`` of a DB record, None where nothing matches."""
        country = record.get("country") or {}
        countries = _names(country)
        iso = country.get("iso_code") if isinstance(country, Mapping) else None
        if isinstance(iso, str):
            countries.insert(0, _norm(iso))
        subdivisions = record.get("subdivisions")
        regions = _names(subdivisions[0]) if subdivisions else []
        cities = _names(record.get("city"))
        region_code = self._first((c, r, "") for c in countries for r in regions)
        city_code = self._first(
            (c, r, ci) for c in countries for r in regions for ci in cities
        ) or self._first((c, "", ci) for c in countries for ci in cities)
        return region_code, city_code

    def _first(self, keys: Iterable[Key]) -> str | None:
        entries = self._entries
        for key in keys:
            code = entries.get(key)
            if code is not None:
                return code
        return None
