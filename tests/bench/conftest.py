"""Results shaped like a real run's, for the report and the plot."""

import pytest

from bench.common import Bar, Row


@pytest.fixture
def rows() -> list[Row]:
    return [
        Row(
            name="1. in-process lookup -> body",
            unit="lookups/s",
            bars=(
                Bar("maxminddb + shaping + orjson", 39_010.4, role="baseline"),
                Bar("ipgeo prepared index", 1_036_428.0),
            ),
            goal=390_104.0,
            goal_text=">= 10x",
            met=True,
            ratio_text="26.6x",
            load="1,000,000 distinct random IPv4",
        ),
        Row(
            name="2. HTTP single lookup vs constant (nginx -> gunicorn)",
            unit="req/s",
            bars=(
                Bar("constant JSON (/healthz)", 1015.2, role="baseline", p99_ms=12.25, errors=0),
                Bar("ipgeo lookup (fast path)", 1084.0, p99_ms=11.0, errors=0),
                Bar("ipgeo lookup via the Flask view", 761.0, role="peer", p99_ms=15.5, errors=3),
            ),
            goal=0.95 * 1015.2,
            goal_text=">= 0.95",
            met=False,
            ratio_text="1.21 (via the Flask view: 0.90)",
            load="`wrk -t1 -c8`",
        ),
        Row(
            name="4. PSS master + 4 workers, en+zh-CN",
            unit="MB",
            bars=(
                Bar("seed approach", 4900.0, role="baseline", measured=False),
                Bar("ipgeo", 168.4, errors=0),
            ),
            goal=200.0,
            goal_text="<= 200 MB",
            met=True,
            lower_is_better=True,
            load="summed PSS of 5 processes",
        ),
        Row(
            name="5. cold start of a worker to first answer",
            unit="s",
            bars=(
                Bar("seed approach", 27.0, role="baseline", measured=False),
                Bar("ipgeo worker", 0.141),
                Bar("ipgeo from a bare interpreter", 0.47, role="peer"),
            ),
            goal=0.5,
            goal_text="<= 0.5 s",
            met=True,
            decimals=2,
            lower_is_better=True,
            load="median of 5 subprocesses",
        ),
    ]
