"""orjson-backed JSON responses: faster than the stdlib and strict about types."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

JSON_MIMETYPE = "application/json"


def dumps(data: Any) -> bytes:
    return orjson.dumps(data)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype=JSON_MIMETYPE)
