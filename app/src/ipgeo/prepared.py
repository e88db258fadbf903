"""The prepared index: IPv4 answers pre-rendered as JSON, for lookups without decoding.

Decoding an MMDB record and shaping it costs far more than finding it. ``ipgeo prepare``
walks the MMDB's IPv4 tree once and writes, for every network, its start and prefix length
and, per language, the JSON of the answer after ``"network"``. A worker maps the file (shared
page cache, nothing copied) and answers an IPv4 lookup with a table step, a short bisect and
a byte join. The file names the SHA-256 of its DB and is ignored if that does not match.

Layout (native byte order, recorded in the header): 8-byte magic, uint32 header length, JSON
header, then 8-byte aligned sections: ``keys`` uint64[n], one per network in ascending order,
``start << 32 | record << 6 | prefix length`` (one read finds all three); ``idx16``
uint32[65537], the first network whose start is >= k << 16 (bounds the bisect); ``idx20``
uint32[2**20 + 1], the same per /20 (about 3 networks a bucket; optional: indexes from before
it use ``idx16``, and readers from before it ignore it); and per
language ``tails`` uint64[records], ``offset << 16 | length`` of the record's JSON in ``blob``.

The renderer's hot path also exists in C (``_speedups.c``, used when it was built): with
random addresses the interpreter's own work, not the table steps, was most of the cost.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import mmap
import os
import random
import socket
import struct
import sys
from array import array
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import orjson

from .codes import CodeBook
from .dbhash import file_sha256
from .errors import DatabaseError, PreparedIndexError
from .render import shape
from .sources import Source, open_source
from .types import Record

try:
    from ._speedups import Renderer as _CRenderer
except ImportError:  # not built (no compiler where the wheel was made): pure Python
    _CRenderer = None

MAGIC = b"IPGEOIX1"
VERSION = 1
_HEAD = b'{"ip":"","network":null,'
_PREFIX = [f"/{p}".encode() for p in range(33)]
_inet_pton = socket.inet_pton
_unpack_u32 = struct.Struct("!I").unpack  # cheaper than int.from_bytes(..., "big")
_inet_ntoa = socket.inet_ntoa
_AF_INET = socket.AF_INET


__all__ = [
    "MAGIC",
    "PreparedIndex",
    "PreparedIndexError",
    "build_index",
    "reference_body",
    "validate_index",
]


def _align(n: int) -> int:
    return (n + 7) & ~7


# --- building --------------------------------------------------------------------------------


def _blocks(first: int, last: int) -> Iterator[tuple[int, int]]:
    """(start, prefix length) of the CIDR blocks that make up the range first..last."""
    size = last - first + 1
    if size & (size - 1) == 0 and first & (size - 1) == 0:  # one block (every MMDB network)
        yield first, 33 - size.bit_length()
        return
    for net in ipaddress.summarize_address_range(
        ipaddress.IPv4Address(first), ipaddress.IPv4Address(last)
    ):
        yield int(net.network_address), net.prefixlen


def _open(path: str) -> Source:
    try:
        return open_source(path)
    except DatabaseError as exc:
        raise PreparedIndexError(str(exc)) from None


def build_index(
    db_path: str,
    out_path: str,
    languages: list[str],
    db_sha256: str,
    progress: Callable[[str], None] | None = None,
    codes: CodeBook | None = None,
) -> dict[str, int]:
    """Write the index; with ``codes`` its answers carry adcodes (and it records which)."""
    say = progress or (lambda _m: None)
    source = _open(db_path)
    try:
        missing = [lang for lang in languages if lang not in source.languages]
        if missing:
            raise PreparedIndexError(f"languages not in the DB: {', '.join(missing)}")
        say("walking the IPv4 tree")
        starts = array("I")
        plens = array("B")
        recs = array("I")
        key_rec: dict[Hashable, int] = {}
        records: list[Record] = []
        for first, last, key, record in source.iterate():
            number = key_rec.get(key)
            if number is None:
                number = key_rec[key] = len(records)
                records.append(record)
            for start, plen in _blocks(first, last):
                starts.append(start)
                plens.append(plen)
                recs.append(number)
        db_type, build_epoch = source.database_type, source.build_epoch
    finally:
        source.close()
    say("rendering answers")
    if len(records) >= 1 << 26:
        raise PreparedIndexError("too many distinct records for the index")
    keys = array(
        "Q", ((st << 32) | (r << 6) | p for st, r, p in zip(starts, recs, plens, strict=True))
    )
    sections: list[tuple[str, bytes]] = [
        ("keys", keys.tobytes()),
        (
            "idx16",
            array("I", (bisect.bisect_left(starts, k << 16) for k in range(65537))).tobytes(),
        ),
        (
            "idx20",
            array(
                "I", (bisect.bisect_left(starts, k << 12) for k in range((1 << 20) + 1))
            ).tobytes(),
        ),
    ]
    for lang in languages:
        texts: dict[bytes, int] = {}
        tails = array("Q")
        blob = bytearray()
        for record in records:
            body = orjson.dumps(shape("", None, record, lang, codes))
            assert body.startswith(_HEAD)
            tail = body[len(_HEAD) :]
            packed = texts.get(tail)
            if packed is None:
                packed = texts[tail] = (len(blob) << 16) | len(tail)
                blob += tail
            tails.append(packed)
        sections += [(f"tails:{lang}", tails.tobytes()), (f"blob:{lang}", bytes(blob))]
    header: dict[str, Any] = {
        "version": VERSION,
        "byteorder": sys.byteorder,
        "db_sha256": db_sha256,
        "db_type": db_type,
        "build_epoch": build_epoch,
        "networks": len(starts),
        "records": len(records),
        "languages": languages,
        # The answers depend on the code dictionary too: a worker must use the same one.
        "codes_sha256": codes.sha256 if codes is not None else None,
        "sections": {},
    }
    # Offsets depend on the header's length: lay out with a generous fixed header size.
    head_size = 4096
    pos = _align(len(MAGIC) + 4 + head_size)
    for name, data in sections:
        header["sections"][name] = [pos, len(data)]
        pos = _align(pos + len(data))
    header["size"] = pos  # lets a reader tell a cut-off tail from a whole file
    head = orjson.dumps(header)
    if len(head) > head_size:
        raise PreparedIndexError("index header too large")
    tmp = f"{out_path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(MAGIC + len(head).to_bytes(4, "little") + head)
            for name, data in sections:
                fh.seek(header["sections"][name][0])
                fh.write(data)
            fh.truncate(pos)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"networks": len(starts), "records": len(records), "bytes": pos}


# --- reading ---------------------------------------------------------------------------------


@functools.cache
def _text_tables() -> tuple[list[bytes], list[bytes]]:
    """Network text from lookup tables: cheaper than formatting an address per request."""
    octets = [str(b).encode() for b in range(256)]
    dotted = [o + b"." for o in octets]
    # Four lookups in 256-entry lists (which stay in the CPU cache) measured at least as fast
    # as one in a 65536-entry table of the first two octets, which cost ~3 MB in each worker.
    return octets, dotted


class PreparedIndex:
    """Read side; ``body(text, lang)`` renders the lookup JSON of an IPv4 address."""

    def __init__(self, path: str, db_sha256: str | None = None) -> None:
        try:
            with open(path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size < len(MAGIC) + 4:
                    raise PreparedIndexError(f"{path}: truncated (shorter than the header)")
                self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError:
            raise PreparedIndexError(f"{path}: file not found") from None
        except (OSError, ValueError) as exc:
            raise PreparedIndexError(f"{path}: cannot map: {exc}") from None
        try:
            self._open(path, db_sha256)
        except Exception:
            self._mm.close()
            raise

    def _open(self, path: str, db_sha256: str | None) -> None:
        mm = self._mm
        if mm[: len(MAGIC)] != MAGIC:
            raise PreparedIndexError(f"{path}: not an ipgeo prepared index")
        size = int.from_bytes(mm[8:12], "little")
        if len(mm) < 12 + size:
            raise PreparedIndexError(f"{path}: truncated (header past the end)")
        try:
            header = orjson.loads(mm[12 : 12 + size])
        except orjson.JSONDecodeError:
            raise PreparedIndexError(f"{path}: corrupt header") from None
        if not isinstance(header, dict):
            raise PreparedIndexError(f"{path}: corrupt header")
        if header.get("version") != VERSION:
            raise PreparedIndexError(
                f"{path}: index format version {header.get('version')!r}, "
                f"this ipgeo reads version {VERSION} (prepare it again)"
            )
        if header.get("byteorder") != sys.byteorder:
            raise PreparedIndexError(
                f"{path}: built on a {header.get('byteorder')}-endian machine, "
                f"this one is {sys.byteorder}-endian"
            )
        if db_sha256 is not None and header.get("db_sha256") != db_sha256:
            raise PreparedIndexError(
                f"{path}: built for another DB (sha256 {str(header.get('db_sha256'))[:12]}, "
                f"this DB {db_sha256[:12]})"
            )
        # Older indexes have no "size": their sections are still checked below.
        if header.get("size", len(mm)) != len(mm):
            what = "truncated" if len(mm) < header["size"] else "trailing bytes"
            raise PreparedIndexError(
                f"{path}: {what} ({len(mm)} bytes, the header says {header['size']})"
            )
        self.header = header
        self.path = path
        self._c_renderers: list[Any] = []
        self.languages: tuple[str, ...] = tuple(header["languages"])
        # Check every section against the file before any view exists (a view pins the map).
        sections = header["sections"]
        n, records = header["networks"], header["records"]
        expected = {"keys": 8 * n, "idx16": 4 * 65537}
        for lang in self.languages:
            expected[f"tails:{lang}"] = 8 * records
            expected[f"blob:{lang}"] = -1
        if "idx20" in sections:
            expected["idx20"] = 4 * ((1 << 20) + 1)
        for name, length in expected.items():
            if name not in sections:
                raise PreparedIndexError(f"{path}: section {name} missing")
            off, size = sections[name]
            if off + size > len(mm):
                raise PreparedIndexError(f"{path}: truncated ({name} past the end)")
            if length >= 0 and size != length:
                raise PreparedIndexError(f"{path}: section {name} has the wrong size")

        def view(name: str, fmt: str) -> memoryview:
            off, size = sections[name]
            with memoryview(mm) as whole:
                return whole[off : off + size].cast(fmt)

        self._keys = view("keys", "Q")
        self._idx16 = view("idx16", "I")
        self._idx20 = view("idx20", "I") if "idx20" in sections else None
        self._tails: dict[str, tuple[memoryview, int]] = {
            lang: (view(f"tails:{lang}", "Q"), sections[f"blob:{lang}"][0])
            for lang in self.languages
        }

    def require_codes(self, codes: CodeBook | None) -> None:
        """Refuse the index unless its answers were rendered with this code dictionary."""
        built = self.header.get("codes_sha256")
        wanted = codes.sha256 if codes is not None else None
        if built == wanted:
            return
        if built is None:
            raise PreparedIndexError(
                f"{self.path}: built without a code dictionary, but {codes and codes.path} is set"
            )
        if wanted is None:
            raise PreparedIndexError(
                f"{self.path}: built with a code dictionary (sha256 {built[:12]}), none is set"
            )
        raise PreparedIndexError(
            f"{self.path}: built with another code dictionary "
            f"(sha256 {built[:12]}, {codes and codes.path} is {wanted[:12]})"
        )

    def renderer(self, lang: str, speedups: bool = True) -> Callable[[str], bytes | None]:
        """``render(text)``: the lookup JSON for a dotted-quad IPv4 ``text`` in ``lang``.

        It returns None when the address has no entry, raises OSError when ``text`` is not
        canonical dotted-quad IPv4 (callers then take the general path) and TypeError when it
        is not a str. The C version (``ipgeo._speedups``) is used when it was built and
        ``speedups`` is true; both give the same bytes.
        """
        if speedups and _CRenderer is not None:
            return self._c_renderer(lang)
        return self._py_renderer(lang)

    @property
    def renderer_kind(self) -> str:
        """Which renderer ``renderer()`` gives by default: "c" or "python"."""
        return "c" if _CRenderer is not None else "python"

    def _c_renderer(self, lang: str) -> Callable[[str], bytes | None]:
        sections = self.header["sections"]
        bounds = "idx20" if self._idx20 is not None else "idx16"
        blob_off, blob_size = sections[f"blob:{lang}"]
        render = _CRenderer(
            self._mm,
            keys=sections["keys"][0],
            n=self.header["networks"],
            bounds=sections[bounds][0],
            shift=12 if bounds == "idx20" else 16,
            tails=sections[f"tails:{lang}"][0],
            records=self.header["records"],
            blob=blob_off,
            blob_size=blob_size,
        )
        # It holds a buffer of the map: close() must give it back before closing the map.
        self._c_renderers.append(render)
        return render

    def _py_renderer(self, lang: str) -> Callable[[str], bytes | None]:
        """The pure Python renderer: everything it needs is bound up front (the hot path)."""
        tails, base = self._tails[lang]
        keys, mm = self._keys, self._mm
        if self._idx20 is not None:
            # Shared pages, and ~3 networks a bucket: a shorter bisect than with idx16.
            shift, bounds = 12, self._idx20
        else:
            # 65537 ints: a list indexes faster than a memoryview.
            shift, bounds = 16, self._idx16.tolist()
        unpack = _unpack_u32
        bisect_right = bisect.bisect_right
        pton, af_inet, prefixes = _inet_pton, _AF_INET, _PREFIX
        join = b"".join
        octets, dotted = _text_tables()

        def render(text: str) -> bytes | None:
            try:
                (value,) = unpack(pton(af_inet, text))
            except ValueError:  # an embedded NUL: not an address either
                raise OSError("illegal IP address string passed to inet_pton") from None
            k = value >> shift
            i = bisect_right(keys, (value << 32) | 0xFFFFFFFF, bounds[k], bounds[k + 1]) - 1
            if i < 0:
                return None
            key = keys[i]
            start = key >> 32
            plen = key & 63
            if (value - start) >> (32 - plen):
                return None
            tail = tails[(key >> 6) & 0x3FFFFFF]
            offset = base + (tail >> 16)
            return join(
                (
                    b'{"ip":"',
                    text.encode(),
                    b'","network":"',
                    dotted[start >> 24],
                    dotted[(start >> 16) & 255],
                    dotted[(start >> 8) & 255],
                    octets[start & 255],
                    prefixes[plen],
                    b'",',
                    mm[offset : offset + (tail & 0xFFFF)],
                )
            )

        return render

    def body(self, text: str, lang: str) -> bytes | None:
        return self.renderer(lang)(text)

    def close(self) -> None:
        for render in self._c_renderers:
            render.release()
        self._c_renderers = []
        self._keys.release()
        self._idx16.release()
        if self._idx20 is not None:
            self._idx20.release()
        for tails, _ in self._tails.values():
            tails.release()
        self._tails = {}
        self._mm.close()


def reference_body(
    reader: Any, text: str, lang: str, codes: CodeBook | None = None
) -> bytes | None:
    """The answer decoded from the MMDB itself: what the index must reproduce byte for byte.

    ``reader`` is a ``maxminddb`` reader (the benchmark's); :func:`validate_index` goes
    through the DB's :class:`~ipgeo.sources.Source` instead.
    """
    record, prefix_len = reader.get_with_prefix_len(text)
    return _body(text, record, prefix_len, lang, codes)


def _body(
    text: str, record: Record | None, prefix_len: int, lang: str, codes: CodeBook | None
) -> bytes | None:
    if record is None:
        return None
    value = int.from_bytes(_inet_pton(_AF_INET, text), "big")
    start = value & ~((1 << (32 - prefix_len)) - 1) & 0xFFFFFFFF
    network = f"{_inet_ntoa(start.to_bytes(4, 'big'))}/{prefix_len}"
    return orjson.dumps(shape(text, network, record, lang, codes))


def validate_index(
    db_path: str,
    index_path: str,
    samples: int = 20000,
    seed: int = 0,
    codes: CodeBook | None = None,
) -> str:
    """Compare the index with the MMDB (answers shaped with ``codes``) on random addresses
    and network edges; the index must have been built with the same code dictionary.

    Returns a summary; raises PreparedIndexError naming the first address that differs.
    """
    index = PreparedIndex(index_path, file_sha256(db_path))
    try:
        index.require_codes(codes)
    except PreparedIndexError:
        index.close()
        raise
    rng = random.Random(seed)
    values = [rng.getrandbits(32) for _ in range(samples)]
    keys = index._keys
    for i in rng.sample(range(len(keys)), min(samples, len(keys))):
        start, plen = keys[i] >> 32, keys[i] & 63
        values += [start, start + (1 << (32 - plen)) - 1]
    try:
        source = _open(db_path)
        try:
            for lang in index.languages:
                render = index.renderer(lang)
                for value in values:
                    text = _inet_ntoa(value.to_bytes(4, "big"))
                    try:
                        got = render(text)
                    except (IndexError, ValueError):
                        # A record number or bound that points outside its table.
                        raise PreparedIndexError(
                            f"{index_path}: corrupt tables (lookup of {text} fails)"
                        ) from None
                    record, prefix_len = source.lookup(ipaddress.IPv4Address(value))
                    if got != _body(text, record, prefix_len, lang, codes):
                        raise PreparedIndexError(
                            f"{index_path}: index and DB disagree on {text} ({lang})"
                        )
        finally:
            source.close()
    finally:
        index.close()
    return f"{len(values)} addresses x {len(index.languages)} languages identical"
