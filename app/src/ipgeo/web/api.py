"""The lookup API under /v1."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import orjson
from flask import Blueprint, Response, request

from ..db import Database
from ..errors import APIError, NotFoundError, error_body
from ..jsonutil import JSON_MIMETYPE, dumps
from ..render import parse_ip, resolve_fields
from .metrics import FOUND, INVALID, NOT_FOUND
from .state import holder, require_db, settings

bp = Blueprint("api", __name__, url_prefix="/v1")

# Answers change only when the DB does; caches may keep them for an hour.
MAX_AGE = 3600
_CACHE_CONTROL = f"public, max-age={MAX_AGE}"


def cache_headers(
    db: Database, release: str, lang: str | None, fields: tuple[str, ...] | None
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The ETag and the caching headers of lookups (also used by the WSGI fast path).

    Same DB, code dictionary, release, language and fields: same body for an IP.
    """
    codes = db.codes.sha256 if db.codes is not None else ""
    return _headers(db.version, release, lang or "", ",".join(fields or ()), codes)


@functools.lru_cache(maxsize=512)
def _headers(
    version: str, release: str, lang: str, fields: str, codes: str
) -> tuple[str, tuple[tuple[str, str], ...]]:
    # Keyed by strings, not by the Database: the cache must not keep old databases open.
    # The code dictionary changes bodies too; without one the key is as it always was.
    key = "\0".join([version, release, lang, fields, *([codes] if codes else [])])
    etag = hashlib.sha256(key.encode()).hexdigest()[:20]
    return etag, (
        ("ETag", f'"{etag}"'),
        ("Cache-Control", _CACHE_CONTROL),
        ("X-DB-Version", version),
    )


@bp.get("/ip/<anything:ip>")
def ip_lookup(ip: str) -> Response:
    db = holder().get()
    if db is None:
        parse_ip(ip)  # a bad address is a 400 even before the DB is there
        raise APIError(503, "not_ready", "the database is not loaded yet")
    # This is the hot path: one trip through the request proxy, and the query string and
    # If-None-Match parsed only when present.
    environ = request.environ
    if environ.get("QUERY_STRING"):
        lang = db.resolve_lang(request.args.get("lang"))
        fields = resolve_fields(request.args.get("fields"))
    else:
        lang, fields = db.default_lang, None
    etag, headers = cache_headers(db, settings().release, lang, fields)
    if "HTTP_IF_NONE_MATCH" in environ and request.if_none_match.contains_weak(etag):
        return Response(status=304, headers=headers)
    try:
        body = db.answer(ip, lang, fields)
    except NotFoundError:
        NOT_FOUND.inc()
        raise
    FOUND.inc()
    return Response(body, mimetype=JSON_MIMETYPE, headers=headers)


class _Batch:
    """Answers batch items as JSON bytes, counting outcomes once per batch."""

    def __init__(self, db: Database, lang: str | None, fields: tuple[str, ...] | None) -> None:
        self.db = db
        self.lang = lang
        self.fields = fields
        self.render = db.renderer(lang, fields)
        self.found = self.not_found = self.invalid = 0

    def answer(self, items: list[Any]) -> list[bytes]:
        render = self.render
        if render is None:
            return [self.slow(item) for item in items]
        out = []
        append = out.append
        slow = self.slow
        # The prepared fast path inline: this loop is the batch endpoint's whole cost.
        for item in items:
            try:
                body = render(item)
            except (OSError, TypeError):
                append(slow(item))
                continue
            if body is None:
                append(self.not_found_item(item, NotFoundError(item)))
            else:
                append(body)
        self.found += len(items) - self.not_found - self.invalid
        return out

    def slow(self, item: Any) -> bytes:
        if not isinstance(item, str):
            self.invalid += 1
            return dumps({"ip": item, **error_body("invalid_ip", "not a string")})
        try:
            # The index was tried already (or does not answer these parameters).
            body = self.db.decode(item, self.lang, self.fields)
        except NotFoundError as exc:
            return self.not_found_item(item, exc)
        except APIError as exc:
            self.invalid += 1
            return dumps({"ip": item, **error_body(exc.code, exc.message)})
        if self.render is None:
            self.found += 1
        return body

    def not_found_item(self, item: str, exc: NotFoundError) -> bytes:
        self.not_found += 1
        return dumps({"ip": item, **error_body(exc.code, exc.message)})

    def count(self) -> None:
        for child, n in ((FOUND, self.found), (NOT_FOUND, self.not_found), (INVALID, self.invalid)):
            if n:
                child.inc(n)


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
    lang = db.resolve_lang(request.args.get("lang"))
    fields = resolve_fields(request.args.get("fields"))
    answers = _Batch(db, lang, fields)
    # Items are rendered to bytes one by one so prepared answers need no re-encoding.
    body = b'{"results":[' + b",".join(answers.answer(ips)) + b"]}"
    answers.count()
    resp = Response(body, mimetype=JSON_MIMETYPE)
    resp.headers["X-DB-Version"] = db.version
    return resp
