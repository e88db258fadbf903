"""Every error leaves the app as JSON ``{"error": {"code", "message"}}``: Flask's handlers."""

from __future__ import annotations

import re
from typing import Any

import orjson
from flask import Flask, Response, current_app
from werkzeug.exceptions import HTTPException

from ..errors import APIError, error_body
from ..jsonutil import JSON_MIMETYPE


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype=JSON_MIMETYPE)


def _code_for(exc: HTTPException) -> str:
    # "Method Not Allowed" -> "method_not_allowed": stable because werkzeug's names are.
    return re.sub(r"[^a-z0-9]+", "_", (exc.name or "error").lower()).strip("_")


def handle_api_error(exc: APIError) -> Response:
    return json_response(error_body(exc.code, exc.message), exc.status)


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    resp = json_response(error_body(_code_for(exc), exc.description or exc.name), status)
    # Keep protocol headers such as Allow on 405.
    if exc.response is None:
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                resp.headers[name] = value
    return resp


def handle_unexpected(exc: Exception) -> Response:
    current_app.logger.exception("unhandled error", exc_info=exc)
    return json_response(error_body("internal_error", "internal server error"), 500)


def register(app: Flask) -> None:
    app.register_error_handler(APIError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
