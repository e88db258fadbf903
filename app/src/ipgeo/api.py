"""The lookup API under /v1."""

from __future__ import annotations

from flask import Blueprint, Response, request

from .errors import APIError
from .jsonutil import json_response
from .lookup import lookup, parse_ip, resolve_fields, resolve_lang, select, shape
from .state import require_db

bp = Blueprint("api", __name__, url_prefix="/v1")


@bp.get("/ip/<path:ip>")
def ip_lookup(ip: str) -> Response:
    addr = parse_ip(ip)
    db = require_db()
    lang = resolve_lang(db, request.args.get("lang"))
    fields = resolve_fields(request.args.get("fields"))
    record, network = lookup(db, addr)
    if record is None:
        raise APIError(404, "not_found", f"{addr} is not in the database")
    resp = json_response(select(shape(str(addr), network, record, lang), fields))
    resp.headers["X-DB-Version"] = db.version
    return resp
