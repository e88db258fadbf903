"""Row 4: what a lookup costs over HTTP, like with like: the native lookup against a native
constant answer, and the Flask view's lookup against Flask's constant ``/healthz``, all in one
worker of the deployed class."""

from __future__ import annotations

from typing import Any

from .common import (
    SERVER_CPUS,
    WRK_CONNECTIONS,
    WRK_THREADS,
    Bar,
    Row,
    WrkRun,
    median,
    median_ratio,
    wrk,
)
from .constant_asgi import PATH as CONSTANT_PATH
from .servers import Gunicorn

GOAL_RATIO = 0.95
RUN_SECONDS = 3
# Label, role, and what a request goes through, in the order each round runs them.
LABELS = {
    "constant": (
        "native constant",
        "baseline",
        f"`GET {CONSTANT_PATH}`: uvicorn -> the ASGI app's dispatch -> a constant body",
    ),
    "lookup": (
        "native lookup",
        "ipgeo",
        "`GET /v1/ip/<ip>`: uvicorn -> the same dispatch -> prepared index, headers, metrics",
    ),
    "flask_constant": (
        "Flask constant (/healthz)",
        "peer",
        "`GET /healthz`: uvicorn -> a2wsgi thread pool -> Flask routing, hooks -> constant JSON",
    ),
    "flask": (
        "Flask view lookup",
        "peer",
        "`GET /v1/ip/<ip>?lang=en`: uvicorn -> a2wsgi -> Flask -> the lookup view",
    ),
}
KINDS = tuple(LABELS)
APP = "bench.constant_asgi:app"


def measure(env: dict[str, str], ips: list[str], rounds: int) -> dict[str, Any]:
    server = Gunicorn(1, env, cpus=SERVER_CPUS, app=APP)
    try:
        lookup = [f"/v1/ip/{ip}" for ip in ips]
        paths = {
            "constant": [CONSTANT_PATH],
            "lookup": lookup,
            "flask_constant": ["/healthz"],
            "flask": [f"{p}?lang=en" for p in lookup],
        }
        for kind in KINDS:  # warm up
            wrk(server.url, paths[kind], 2)
        runs: dict[str, list[WrkRun]] = {kind: [] for kind in KINDS}
        for _ in range(rounds):
            for kind in KINDS:
                runs[kind].append(wrk(server.url, paths[kind], RUN_SECONDS))
    finally:
        server.stop()
    rates = {kind: [r.rate for r in runs[kind]] for kind in KINDS}
    return {
        "rounds": rounds,
        "paths": len(ips),
        "rate": {kind: median(rates[kind]) for kind in KINDS},
        "p99": {kind: median(r.p99_ms for r in runs[kind]) for kind in KINDS},
        "errors": {kind: sum(r.errors for r in runs[kind]) for kind in KINDS},
        "requests": {kind: sum(r.requests for r in runs[kind]) for kind in KINDS},
        "ratio": median_ratio(zip(rates["constant"], rates["lookup"], strict=True)),
        "flask_ratio": median_ratio(zip(rates["flask_constant"], rates["flask"], strict=True)),
    }


def row(m: dict[str, Any]) -> Row:
    rate, p99, errors = m["rate"], m["p99"], m["errors"]
    ratio = m["ratio"]
    return Row(
        name="4. HTTP lookup vs constant, like with like (one worker of the deployed class)",
        unit="req/s",
        bars=tuple(
            Bar(label, rate[kind], role=role, p99_ms=p99[kind], errors=errors[kind])
            for kind, (label, role, _) in LABELS.items()
        ),
        goal=GOAL_RATIO * rate["constant"],
        goal_text=f"native lookup >= {GOAL_RATIO}x native constant",
        met=ratio >= GOAL_RATIO and sum(errors.values()) == 0,
        ratio_text=f"{ratio:.2f} (Flask view lookup vs Flask constant: {m['flask_ratio']:.2f})",
        load=(
            f"`wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS}` (keep-alive) on core 1, straight to "
            f"gunicorn's one worker (ipgeo.asgi_worker.UvicornWorker) on core 0; {m['rounds']} "
            f"rounds of {RUN_SECONDS} s runs of the four in turn, lookups over {m['paths']:,} "
            "random IPv4 in the DB. What each went through: "
            + "; ".join(f"{label}: {what}" for label, _, what in LABELS.values())
            + "; requests: "
            + ", ".join(f"{m['requests'][k]:,} {k}" for k in KINDS)
        ),
    )
