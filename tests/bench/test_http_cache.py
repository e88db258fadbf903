"""Row 8's pure parts: the Zipf and uniform streams, and the row built from measurements."""

from __future__ import annotations

import math

import pytest

from bench import http_cache


def test_zipf_ranks_follow_one_over_k():
    n, count = 1_000_000, 400_000
    ranks = http_cache.zipf_ranks(n, count, 1.0, seed=3)
    harmonic = sum(1.0 / k for k in range(1, n + 1))
    assert ranks.min() >= 0 and ranks.max() < n
    for k in (1, 2, 10):
        share = float((ranks == k - 1).mean())
        assert share == pytest.approx(1 / (k * harmonic), rel=0.08), k
    # About half the draws fall in the top ~1,000 ranks (H_1000 / H_1e6 = 0.52).
    assert float((ranks < 1000).mean()) == pytest.approx(7.485 / harmonic, rel=0.03)


def test_uniform_ranks_spread_evenly_and_streams_differ_by_seed():
    ranks = http_cache.uniform_ranks(1000, 200_000, seed=1)
    counts = [int((ranks == r).sum()) for r in range(1000)]
    assert min(counts) > 120 and max(counts) < 290
    a = http_cache.zipf_ranks(1000, 50, 1.0, seed=1).tolist()
    b = http_cache.zipf_ranks(1000, 50, 1.0, seed=2).tolist()
    assert a != b


def test_write_stream_names_paths_in_order(tmp_path):
    import numpy as np

    universe = ["1.0.0.1", "8.8.8.8", "114.114.114.114"]
    path = tmp_path / "s.txt"
    distinct = http_cache.write_stream(path, universe, np.array([2, 0, 2, 2]))
    assert distinct == 2
    assert path.read_text().splitlines() == [
        "/v1/ip/114.114.114.114",
        "/v1/ip/1.0.0.1",
        "/v1/ip/114.114.114.114",
        "/v1/ip/114.114.114.114",
    ]


def law(plain: float, cached: float, hit: float, errors: int = 0) -> dict:
    return {
        "rate": {"plain": plain, "cached": cached},
        "p99": {"plain": 5.0, "cached": 1.0},
        "errors": {"plain": 0, "cached": errors},
        "requests": {"plain": 100, "cached": 500},
        "ratio": cached / plain,
        "hit_ratio": hit,
        "hits": int(hit * 500),
        "answered": 500,
        "warm_hits": 10,
        "warm_answered": 20,
        "distinct_per_segment": [50, 60],
    }


def measured(zipf: dict, uniform: dict) -> dict:
    return {"n": 1000, "seconds": 10, "rounds": 2, "warm": 20, "segment": 500, "workers": 2,
            "laws": {"zipf": zipf, "uniform": uniform}}  # fmt: skip


def test_row_meets_the_goal_only_at_5x_on_zipf_without_errors():
    ok = http_cache.row(measured(law(1000, 5200, 0.85), law(1000, 900, 0.1)))
    assert ok.met and ok.goal == 5000
    assert "Zipf 5.20x (hit ratio 85.0%)" in ok.ratio_text
    assert [b.role for b in ok.bars] == ["baseline", "ipgeo", "peer", "peer"]
    assert not http_cache.row(measured(law(1000, 4900, 0.85), law(1000, 900, 0.1))).met
    assert not http_cache.row(measured(law(1000, 5200, 0.85, errors=1), law(1000, 9, 0.1))).met
    assert math.isclose(ok.bar("ipgeo").value, 5200)


def test_row_shows_the_all_hits_ceiling_when_measured():
    m = measured(law(1000, 1600, 0.75), law(1000, 800, 0.1))
    m["laws"]["hot"] = law(1000, 2500, 1.0)
    r = http_cache.row(m)
    assert "all hits 2.50x (hit ratio 100.0%)" in r.ratio_text
    assert [b.label for b in r.bars][-1] == "LB + cache, all hits (the ceiling)"
    assert not r.met
