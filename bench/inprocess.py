"""Row 1: in-process lookup to JSON body, the MMDB pipeline against the prepared index."""

from __future__ import annotations

import time
from pathlib import Path

import maxminddb

from .common import DB, SERVER_CPUS, Bar, Row, pinned
from .ipgeo_api import PreparedIndex, reference_body

CHUNK = 100_000
GOAL_RATIO = 10.0


def measure(idx: Path, sha: str, ips: list[str]) -> dict[str, float]:
    """Both pipelines on one core, alternating in chunks so that load from elsewhere hits
    both alike; every body is compared byte for byte."""
    base_t = ours_t = 0.0
    found = 0
    with pinned(SERVER_CPUS):
        index = PreparedIndex(str(idx), sha)
        render = index.renderer("en")
        reader = maxminddb.open_database(str(DB), maxminddb.MODE_MMAP_EXT)
        try:
            for start in range(0, len(ips), CHUNK):
                part = ips[start : start + CHUNK]
                t0 = time.perf_counter()
                want = [reference_body(reader, ip, "en") for ip in part]
                t1 = time.perf_counter()
                got = [render(ip) for ip in part]
                t2 = time.perf_counter()
                base_t += t1 - t0
                ours_t += t2 - t1
                if got != want:
                    bad = next(ip for ip, a, b in zip(part, want, got, strict=True) if a != b)
                    raise SystemExit(f"bodies differ for {bad}")
                found += sum(1 for b in got if b is not None)
        finally:
            reader.close()
            index.close()
    return {
        "n": len(ips),
        "found": found,
        "baseline": len(ips) / base_t,
        "ours": len(ips) / ours_t,
    }


def row(m: dict[str, float]) -> Row:
    ratio = m["ours"] / m["baseline"]
    return Row(
        name="1. in-process lookup -> body",
        unit="lookups/s",
        bars=(
            Bar("maxminddb + shaping + orjson", m["baseline"], role="baseline"),
            Bar("ipgeo prepared index", m["ours"]),
        ),
        goal=GOAL_RATIO * m["baseline"],
        goal_text=f">= {GOAL_RATIO:.0f}x baseline",
        met=ratio >= GOAL_RATIO,
        ratio_text=f"{ratio:.1f}x",
        load=(
            f"{m['n']:,.0f} distinct random IPv4 (seeded, {m['found']:,.0f} in the DB), `en`, "
            f"one process pinned to core 0, the two pipelines alternating in chunks of "
            f"{CHUNK:,}; bodies byte-identical for every address"
        ),
    )
