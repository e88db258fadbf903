"""orjson for the answers: faster than the stdlib and strict about types."""

from __future__ import annotations

from typing import Any

import orjson

JSON_MIMETYPE = "application/json"


def dumps(data: Any) -> bytes:
    return orjson.dumps(data)
