"""``python -m bench`` from the repo root: run the seven benchmarks, print one table, write
bench/out/results.md, bench/out/results.json and bench/out/bench.png (``--replot`` redraws
the last two from the JSON without measuring).

Needs the real DB (``make db``), ``wrk``, nginx and libnginx-mod-http-geoip2 for the HTTP rows
(``scripts/bench-deps.sh`` installs them; nginx runs on loopback ports, never as a host daemon),
and matplotlib for the figure (requirements/bench.txt).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import maxminddb

from . import (
    coldstart,
    fixed_rate,
    http_batch,
    http_cache,
    http_node,
    http_single,
    inprocess,
    memory,
)
from .common import (
    DB,
    LANGS,
    OUT,
    Row,
    is_public,
    load_average,
    log,
    machine,
    sample_ips,
    sample_ipv6,
)
from .ipgeo_api import PreparedIndex, PreparedIndexError, build_index, file_sha256, validate_index
from .plot import write_png
from .report import table

RESULTS = OUT / "results.json"


def ensure_index(sha: str) -> Path:
    """The prepared index of the DB (en, zh-CN) in bench/out, built on first use."""
    idx = OUT / "GeoLite2-City.mmdb.idx"
    try:
        index = PreparedIndex(str(idx), sha)
    except PreparedIndexError:
        pass
    else:
        # Rebuild an index from before the /20 table: the run measures the current format.
        current = "idx20" in index.header["sections"]
        index.close()
        if current:
            return idx
    log("building the prepared index (en, zh-CN)")
    build_index(str(DB), str(idx), LANGS, sha, log)
    log(validate_index(str(DB), str(idx), samples=20000))
    return idx


def found_in_db(idx: Path, sha: str, ips: list[str]) -> list[str]:
    index = PreparedIndex(str(idx), sha)
    try:
        render = index.renderer("en")
        return [ip for ip in ips if render(ip) is not None]
    finally:
        index.close()


def found_ipv6(n: int) -> list[str]:
    """``n`` random global IPv6 addresses the DB has (the index is IPv4 only: ask the MMDB)."""
    reader = maxminddb.open_database(str(DB))
    try:
        return [ip for ip in sample_ipv6(n) if reader.get(ip) is not None]
    finally:
        reader.close()


def cache_row(idx: Path, sha: str, env: dict[str, str], universe: int, seconds: int) -> Row:
    """Row 8: ``universe`` distinct random IPv4 the DB has (drawn from a quarter more)."""
    ips = found_in_db(idx, sha, sample_ips(universe + universe // 4, seed=8))[:universe]
    log(f"8 LB response cache, Zipf and uniform streams over {len(ips):,} addresses")
    return http_cache.row(http_cache.measure(env, ips, seconds))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--ips", type=int, default=1_000_000, help="sampled IPv4 addresses")
    parser.add_argument(
        "--seconds",
        type=int,
        default=10,
        help="seconds of each HTTP run of rows 2, 3 and 5 (row 4: half as many rounds)",
    )
    parser.add_argument("--public", type=int, default=100_000, help="addresses of rows 2 and 3")
    parser.add_argument(
        "--per-worker", type=int, default=100_000, help="row 6: lookups each worker makes first"
    )
    parser.add_argument(
        "--cache-only",
        action="store_true",
        help="run only row 8 (the LB response cache); results.json then holds that row alone",
    )
    parser.add_argument(
        "--cache-universe",
        type=int,
        default=1_000_000,
        help="row 8: distinct addresses (the DB has) the Zipf and uniform streams draw from",
    )
    parser.add_argument(
        "--replot",
        action="store_true",
        help="measure nothing: redraw the table and figure from bench/out/results.json",
    )
    args = parser.parse_args()
    if args.replot:
        return report_all(**json.loads(RESULTS.read_text()))
    if not DB.is_file():
        raise SystemExit(f"{DB} is missing: run `make db` first")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: run scripts/bench-deps.sh")
    OUT.mkdir(parents=True, exist_ok=True)
    loads = [load_average()]
    log(f"load average (1 min) at start: {loads[0]:.2f}")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    sha = file_sha256(str(DB))
    idx = ensure_index(sha)
    env = {"IPGEO_DB_PATH": str(DB), "IPGEO_INDEX_PATH": str(idx), "IPGEO_NODE_NAME": "bench"}
    seconds = max(1, args.seconds)
    ips = [] if args.cache_only else sample_ips(args.ips)

    rows: list[Row] = []
    if args.cache_only:
        rows.append(cache_row(idx, sha, env, args.cache_universe, seconds))
        loads.append(load_average())
        preamble = (
            f"Run {started}. Machine: {machine()}; load average (1 min) {loads[0]:.1f} at start, "
            f"{loads[1]:.1f} at the end. Row 8 alone (`--cache-only`)."
        )
        title = f"ipgeo bench (row 8), {started}, load average {loads[0]:.1f}: {machine()}"
        results = {"preamble": preamble, "title": title, "rows": [asdict(r) for r in rows]}
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        return report_all(**results)
    log(f"1/7 in-process, {len(ips):,} distinct random IPv4")
    inproc = inprocess.measure(idx, sha, ips)
    rows.append(inprocess.row(inproc))
    loads.append(load_average())
    found = found_in_db(idx, sha, ips[:600_000])
    public = [ip for ip in found if is_public(ip)][: args.public]
    log(f"2/7 HTTP single lookups: node vs nginx-geoip2, {len(public):,} public IPv4")
    rows.append(http_node.row(http_node.measure(env, public, seconds, rounds=2)))
    loads.append(load_average())
    log("3/7 HTTP single lookups at a fixed rate")
    rows.append(fixed_rate.row(fixed_rate.measure(env, public, seconds)))
    loads.append(load_average())
    log("4/7 HTTP lookup vs constant, like with like")
    rows.append(http_single.row(http_single.measure(env, found[:5000], max(3, seconds // 2))))
    loads.append(load_average())
    log("5/7 HTTP batch of 1000, one worker")
    rows.append(http_batch.row(http_batch.measure(env, found, seconds)))
    loads.append(load_average())
    log("6/7 memory of master + 4 workers after a real mix")
    v6 = found_ipv6(20_000)
    rows.append(memory.row(memory.measure(env, public, v6, args.per_worker)))
    loads.append(load_average())
    log("7/7 cold start")
    rows.append(coldstart.row(coldstart.measure(env)))
    loads.append(load_average())
    rows.append(cache_row(idx, sha, env, args.cache_universe, seconds))
    loads.append(load_average())

    preamble = (
        f"Run {started}. Machine: {machine()}; load average (1 min) {loads[0]:.1f} at start, "
        f"{min(loads[1:]):.1f}-{max(loads[1:]):.1f} after each benchmark. Sample: "
        f"{inproc['n']:,} distinct random IPv4 ({inproc['found']:,} in the DB); bodies "
        "byte-identical to the baseline for every one."
    )
    title = f"ipgeo bench, {started}, load average {loads[0]:.1f} at start: {machine()}"
    results = {"preamble": preamble, "title": title, "rows": [asdict(r) for r in rows]}
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    return report_all(**results)


def report_all(preamble: str, title: str, rows: list[dict[str, Any]]) -> int:
    """Print the table, write it to results.md and draw bench.png."""
    parsed = [Row.from_dict(r) for r in rows]
    text = table(parsed, preamble)
    print(text, end="")
    (OUT / "results.md").write_text(text)
    write_png(parsed, title, OUT / "bench.png")
    log(f"wrote {OUT / 'results.md'} and {OUT / 'bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
