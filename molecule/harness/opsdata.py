"""Test inputs for the Molecule `ops` scenario: databases and app releases (stdlib only).

Databases, all made from the real GeoLite2 file without re-encoding it:

- ``new``: a different valid database: the metadata's ``build_epoch`` (after the marker
  b"\\xab\\xcd\\xefMaxMind.com" at the end of the file) moved by ``--epoch-delta`` seconds, in
  place and in the same number of bytes. The search tree and the data are the original bytes.
- ``truncated``: the first part of the file only (no metadata).
- ``bitflip``: bits flipped in the search tree (the first part of the file).
- ``text``: another format: a CSV text file.

Releases: a copy of the app's source tree with another version string, optionally broken (the
WSGI module raises on import, so the release installs but its workers cannot boot).

Usage::

    python3 opsdata.py dbs SRC.mmdb OUTDIR       # prints JSON: name -> {path, sha256, version}
    python3 opsdata.py release APPDIR OUTDIR --version 0.1.0.post1 [--broken]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

MARKER = b"\xab\xcd\xefMaxMind.com"
# A metadata key is a UTF-8 string: control byte 0x40 | length, then the bytes.
_BUILD_EPOCH_KEY = bytes([0x40 | len(b"build_epoch")]) + b"build_epoch"
_METADATA_MAX = 128 * 1024


class DataError(ValueError):
    """The input is not what the helper expects (e.g. no MaxMind metadata)."""


def _metadata_start(data: bytes | bytearray) -> int:
    start = data.rfind(MARKER, max(0, len(data) - _METADATA_MAX))
    if start < 0:
        raise DataError("no MaxMind DB metadata marker near the end of the file")
    return start + len(MARKER)


def _uint_field(data: bytes | bytearray, pos: int) -> tuple[int, int]:
    """(offset of the value bytes, size) of the unsigned integer whose control byte is at pos."""
    ctrl = data[pos]
    kind, size = ctrl >> 5, ctrl & 0x1F
    pos += 1
    if kind == 0:  # extended type: the next byte is the type number minus 7
        kind = 7 + data[pos]
        pos += 1
    if kind not in (5, 6, 9, 10) or size > 28:  # uint16, uint32, uint64, uint128
        raise DataError(f"build_epoch is not a small unsigned integer (type {kind}, size {size})")
    return pos, size


def read_build_epoch(data: bytes | bytearray) -> int:
    meta = _metadata_start(data)
    key = data.find(_BUILD_EPOCH_KEY, meta)
    if key < 0:
        raise DataError("no build_epoch in the metadata")
    pos, size = _uint_field(data, key + len(_BUILD_EPOCH_KEY))
    return int.from_bytes(data[pos : pos + size], "big")


def patch_build_epoch(data: bytearray, delta: int) -> int:
    """Move the metadata's build_epoch by ``delta`` seconds in place; return the new value."""
    meta = _metadata_start(data)
    key = data.find(_BUILD_EPOCH_KEY, meta)
    if key < 0:
        raise DataError("no build_epoch in the metadata")
    pos, size = _uint_field(data, key + len(_BUILD_EPOCH_KEY))
    new = int.from_bytes(data[pos : pos + size], "big") + delta
    if new < 0 or new.bit_length() > 8 * size:
        raise DataError(f"build_epoch {new} does not fit in {size} bytes")
    data[pos : pos + size] = new.to_bytes(size, "big")
    return new


def flip_tree_bits(data: bytearray, count: int = 8) -> list[int]:
    """Flip the top bit of the first byte of each of the first ``count`` search-tree nodes.

    The file starts with the search tree; with GeoLite2's 28-bit records a node is 7 bytes and
    its byte 0 holds bits 16-23 of the left record, so each flip redirects a record near the root
    and leaves the node it pointed to unreachable. Returns the flipped offsets.
    """
    offsets = [i * 7 for i in range(count)]
    for off in offsets:
        data[off] ^= 0x80
    return offsets


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def make_dbs(src: Path, out: Path, epoch_delta: int = 86400) -> dict[str, dict[str, object]]:
    """Write the test databases into ``out``; return name -> {path, sha256[, build_epoch, version]}.

    ``version`` is what the app sends as X-DB-Version for the valid ones.
    """
    out.mkdir(parents=True, exist_ok=True)
    original = src.read_bytes()
    made: dict[str, dict[str, object]] = {}

    def write(name: str, filename: str, content: bytes, epoch: int | None) -> None:
        path = out / filename
        path.write_bytes(content)
        sha = sha256_of(path)
        entry: dict[str, object] = {"path": str(path.resolve()), "sha256": sha}
        if epoch is not None:
            entry["build_epoch"] = epoch
            entry["version"] = f"{epoch}-{sha[:12]}"  # what the app sends as X-DB-Version
        made[name] = entry

    write("original", "original.mmdb", original, read_build_epoch(original))
    new = bytearray(original)
    new_epoch = patch_build_epoch(new, epoch_delta)
    write("new", "new.mmdb", bytes(new), new_epoch)
    del new
    write("truncated", "truncated.mmdb", original[: len(original) * 3 // 5], None)
    flipped = bytearray(original)
    flip_tree_bits(flipped)
    write("bitflip", "bitflip.mmdb", bytes(flipped), None)
    del flipped
    text = "network,country_iso_code\n1.0.0.0/24,AU\n8.8.8.0/24,US\n114.114.0.0/16,CN\n"
    write("text", "text.mmdb", (text * 100).encode(), None)
    return made


_IGNORE = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache")


# Where the package's version string is assigned: (module, name).
_VERSION_DEFS = (("consts.py", "VERSION"), ("__init__.py", "__version__"))


def _replace_once(path: Path, pattern: str, repl: str) -> None:
    text, n = re.subn(pattern, repl, path.read_text())
    if n != 1:
        raise DataError(f"{path}: expected one match of {pattern}, found {n}")
    path.write_text(text)


def make_release(app: Path, out: Path, version: str, broken: bool = False) -> dict[str, str]:
    """Copy the app's source tree to ``out`` with ``version``; ``broken``: WSGI import raises."""
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*(\.post[0-9]+)?", version):
        raise DataError(f"not a plain version: {version!r}")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(app, out, ignore=_IGNORE)
    _replace_once(out / "pyproject.toml", r'(?m)^version = "[^"]*"$', f'version = "{version}"')
    # The package's version string: in the constants module, or in __init__.py in older trees.
    for module, name in _VERSION_DEFS:
        path = out / "src/ipgeo" / module
        pattern = rf'(?m)^{name} = "[^"]*"$'
        if path.is_file() and re.search(pattern, path.read_text()):
            _replace_once(path, pattern, f'{name} = "{version}"')
            break
    else:
        raise DataError(f"{out}: no version string in src/ipgeo ({_VERSION_DEFS})")
    if broken:
        wsgi = out / "src/ipgeo/wsgi.py"
        broken_line = 'raise RuntimeError("ops test: this release is broken on purpose")'
        wsgi.write_text(wsgi.read_text() + f"\n{broken_line}\n")
    return {"path": str(out.resolve()), "version": version}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_dbs = sub.add_parser("dbs", help="write the test databases")
    p_dbs.add_argument("src", type=Path)
    p_dbs.add_argument("out", type=Path)
    p_dbs.add_argument("--epoch-delta", type=int, default=86400)
    p_rel = sub.add_parser("release", help="copy the app with another version")
    p_rel.add_argument("app", type=Path)
    p_rel.add_argument("out", type=Path)
    p_rel.add_argument("--version", required=True)
    p_rel.add_argument("--broken", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "dbs":
            result: object = make_dbs(args.src, args.out, args.epoch_delta)
        else:
            result = make_release(args.app, args.out, args.version, args.broken)
    except (OSError, DataError) as exc:
        print(f"opsdata: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
