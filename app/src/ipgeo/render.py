"""Turning a DB record into the API's JSON shape, and validating lookup parameters.

Pure functions over records: the prepared index renders its answers with :func:`shape` too,
so it imports this module and not the database.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from .codes import CodeBook
from .consts import FIELDS
from .errors import APIError
from .types import IPAddress, Record


def canonical(ip: IPAddress) -> IPAddress:
    """The address a lookup is about: IPv4-mapped IPv6 becomes IPv4, a zone id is dropped."""
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id:
            # A zone id names a local interface; it has no meaning for geolocation.
            return ipaddress.IPv6Address(ip.packed)
    return ip


def parse_ip(text: str) -> IPAddress:
    """Parse exactly what :mod:`ipaddress` accepts, then :func:`canonical`."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise APIError(400, "invalid_ip", f"not an IP address: {text[:100]!r}") from None
    return canonical(ip)


def resolve_lang(languages: tuple[str, ...], default: str | None, lang: str | None) -> str | None:
    if lang is None or lang == "":
        return default
    if lang not in languages:
        supported = ", ".join(languages)
        raise APIError(
            400, "unsupported_lang", f"language {lang[:40]!r} not in this DB ({supported})"
        )
    return lang


def resolve_fields(raw: str | None) -> tuple[str, ...] | None:
    """None means all fields."""
    if raw is None:
        return None
    wanted = tuple(dict.fromkeys(f.strip() for f in raw.split(",") if f.strip()))
    unknown = [f for f in wanted if f not in FIELDS]
    if unknown or not wanted:
        raise APIError(
            400,
            "unknown_field",
            f"unknown field(s) {', '.join(unknown)[:200]!r}; choose from {', '.join(FIELDS)}"
            if unknown
            else f"fields is empty; choose from {', '.join(FIELDS)}",
        )
    return wanted


def _name(part: Mapping[str, Any], lang: str | None) -> str | None:
    names = part.get("names")
    if not names or lang is None:
        return None
    return names.get(lang)


def shape(
    ip: str,
    network: str | None,
    record: Record | None,
    lang: str | None,
    codes: CodeBook | None = None,
) -> dict[str, Any]:
    """The lookup body. Every key is always present; missing parts are null.

    With a code dictionary, or a record from the built-in dictionaries (``adcode``),
    ``region`` and ``city`` also carry an ``adcode`` (null when none is known); without
    either, the body has no ``adcode`` keys at all.
    """
    rec = record or {}
    country = rec.get("country") or {}
    subdivisions = rec.get("subdivisions")
    region = subdivisions[0] if subdivisions else {}
    city = rec.get("city") or {}
    location = rec.get("location") or {}
    body = {
        "ip": ip,
        "network": network,
        "country": {"code": country.get("iso_code"), "name": _name(country, lang)},
        "region": {"code": region.get("iso_code"), "name": _name(region, lang)},
        "city": {"name": _name(city, lang)},
        "location": {
            "latitude": location.get("latitude"),
            "longitude": location.get("longitude"),
            "time_zone": location.get("time_zone"),
        },
    }
    # Records of name-only formats carry the built-in dictionaries' codes (ipgeo.dictionaries),
    # also after conversion to MMDB; an operator's dictionary overrides them where it matches.
    own = rec.get("adcode")
    if codes is not None or isinstance(own, Mapping):
        region_code, city_code = codes.adcodes(rec) if codes is not None else (None, None)
        own = own if isinstance(own, Mapping) else {}
        body["region"]["adcode"] = region_code or own.get("region")
        body["city"]["adcode"] = city_code or own.get("city")
    return body


def select(body: dict[str, Any], fields: tuple[str, ...] | None) -> dict[str, Any]:
    if fields is None:
        return body
    return {f: body[f] for f in fields}
