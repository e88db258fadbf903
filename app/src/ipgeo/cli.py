"""The ``ipgeo`` command line: lookup, info, check-db, check-codes, convert, prepare.

Every failure is one line on stderr naming the file and the problem, and a non-zero exit.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import orjson

from .checkdb import CheckError, Expectation, check_db
from .codes import CodeBook, CodesError
from .consts import VERSION as __version__
from .convert import convert
from .db import open_database
from .dbhash import file_sha256
from .errors import APIError, DatabaseError, NotFoundError, PreparedIndexError
from .prepared import build_index, validate_index
from .render import parse_ip, resolve_fields
from .sources import sniff


def _print_json(data: object) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _fail(message: str, code: int = 1) -> int:
    print(f"ipgeo: {message}", file=sys.stderr)
    return code


def cmd_lookup(args: argparse.Namespace) -> int:
    path = args.db or os.environ.get("IPGEO_DB_PATH")
    if not path:
        return _fail("no database: pass --db FILE or set IPGEO_DB_PATH", 2)
    try:
        db = open_database(
            path,
            os.environ.get("IPGEO_DEFAULT_LANG"),
            codes_path=args.codes or os.environ.get("IPGEO_ADCODE_FILE") or None,
        )
        parse_ip(args.ip)  # a bad address is reported before a bad language or field
        lang = db.resolve_lang(args.lang)
        fields = resolve_fields(args.fields)
        body = db.answer(args.ip, lang, fields)
    except DatabaseError as exc:
        return _fail(str(exc))
    except (ValueError, UnicodeDecodeError, IndexError) as exc:
        # A damaged file: its reader failed on the bytes this lookup needed.
        return _fail(f"{path}: corrupt {db.source.format} file: lookup of {args.ip} failed: {exc}")
    except NotFoundError as exc:
        return _fail(f"{exc.code}: {exc.message}")
    except APIError as exc:
        return _fail(f"{exc.code}: {exc.message}", 2)
    _print_json(orjson.loads(body))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    try:
        db = open_database(args.file)
    except DatabaseError as exc:
        return _fail(str(exc))
    info = db.describe()
    info["version"] = db.version
    info["ip_version"] = db.source.ip_version
    info["default_lang"] = db.default_lang
    enricher = getattr(db.source, "enricher", None)
    if enricher is not None:
        # Names only: which of them the built-in dictionaries could not place.
        try:
            ranges = sum(1 for _ in db.source.iterate())
            ranges += sum(1 for _ in db.source.iterate6())
        except (ValueError, UnicodeDecodeError, IndexError) as exc:
            return _fail(f"{args.file}: corrupt {db.source.format} file: {exc}")
        info["ranges"] = ranges
        info["unknown_names"] = dict(enricher.unknown.most_common())
    _print_json(info)
    return 0


def cmd_check_db(args: argparse.Namespace) -> int:
    try:
        expects = [Expectation.parse(e) for e in args.expect]
    except ValueError as exc:
        return _fail(f"--expect: {exc}", 2)

    def progress(msg: str) -> None:
        if args.verbose:
            print(f"ipgeo: {msg}...", file=sys.stderr)

    try:
        summary = check_db(args.file, expects, progress)
    except CheckError as exc:
        return _fail(f"check-db {args.file}: {exc}")
    if args.index:
        kind = sniff(args.file)
        if kind is None or not kind.indexable:
            return _fail(
                f"check-db {args.file}: a prepared index needs a MaxMind DB (ipgeo convert first)"
            )
        try:
            codes = CodeBook.load(args.codes) if args.codes else None
        except CodesError as exc:
            return _fail(f"check-db --codes: {exc}")
        progress("comparing the index with the DB")
        try:
            summary += f"; index {args.index}: " + validate_index(
                args.file, args.index, samples=args.index_samples, codes=codes
            )
        except PreparedIndexError as exc:
            return _fail(f"check-db {args.file} --index: {exc}")
    print(summary)
    return 0


def cmd_check_codes(args: argparse.Namespace) -> int:
    # The message alone on stderr, like the preflight program this replaces: the role's
    # assert quotes stderr's last line after "ipgeo_db_codes_file: ".
    try:
        book = CodeBook.load(args.file)
    except CodesError as exc:
        print(exc, file=sys.stderr)
        return 1
    if not len(book):
        print(f"{args.file}: no entries (only blank lines and comments)", file=sys.stderr)
        return 1
    print(f"{len(book)} entries, content sha256 {book.sha256}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    try:
        stats = convert(args.src, args.dst, progress=None if args.progress else False)
    except DatabaseError as exc:
        return _fail(str(exc))
    unknown = stats["unknown_names"]
    assert isinstance(unknown, dict)
    print(
        f"wrote {args.dst}: {stats['networks']} networks, {stats['records']} distinct records, "
        f"{stats['nodes']} nodes; from {stats['source_format']} sha256 {stats['source_sha256']}; "
        f"{len(unknown)} names without codes"
        + (
            f" ({', '.join(list(unknown)[:10])}{', ...' if len(unknown) > 10 else ''})"
            if unknown
            else ""
        )
    )
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    out = args.out or args.db + ".idx"
    # A damaged tree can crash the C reader that the build walks with: check the file first.
    try:
        check_db(args.db)
    except CheckError as exc:
        return _fail(f"prepare: {args.db}: {exc}")
    try:
        db = open_database(args.db, codes_path=args.codes)
    except DatabaseError as exc:
        return _fail(str(exc))
    if not db.source.indexable:
        return _fail(f"{args.db}: prepare needs a MaxMind DB (ipgeo convert first)")
    langs = args.lang or [lang for lang in ("en", "zh-CN") if lang in db.languages]
    langs = langs or list(db.languages[:1])

    def say(msg: str) -> None:
        print(f"ipgeo: {msg}...", file=sys.stderr)

    try:
        stats = build_index(args.db, out, langs, file_sha256(args.db), say, db.codes)
        say("validating against the DB")
        summary = validate_index(args.db, out, samples=args.samples, codes=db.codes)
    except PreparedIndexError as exc:
        if os.path.exists(out):
            os.unlink(out)
        return _fail(f"prepare: {exc}")
    print(
        f"wrote {out}: {stats['networks']} IPv4 networks, {stats['records']} records, "
        f"languages {','.join(langs)}, {stats['bytes']} bytes"
        f"{f', codes {db.codes.path}' if db.codes else ''}; {summary}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ipgeo", description="IP geolocation tools")
    parser.add_argument("--version", action="version", version=f"ipgeo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lookup", help="look up one IP and print the API's JSON")
    p.add_argument("ip")
    p.add_argument("--db", help="database file (default: $IPGEO_DB_PATH)")
    p.add_argument("--lang", help="language of names (default: en or the DB's first)")
    p.add_argument("--fields", help="comma-separated top-level fields")
    p.add_argument("--codes", help="code dictionary TSV (default: $IPGEO_ADCODE_FILE)")
    p.set_defaults(func=cmd_lookup)

    p = sub.add_parser("info", help="print a database's metadata as JSON")
    p.add_argument("file")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("check-db", help="validate a database file before deploying it")
    p.add_argument("file")
    p.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="IP=CC",
        help="require IP to resolve to country code CC (repeatable)",
    )
    p.add_argument(
        "--index",
        metavar="IDX",
        help="also validate this prepared index against the DB (its DB SHA-256, format "
        "version, size, and answers compared with the DB's)",
    )
    p.add_argument(
        "--codes",
        metavar="TSV",
        help="the code dictionary the index must have been built with (as the app's "
        "IPGEO_ADCODE_FILE); without it, the index must have none",
    )
    p.add_argument(
        "--index-samples",
        type=int,
        default=20000,
        metavar="N",
        help="random addresses (and as many network edges) compared per language",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="report progress on stderr")
    p.set_defaults(func=cmd_check_db)

    p = sub.add_parser(
        "check-codes", help="load a code dictionary as the app does; print its size and digest"
    )
    p.add_argument("file")
    p.set_defaults(func=cmd_check_codes)

    p = sub.add_parser(
        "convert", help="write a 17monipdb, IPDB or xdb file out as a MaxMind DB (IPv4)"
    )
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar (it is shown only on a terminal anyway)",
    )
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("prepare", help="build the prepared index of an MMDB (fast IPv4 answers)")
    p.add_argument("db")
    p.add_argument("out", nargs="?", help="index file (default: DB.idx, found by the app)")
    p.add_argument(
        "--lang", action="append", help="language to prepare (repeatable; default en, zh-CN)"
    )
    p.add_argument(
        "--codes",
        metavar="TSV",
        help="render adcodes from this code dictionary (the app must set the same "
        "IPGEO_ADCODE_FILE, else it ignores the index)",
    )
    p.add_argument("--samples", type=int, default=20000, help="addresses validated per language")
    p.set_defaults(func=cmd_prepare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
