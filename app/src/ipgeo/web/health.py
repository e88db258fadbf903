"""Liveness and readiness for the load balancer and the deploy playbooks."""

from __future__ import annotations

from flask import Blueprint, Response

from ..errors import error_body
from .handlers import json_response
from .state import holder, settings

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return json_response({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    h = holder()
    db = h.get()
    if db is None:
        return json_response(error_body("not_ready", h.error), 503)
    cfg = settings()
    return json_response(
        {"status": "ready", "release": cfg.release, "node": cfg.node_name, "db": db.describe()}
    )
