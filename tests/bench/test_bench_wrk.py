"""Reading wrk's report: rate, p99 in ms, and every failed request counted."""

import pytest

from bench.common import parse_wrk

CLEAN = """\
Running 3s test @ http://127.0.0.1:40111
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.38ms    1.02ms  17.66ms   89.71%
    Req/Sec     1.09k    56.93     1.18k    76.67%
  Latency Distribution
     50%    7.17ms
     75%    7.63ms
     90%    8.37ms
     99%   11.05ms
  3258 requests in 3.00s, 1.12MB read
Requests/sec:   1085.21
Transfer/sec:    382.00KB
"""

# The same run with failures: wrk adds the two counters' lines only when they are not zero.
FAILING = CLEAN.replace("99%   11.05ms", "99%    1.50s").replace(
    "Requests/sec",
    "  Socket errors: connect 0, read 2, write 1, timeout 4\n"
    "  Non-2xx or 3xx responses: 10\nRequests/sec",
)


def test_a_clean_run():
    run = parse_wrk(CLEAN)
    assert run.requests == 3258
    assert run.rate == 1085.21
    assert run.p99_ms == 11.05
    assert run.errors == 0


def test_failed_answers_socket_errors_and_timeouts_are_counted():
    run = parse_wrk(FAILING)
    assert run.errors == 10 + 2 + 1 + 4
    assert run.p99_ms == 1500.0


def test_microseconds_are_converted():
    run = parse_wrk(CLEAN.replace("99%   11.05ms", "99%  950.00us"))
    assert run.p99_ms == pytest.approx(0.95)


def test_output_without_the_latency_distribution_is_refused():
    without = "\n".join(line for line in CLEAN.splitlines() if "%" not in line)
    with pytest.raises(ValueError, match="wrk --latency"):
        parse_wrk(without)
