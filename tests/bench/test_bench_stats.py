"""The benchmark's statistics: nearest-rank percentiles and medians of paired runs."""

import pytest

from bench.common import median, median_ratio, percentile


def test_percentile_is_the_nearest_rank():
    values = list(range(1, 101))  # 1..100, shuffled order must not matter
    values.reverse()
    assert percentile(values, 99) == 99
    assert percentile(values, 50) == 50
    assert percentile(values, 100) == 100
    assert percentile(values, 0.5) == 1


def test_percentile_of_few_values_is_the_largest_for_p99():
    assert percentile([0.2, 0.1, 0.3], 99) == 0.3
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("p", [0, -1, 100.1])
def test_percentile_refuses_a_rank_outside_0_100(p):
    with pytest.raises(ValueError):
        percentile([1.0, 2.0], p)


def test_percentile_refuses_no_values():
    with pytest.raises(ValueError):
        percentile([], 99)


def test_median_of_an_even_count_is_the_mean_of_the_middle_two():
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median(x for x in [5.0, 1.0, 3.0]) == 3.0


def test_median_ratio_takes_the_median_of_each_pairs_ratio():
    # Rates drift between rounds (load from elsewhere); each pair's ratio stays near 2.
    pairs = [(100.0, 210.0), (50.0, 95.0), (200.0, 400.0)]
    assert median_ratio(pairs) == 2.0
    # ...which the ratio of the medians would not give.
    assert median(b for _, b in pairs) / median(a for a, _ in pairs) == 2.1
