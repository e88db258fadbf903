"""The caller's own address: ``GET /v1/ip`` and the negotiated root page ``/``."""

from __future__ import annotations

import re
from typing import Any

import orjson
from flask import Blueprint, Response, render_template, request

from ..clientip import client_address
from ..errors import APIError
from ..render import resolve_fields, select
from .handlers import json_response
from .metrics import FOUND, NOT_FOUND
from .state import require_db, settings

bp = Blueprint("web", __name__)

# Command-line clients get plain text from "/" like echoip/ifconfig.co.
_CLI_AGENTS = re.compile(r"^(curl|wget|httpie|fetch|libfetch|xh|powershell)\b", re.IGNORECASE)
_PRIVATE = "private, no-store"


def _self_result() -> dict[str, Any]:
    cfg = settings()
    ip = client_address(
        request.remote_addr,
        request.headers.getlist("X-Forwarded-For"),
        cfg.trusted_proxies,
        cfg.proxy_hops,
    )
    if ip is None:
        raise APIError(400, "unknown_client", "the client address is not known")
    db = require_db()
    result = db.result(ip, db.resolve_lang(request.args.get("lang")))
    (FOUND if result["network"] is not None else NOT_FOUND).inc()
    return result


def _private(resp: Response) -> Response:
    resp.headers["Cache-Control"] = _PRIVATE
    return resp


@bp.get("/v1/ip")
def self_lookup() -> Response:
    fields = resolve_fields(request.args.get("fields"))
    return _private(json_response(select(_self_result(), fields)))


def negotiate() -> str:
    """``html``, ``json`` or ``text`` from Accept, falling back on the User-Agent."""
    accept = request.accept_mimetypes
    explicit = {
        kind: accept.quality(mime)
        for kind, mime in (
            ("json", "application/json"),
            ("html", "text/html"),
            ("text", "text/plain"),
        )
        if any(value == mime for value, _ in accept)
    }
    explicit = {k: q for k, q in explicit.items() if q > 0}
    if explicit:
        # Highest quality wins; on a tie JSON, then HTML, then text (dict order).
        return max(explicit, key=lambda k: explicit[k])
    if _CLI_AGENTS.match(request.user_agent.string or ""):
        return "text"
    return "json"


@bp.get("/")
def index() -> Response:
    kind = negotiate()
    if kind == "html":
        resp = _html_page()
    else:
        result = _self_result()
        if kind == "text":
            resp = Response(result["ip"] + "\n", mimetype="text/plain")
        else:
            resp = json_response(result)
    resp.headers["Vary"] = "Accept, User-Agent"
    return _private(resp)


def _html_page() -> Response:
    # Problems are shown on the page itself (status 200): error *responses* are always JSON.
    query = request.args.get("ip", "").strip()
    error = None
    result = None
    try:
        if query:
            db = require_db()
            # A bad address or one the DB lacks is reported before a bad language.
            try:
                lang, bad_lang = db.resolve_lang(request.args.get("lang")), None
            except APIError as exc:
                lang, bad_lang = db.default_lang, exc
            result = orjson.loads(db.answer(query, lang, None))
            if bad_lang is not None:
                raise bad_lang
        else:
            result = _self_result()
    except APIError as exc:
        error = exc.message
    html = render_template("index.html", result=result, error=error, query=query)
    return Response(html, mimetype="text/html")
