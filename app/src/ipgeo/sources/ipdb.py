"""Reader for ipip.net's ``.ipdb`` files (the successor of 17monipdb).

Layout: a 4-byte big-endian length ``M``; ``M`` bytes of JSON metadata (``node_count``,
``total_size``, ``fields``, ``languages`` as name -> first field's column, ``ip_version``
bits 1 = IPv4 and 2 = IPv6, ``build``); then ``total_size`` bytes: a binary search tree of
``node_count`` 8-byte nodes (two big-endian uint32: the children for bit 0 and 1; a value
equal to ``node_count`` is "no data", a larger one points to data at
``node_count * 8 + value - node_count``), then the data: a 2-byte big-endian length and a UTF-8
text of tab-separated values, ``len(fields)`` per language. IPv4 lives under ::ffff:0:0/96.

The official reader (``ipip-ipdb``) loads the whole file into memory; this one maps it, and
the tests compare the two.
"""

from __future__ import annotations

import json
import mmap
import os
import time
from collections.abc import Iterator
from typing import Any

from ..consts import IPDB
from ..dictionaries import Enricher
from ..errors import CheckError, DatabaseError
from ..types import IPAddress, Progress, Record
from .common import SelfVerifying, to_record

# ipip.net's language names -> the API's.
LANGS = {"CN": "zh-CN", "EN": "en"}
NO_LOCATION = frozenset({"局域网", "本机地址", "保留地址", "共享地址", "本地链路", "组播地址"})
_META_MAX = 1 << 20
V4_MAPPED = 0xFFFF << 32  # ::ffff:0:0/96, where an IPDB keeps IPv4
_EARLIEST_BUILD = 946684800


def parse_meta(head: bytes) -> tuple[int, dict[str, Any]]:
    """(metadata length, metadata) of an IPDB head; ValueError if it is not one."""
    if len(head) < 6:
        raise ValueError("shorter than a header")
    length = int.from_bytes(head[:4], "big")
    if not 2 <= length <= _META_MAX or head[4:5] != b"{":
        raise ValueError("no JSON metadata")
    if len(head) < 4 + length:
        raise ValueError("metadata longer than the head read")
    try:
        meta = json.loads(head[4 : 4 + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"metadata is not JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise ValueError("metadata is not a JSON object")
    for key, kind in (
        ("node_count", int),
        ("total_size", int),
        ("fields", list),
        ("languages", dict),
        ("ip_version", int),
    ):
        if not isinstance(meta.get(key), kind):
            raise ValueError(f"metadata has no {key}")
    if not meta["fields"] or not meta["languages"] or meta["node_count"] <= 0:
        raise ValueError("metadata has no fields, languages or nodes")
    if any(not isinstance(v, int) or v < 0 for v in meta["languages"].values()):
        raise ValueError("metadata languages are not column numbers")
    return length, meta


class IPDBSource(SelfVerifying):
    """An open ipip.net IPDB file (see :class:`ipgeo.sources.Source`)."""

    format = IPDB
    database_type = "ipip.net-ipdb"
    indexable = False
    lookup_errors: tuple[type[Exception], ...] = (ValueError,)

    def __init__(self, path: str) -> None:
        try:
            with open(path, "rb") as fh:
                self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise DatabaseError(f"{path}: cannot map: {exc}") from None
        try:
            length, meta = parse_meta(self._mm[: 4 + _META_MAX])
        except ValueError as exc:
            self._mm.close()
            raise DatabaseError(f"{path}: not an ipip.net IPDB file: {exc}") from None
        self.base = 4 + length
        self.node_count: int = meta["node_count"]
        self.total_size: int = meta["total_size"]
        size = len(self._mm)
        if size < self.base + self.total_size:
            self._mm.close()
            raise DatabaseError(
                f"{path}: truncated IPDB: {size} bytes, the metadata promises "
                f"{self.base + self.total_size}"
            )
        if self.node_count * 8 > self.total_size:
            self._mm.close()
            raise DatabaseError(f"{path}: corrupt IPDB: {self.node_count} nodes do not fit")
        self.path = path
        self.fields: list[str] = [str(f) for f in meta["fields"]]
        self.columns = {LANGS.get(k, k.lower()): v for k, v in meta["languages"].items()}
        self.languages = tuple(self.columns)
        self.ip_version = 6 if meta["ip_version"] & 2 else 4
        self.has_v4 = bool(meta["ip_version"] & 1)
        build = meta.get("build")
        self.build_epoch = (
            build
            if isinstance(build, int) and build >= _EARLIEST_BUILD
            else int(os.stat(path).st_mtime)
        )
        self.enricher = Enricher()
        self._v4_root = self._walk_v4_root()

    @staticmethod
    def sniff(head: bytes, tail: bytes, size: int) -> bool:
        try:
            parse_meta(head)
        except ValueError:
            return False
        return True

    # --- the tree ---------------------------------------------------------------------------

    def child(self, node: int, bit: int) -> int:
        at = self.base + node * 8 + bit * 4
        return int.from_bytes(self._mm[at : at + 4], "big")

    def _walk_v4_root(self) -> int | None:
        node = 0
        for depth in range(96):
            node = self.child(node, 1 if depth >= 80 else 0)
            if node >= self.node_count:
                return None
        return node

    def _data(self, value: int) -> str:
        at = self.base + self.node_count * 8 + value - self.node_count
        end = self.base + self.total_size
        if at + 2 > end:
            raise ValueError(f"data pointer {value} is past the end")
        length = int.from_bytes(self._mm[at : at + 2], "big")
        if at + 2 + length > end:
            raise ValueError(f"data at byte {at} is past the end")
        return self._mm[at + 2 : at + 2 + length].decode("utf-8")

    def _record(self, text: str) -> Record | None:
        values = text.split("\t")
        n = len(self.fields)
        names: dict[str, dict[str, str]] = {"country": {}, "region": {}, "city": {}}
        extra: dict[str, Any] = {}
        code = None
        for lang, column in self.columns.items():
            row = dict(zip(self.fields, values[column : column + n], strict=False))
            for part, key in (("country", "country_name"), ("region", "region_name")):
                if row.get(key):
                    names[part][lang] = row[key]
            if row.get("city_name"):
                names["city"][lang] = row["city_name"]
            code = code or row.get("country_code") or None
            try:
                if row.get("latitude") and row.get("longitude"):
                    extra["location"] = {
                        "latitude": float(row["latitude"]),
                        "longitude": float(row["longitude"]),
                        **({"time_zone": row["timezone"]} if row.get("timezone") else {}),
                    }
            except ValueError:
                pass
        first = next(iter(self.columns))
        country = names["country"].get(first, "")
        if not country or country in NO_LOCATION:
            return None
        record = dict(
            to_record(
                first,
                country,
                names["region"].get(first, ""),
                names["city"].get(first, ""),
                code,
                None,
                extra,
            )
        )
        # Every language's names, then the codes.
        for part, key in (("country", "country"), ("region", "subdivisions"), ("city", "city")):
            target = record.get(key)
            if isinstance(target, list):
                target = target[0]
            if isinstance(target, dict):
                target["names"] = dict(names[part])
        return self.enricher.enrich(record)

    def lookup(self, ip: IPAddress) -> tuple[Record | None, int]:
        if ip.version == 4:
            if not self.has_v4 or self._v4_root is None:
                return None, 0
            node, bits = self._v4_root, 32
        else:
            if self.ip_version != 6:
                return None, 0
            node, bits = 0, 128
        value = int(ip)
        depth = 0
        while node < self.node_count and depth < bits:
            node = self.child(node, (value >> (bits - 1 - depth)) & 1)
            depth += 1
        if node <= self.node_count:
            return None, 0
        return self._record(self._data(node)), depth

    def iterate(self) -> Iterator[tuple[int, int, int, Record]]:
        if self._v4_root is None or not self.has_v4:
            return
        yield from self._walk(self._v4_root, 32, "the IPv4 tree")

    def iterate6(self) -> Iterator[tuple[int, int, int, Record]]:
        if self.ip_version != 6:
            return
        # The IPv4 tree under ::ffff:0:0/96's node is iterate()'s.
        yield from self._walk(0, 128, "the tree", skip=self._v4_root if self.has_v4 else None)

    def _walk(
        self, root: int, bits: int, what: str, skip: int | None = None
    ) -> Iterator[tuple[int, int, int, Record]]:
        """Every (first, last, node, record) under ``root``, depth-first, ascending starts."""
        cache: dict[int, Record | None] = {}
        stack = [(root, 0, 0)]
        while stack:
            node, depth, base = stack.pop()
            if node < self.node_count:
                if depth == 96 and base == V4_MAPPED and node == skip:
                    continue
                if depth >= bits:
                    raise ValueError(f"corrupt IPDB: {what} is deeper than {bits} at {node}")
                half = 1 << (bits - 1 - depth)
                stack.append((self.child(node, 1), depth + 1, base + half))
                stack.append((self.child(node, 0), depth + 1, base))
            elif node > self.node_count:
                if node not in cache:
                    cache[node] = self._record(self._data(node))
                record = cache[node]
                if record is not None:
                    yield base, base + (1 << (bits - depth)) - 1, node, record

    def verify(self, progress: Progress | None = None) -> str:
        """Every node and data pointer of the tree; raises ``CheckError``."""
        data_size = self.total_size - self.node_count * 8
        seen = bytearray(self.node_count)
        stack = [0]
        seen[0] = 1
        while stack:
            node = stack.pop()
            for bit in (0, 1):
                value = self.child(node, bit)
                if value < self.node_count:
                    if not seen[value]:
                        seen[value] = 1
                        stack.append(value)
                elif value > self.node_count:
                    if value - self.node_count >= data_size:
                        raise CheckError(
                            f"corrupt IPDB: node {node} points outside the data ({value})"
                        )
                    try:
                        self._data(value)
                    except ValueError as exc:
                        raise CheckError(f"corrupt IPDB: node {node}: {exc}") from None
                    except UnicodeDecodeError:
                        raise CheckError(
                            f"corrupt IPDB: data of node {node} is not UTF-8"
                        ) from None
        built = (
            time.strftime("%Y-%m-%d", time.gmtime(self.build_epoch))
            if self.build_epoch >= _EARLIEST_BUILD
            else "unknown"
        )
        versions = "4+6" if self.ip_version == 6 and self.has_v4 else str(self.ip_version)
        return (
            f"ipip.net IPDB (IPv{versions}, "
            f"{self.node_count} nodes, fields {','.join(self.fields)}, languages "
            f"{','.join(self.languages)}, built {built})"
        )

    def close(self) -> None:
        self._mm.close()
