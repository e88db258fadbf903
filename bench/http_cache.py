"""Row 8: the LB's response cache. Lookups/s through nginx in front of one node, without and
with the response cache of role nginx_lb (same nginx otherwise, the same node behind both, the
same client, side by side in one run), on a Zipf-distributed address stream (s = 1.0 over
1,000,000 addresses the DB has) and on a uniform one over the same addresses."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .common import Bar, Row, WrkRun, log, median, median_ratio, parse_wrk
from .servers import Gunicorn, Nginx

CONNECTIONS = 32
GOAL = 5.0  # cached / uncached on the Zipf stream
ZIPF_S = 1.0
# The ceiling: a stream over so few addresses that, once warmed, every answer is a hit (the
# role's cache holds about 64k answers: 256m of 4 KiB files).
HOT = 20_000
# Role nginx_lb's defaults (nginx_lb_cache_*), so that the cache is the one the role deploys.
KEYS_ZONE = "64m"
MAX_SIZE = "256m"
MAX_AGE = "10m"
CACHE_LOCATION = """
    location ~ ^/v1/ip/[^/]+$ {{
      proxy_cache ipgeo_cache;
      proxy_cache_key "$ipgeo_cache_generation $request_uri";
      proxy_cache_methods GET HEAD;
      proxy_ignore_headers Cache-Control Expires X-Accel-Expires Set-Cookie;
      proxy_cache_valid 200 {max_age};
      proxy_cache_revalidate on;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 1s;
      add_header X-Cache-Status $upstream_cache_status always;
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }}
"""
# wrk reads its requests, in order, from a file (one path a line): request i is line i. It stops
# after the last line's answer (a count-bound run) or after -d seconds, whichever comes first,
# and counts the answers by X-Cache-Status.
LUA = r"""
local paths, n, i = {}, 0, 0
counts = {}  -- global: done() reads it from each thread
function init(args)
  for line in io.lines(args[1]) do n = n + 1; paths[n] = line end
end
function request()
  i = i + 1
  return wrk.format(nil, paths[((i - 1) % n) + 1])
end
function response(status, headers, body)
  local s = headers["X-Cache-Status"] or headers["x-cache-status"] or "NONE"
  counts[s] = (counts[s] or 0) + 1
  i_done = (i_done or 0) + 1
  if i_done >= n then wrk.thread:stop() end
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do io.write(string.format("cache-status %s %d\n", k, v)) end
  end
end
"""


def zipf_ranks(n_items: int, count: int, s: float, seed: int) -> Any:
    """``count`` ranks (0 = most popular) drawn from a Zipf law of exponent ``s`` truncated to
    ``n_items`` items: P(rank k) is proportional to 1 / (k + 1) ** s."""
    import numpy as np

    weights = 1.0 / np.arange(1, n_items + 1, dtype=np.float64) ** s
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    rng = np.random.default_rng(seed)
    return np.minimum(np.searchsorted(cdf, rng.random(count)), n_items - 1)


def uniform_ranks(n_items: int, count: int, seed: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed).integers(0, n_items, count)


def write_stream(path: Path, universe: list[str], ranks: Any) -> int:
    """One ``/v1/ip/<address>`` a line; returns how many distinct addresses it names."""
    with path.open("w") as fh:
        fh.writelines(f"/v1/ip/{universe[r]}\n" for r in ranks.tolist())
    return len(set(ranks.tolist()))


def run_wrk(url: str, stream: Path, seconds: int, script: Path) -> tuple[WrkRun, dict[str, int]]:
    cmd = [
        "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "2s",
        "-s", str(script), url, "--", str(stream),
    ]  # fmt: skip
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    counts = {
        m.group(1): int(m.group(2)) for m in re.finditer(r"^cache-status (\S+) (\d+)$", out, re.M)
    }
    failures = re.findall(r"^\s*(Socket errors:.*|Non-2xx or 3xx responses:.*)$", out, re.M)
    if failures:
        log(f"    wrk on {stream.name}: {'; '.join(failures)}")
    return parse_wrk(out), counts


def cache_nginx(upstream_port: int, workers: int, cache_dir: str) -> Nginx:
    """nginx as Nginx() runs it, plus the role's response cache for GET /v1/ip/<address>."""
    http_extra = (
        'map "" $ipgeo_cache_generation { default "bench"; }\n'
        f"  proxy_cache_path {cache_dir} levels=1:2 keys_zone=ipgeo_cache:{KEYS_ZONE} "
        f"max_size={MAX_SIZE} inactive={MAX_AGE} use_temp_path=off;"
    )
    return Nginx(
        upstream_port,
        workers=workers,
        cpus=set(range(os.cpu_count() or 1)),
        http_extra=http_extra,
        server_extra=CACHE_LOCATION.format(max_age=MAX_AGE),
    )


def measure(
    env: dict[str, str],
    universe: list[str],
    seconds: int,
    rounds: int = 2,
    warm: int = 300_000,
    segment: int = 600_000,
) -> dict[str, Any]:
    """For each stream (Zipf, uniform): a fresh cache warmed with ``warm`` requests of the
    stream's law (another seed), then ``rounds`` rounds of the uncached and the cached LB in
    turn, each run on its own ``segment`` of the stream (nothing replayed to the cache)."""
    workers = max(os.cpu_count() or 1, 2)
    tmp = Path(tempfile.mkdtemp(prefix="ipgeo-bench-cache-"))
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    script = tmp / "stream.lua"
    script.write_text(LUA)
    n = len(universe)
    results: dict[str, Any] = {"n": n, "seconds": seconds, "rounds": rounds, "warm": warm,
                               "segment": segment, "workers": workers, "laws": {}}  # fmt: skip
    node = plain = cached = None
    cache_dir = None
    try:
        node = Gunicorn(workers, env)
        plain = Nginx(node.port, workers=workers, cpus=set(range(os.cpu_count() or 1)))
        for law in ("zipf", "uniform", "hot"):

            def ranks(count: int, seed: int, law: str = law) -> Any:
                if law == "zipf":
                    return zipf_ranks(n, count, ZIPF_S, seed)
                return uniform_ranks(min(HOT, n) if law == "hot" else n, count, seed)

            warm_file = tmp / f"{law}-warm.txt"
            write_stream(warm_file, universe, ranks(warm, 1000))
            segments = []
            distinct = []
            for r in range(rounds):
                path = tmp / f"{law}-{r}.txt"
                distinct.append(write_stream(path, universe, ranks(segment, 2000 + r)))
                segments.append(path)
            cache_dir = tempfile.mkdtemp(prefix="ipgeo-cache-", dir=shm)
            cached = cache_nginx(node.port, workers, cache_dir)
            log(f"  {law}: warming a fresh cache with {warm:,} requests")
            _, warm_counts = run_wrk(cached.url, warm_file, 120, script)
            runs: dict[str, list[WrkRun]] = {"plain": [], "cached": []}
            counts: list[dict[str, int]] = []
            for r in range(rounds):
                for kind, server in (("plain", plain), ("cached", cached)):
                    run, c = run_wrk(server.url, segments[r], seconds, script)
                    runs[kind].append(run)
                    if kind == "cached":
                        counts.append(c)
                    log(f"  {law} round {r + 1} {kind}: {run.rate:,.0f}/s, p99 "
                        f"{run.p99_ms:.1f} ms, errors {run.errors}, {c}")  # fmt: skip
            cached.stop()
            cached = None
            shutil.rmtree(cache_dir, ignore_errors=True)
            hits = sum(c.get("HIT", 0) for c in counts)
            answered = sum(sum(c.values()) for c in counts)
            results["laws"][law] = {
                "rate": {k: median([r.rate for r in v]) for k, v in runs.items()},
                "p99": {k: median([r.p99_ms for r in v]) for k, v in runs.items()},
                "errors": {k: sum(r.errors for r in v) for k, v in runs.items()},
                "requests": {k: sum(r.requests for r in v) for k, v in runs.items()},
                "ratio": median_ratio(
                    zip(
                        [r.rate for r in runs["plain"]],
                        [r.rate for r in runs["cached"]],
                        strict=True,
                    )
                ),
                "hit_ratio": hits / answered if answered else 0.0,
                "hits": hits,
                "answered": answered,
                "warm_hits": warm_counts.get("HIT", 0),
                "warm_answered": sum(warm_counts.values()),
                "distinct_per_segment": distinct,
            }
    finally:
        for server in (cached, plain, node):
            if server is not None:
                server.stop()
        if cache_dir:
            shutil.rmtree(cache_dir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return results


LABELS = {
    ("zipf", "plain"): ("LB, no cache, Zipf", "baseline"),
    ("zipf", "cached"): ("LB + cache, Zipf", "ipgeo"),
    ("uniform", "plain"): ("LB, no cache, uniform", "peer"),
    ("uniform", "cached"): ("LB + cache, uniform", "peer"),
    ("hot", "plain"): (f"LB, no cache, {HOT:,} addresses", "peer"),
    ("hot", "cached"): ("LB + cache, all hits (the ceiling)", "peer"),
}


def row(m: dict[str, Any]) -> Row:
    laws = m["laws"]
    zipf, uniform = laws["zipf"], laws["uniform"]
    met = zipf["ratio"] >= GOAL and all(
        e == 0 for law in laws.values() for e in law["errors"].values()
    )
    return Row(
        name=f"8. LB response cache, lookups via nginx without/with it (wrk -t1 -c{CONNECTIONS})",
        unit="req/s",
        bars=tuple(
            Bar(
                label,
                laws[law]["rate"][kind],
                role=role,
                p99_ms=laws[law]["p99"][kind],
                errors=laws[law]["errors"][kind],
            )
            for (law, kind), (label, role) in LABELS.items()
            if law in laws
        ),
        goal=GOAL * zipf["rate"]["plain"],
        goal_text=f">= {GOAL:.0f}x the uncached rate on the Zipf stream",
        met=met,
        ratio_text=(
            f"Zipf {zipf['ratio']:.2f}x (hit ratio {zipf['hit_ratio']:.1%}); uniform "
            f"{uniform['ratio']:.2f}x (hit ratio {uniform['hit_ratio']:.1%})"
            + (
                f"; all hits {laws['hot']['ratio']:.2f}x (hit ratio "
                f"{laws['hot']['hit_ratio']:.1%}): the most a cache gains here"
                if "hot" in laws
                else ""
            )
        ),
        load=(
            f"`wrk -t1 -c{CONNECTIONS} --timeout 2s` (keep-alive), any core, requests read in "
            f"order from a file: `GET /v1/ip/<address>` over {m['n']:,} distinct random IPv4 the "
            f"DB has, drawn from a Zipf law (s = {ZIPF_S}, rank k with probability "
            f"proportional to 1/k, ranks mapped to addresses at random) or uniformly. Per law: "
            f"a fresh cache (role nginx_lb's: keys zone {KEYS_ZONE}, max size {MAX_SIZE}, "
            f"valid {MAX_AGE}, on /dev/shm) warmed with {m['warm']:,} requests of the same law "
            f"(another seed; Zipf {zipf['warm_hits']:,} of {zipf['warm_answered']:,} hits, "
            f"uniform {uniform['warm_hits']:,} of {uniform['warm_answered']:,}); a third "
            f"stream, uniform over {HOT:,} of the addresses (all in the cache once warmed), "
            f"measures the ceiling: the rate of a cache that always hits; then "
            f"{m['rounds']} rounds of the uncached LB and the cached LB in turn, each run "
            f"{m['seconds']} s or the end of its own {m['segment']:,}-request segment (fresh "
            f"draws, never replayed; distinct addresses per segment: Zipf "
            f"{', '.join(f'{d:,}' for d in zipf['distinct_per_segment'])}, uniform "
            f"{', '.join(f'{d:,}' for d in uniform['distinct_per_segment'])}); both nginx "
            f"{m['workers']} workers, the same config but for the cache location, in front of "
            f"the same node ({m['workers']} workers of the deployed class). Hit ratio: answers "
            f"with X-Cache-Status HIT over all answers of the measured cached runs (Zipf "
            f"{zipf['hits']:,}/{zipf['answered']:,}, uniform {uniform['hits']:,}/"
            f"{uniform['answered']:,}); requests: "
            + ", ".join(
                f"{law} {k} {laws[law]['requests'][k]:,}"
                for law in laws
                for k in ("plain", "cached")
            )
        ),
    )
