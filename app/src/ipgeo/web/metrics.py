"""Prometheus metrics, correct across gunicorn workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set (before this module is imported, as gunicorn's raw_env
does) every worker writes its samples to files there and ``/metrics`` sums them; the gunicorn
hooks empty the directory at start and drop dead workers' live gauges.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from ..consts import VERSION
from ..db import Database
from .state import holder

bp = Blueprint("metrics", __name__)

# prometheus_client picks single- or multi-process values when it is first imported; decide
# again now, in the worker, where PROMETHEUS_MULTIPROC_DIR (from gunicorn's raw_env) is set.
values.ValueClass = values.get_value_class()

REQUESTS = Counter(
    "ipgeo_http_requests",
    "HTTP requests answered, by route and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "ipgeo_http_request_duration_seconds",
    "Time from request start to response, by route.",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
LOOKUPS = Counter("ipgeo_lookups", "IP lookups (single and batch items), by result.", ["result"])
# Children bound once: labels() takes a lock and a dict lookup on every call.
FOUND = LOOKUPS.labels("found")
NOT_FOUND = LOOKUPS.labels("not_found")
INVALID = LOOKUPS.labels("invalid")

DB_BUILD = Gauge(
    "ipgeo_db_build_timestamp_seconds",
    "Build time of the loaded database.",
    multiprocess_mode="livemax",
)
DB_AGE = Gauge(
    "ipgeo_db_age_seconds",
    "Age of the loaded database (now minus its build time), set at load and scrape.",
    multiprocess_mode="livemax",
)
DB_LOADED = Gauge(
    "ipgeo_db_loaded", "1 when the worker has a database loaded.", multiprocess_mode="livemin"
)

DB_UNKNOWN_NAMES = Gauge(
    "ipgeo_db_unknown_names",
    "Distinct place names of the loaded database the built-in code dictionaries could not "
    "place (found at conversion, or so far by this worker for a name-only file).",
    multiprocess_mode="livemax",
)

# Info metrics (value 1, the facts in labels) that let Prometheus compare nodes: which release
# and which database each serves. livemax: a node whose workers disagree (a reload under way)
# shows both label sets, and a dead worker's set goes with it (gunicorn's child_exit hook).
RELEASE_INFO = Gauge(
    "ipgeo_release_info",
    "The release of the running code (value 1; release and package version in labels).",
    ["release", "version"],
    multiprocess_mode="livemax",
)
DB_INFO = Gauge(
    "ipgeo_db_info",
    "The loaded database (value 1; its SHA-256 and version, build time and digest, in labels).",
    ["sha256", "version"],
    multiprocess_mode="livemax",
)

UNMATCHED = "unmatched"

# The label values last set to 1 on each info metric in this process: a new value zeroes the
# old one first (multiprocess files keep a removed child's last value).
_info_labels: dict[Gauge, tuple[str, ...]] = {}


def _set_info(gauge: Gauge, labels: tuple[str, ...] | None) -> None:
    old = _info_labels.get(gauge)
    if old == labels:
        return
    if old is not None:
        gauge.labels(*old).set(0)
        gauge.remove(*old)
        del _info_labels[gauge]
    if labels is not None:
        gauge.labels(*labels).set(1)
        _info_labels[gauge] = labels


def record_release(release: str) -> None:
    _set_info(RELEASE_INFO, (release, VERSION))


def record_db(db: Database | None) -> None:
    DB_LOADED.set(1 if db is not None else 0)
    if db is not None:
        DB_BUILD.set(db.source.build_epoch)
        DB_AGE.set(time.time() - db.source.build_epoch)
        DB_UNKNOWN_NAMES.set(unknown_names(db))
    _set_info(DB_INFO, (db.sha256, db.version) if db is not None else None)


def unknown_names(db: Database) -> int:
    enricher = getattr(db.source, "enricher", None)
    if enricher is not None:
        return len(enricher.unknown)
    origin = getattr(db.source, "converted_from", None) or {}
    return int(origin.get("unknown_names") or 0)


def _start() -> None:
    g.ipgeo_start = time.perf_counter()


_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def request_children(endpoint: str, method: str, status: int) -> tuple[Any, Any]:
    """The request counter and latency histogram children of one route, method and status."""
    key = (endpoint, method, status)
    children = _children.get(key)
    if children is None:
        # Bounded: routes x methods x statuses the app can produce.
        children = (REQUESTS.labels(endpoint, method, str(status)), LATENCY.labels(endpoint))
        _children[key] = children
    return children


def _observe(response: Response) -> Response:
    start = g.pop("ipgeo_start", None)
    rule = request.url_rule
    children = request_children(
        rule.rule if rule is not None else UNMATCHED, request.method, response.status_code
    )
    children[0].inc()
    if start is not None:
        children[1].observe(time.perf_counter() - start)
    return response


@bp.get("/metrics")
def metrics() -> Response:
    record_db(holder().get())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        data = generate_latest(registry)
    else:
        data = generate_latest(REGISTRY)
    return Response(
        data, mimetype=CONTENT_TYPE_LATEST.split(";")[0], content_type=CONTENT_TYPE_LATEST
    )


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_observe)
    app.register_blueprint(bp)
