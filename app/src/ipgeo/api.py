"""The lookup API under /v1."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from flask import Blueprint, Response, request

from .db import Database
from .errors import APIError, error_body
from .jsonutil import json_response
from .lookup import lookup, parse_ip, resolve_fields, resolve_lang, select, shape
from .metrics import LOOKUPS
from .state import require_db, settings

bp = Blueprint("api", __name__, url_prefix="/v1")

# Answers change only when the DB does; caches may keep them for an hour.
MAX_AGE = 3600


def etag_for(db: Database, release: str, lang: str | None, fields: tuple[str, ...] | None) -> str:
    """Same DB, release, language and field selection: same body for a given IP."""
    key = "\0".join([db.version, release, lang or "", ",".join(fields or ())])
    return hashlib.sha256(key.encode()).hexdigest()[:20]


@bp.get("/ip/<anything:ip>")
def ip_lookup(ip: str) -> Response:
    addr = parse_ip(ip)
    db = require_db()
    lang = resolve_lang(db, request.args.get("lang"))
    fields = resolve_fields(request.args.get("fields"))
    etag = etag_for(db, settings().release, lang, fields)
    if request.if_none_match.contains_weak(etag):
        resp = Response(status=304)
    else:
        record, network = lookup(db, addr)
        if record is None:
            LOOKUPS.labels("not_found").inc()
            raise APIError(404, "not_found", f"{addr} is not in the database")
        LOOKUPS.labels("found").inc()
        resp = json_response(select(shape(str(addr), network, record, lang), fields))
    resp.set_etag(etag)
    resp.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    resp.headers["X-DB-Version"] = db.version
    return resp


def _batch_item(db: Database, item: Any, lang: str | None, fields: tuple[str, ...] | None) -> Any:
    if not isinstance(item, str):
        LOOKUPS.labels("invalid").inc()
        return {"ip": item, **error_body("invalid_ip", "not a string")}
    try:
        addr = parse_ip(item)
    except APIError as exc:
        LOOKUPS.labels("invalid").inc()
        return {"ip": item, **error_body(exc.code, exc.message)}
    record, network = lookup(db, addr)
    if record is None:
        LOOKUPS.labels("not_found").inc()
        return {"ip": item, **error_body("not_found", f"{addr} is not in the database")}
    LOOKUPS.labels("found").inc()
    return select(shape(str(addr), network, record, lang), fields)


@bp.post("/batch")
def batch() -> Response:
    if request.mimetype != "application/json":
        raise APIError(415, "unsupported_media_type", "send the body as application/json")
    try:
        payload = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as exc:
        raise APIError(400, "invalid_json", f"malformed JSON: {exc}") from None
    ips = payload.get("ips") if isinstance(payload, dict) else None
    if not isinstance(ips, list):
        raise APIError(400, "invalid_request", 'expected {"ips": [...]}')
    limit = settings().batch_limit
    if len(ips) > limit:
        raise APIError(413, "too_many_ips", f"{len(ips)} IPs in one batch; the limit is {limit}")
    db = require_db()
    lang = resolve_lang(db, request.args.get("lang"))
    fields = resolve_fields(request.args.get("fields"))
    resp = json_response({"results": [_batch_item(db, item, lang, fields) for item in ips]})
    resp.headers["X-DB-Version"] = db.version
    return resp
