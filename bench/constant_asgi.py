"""The deployed ASGI app plus one native constant endpoint, ``GET /bench/constant``: the
like-with-like partner of the native lookup (same server, worker, dispatch; no lookup)."""

from __future__ import annotations

import importlib
from typing import Any

from .ipgeo_api import ASGI_APP

_module, _, _name = ASGI_APP.partition(":")
ipgeo_app = getattr(importlib.import_module(_module), _name)

PATH = "/bench/constant"
BODY = b'{"status":"ok"}'
# As many headers as a lookup's answer, so only the lookup differs.
HEADERS = [
    (b"etag", b'"00000000000000000000"'),
    (b"cache-control", b"public, max-age=3600"),
    (b"x-db-version", b"0000000000-000000000000"),
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
    (b"x-served-by", b"bench"),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == PATH:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})
        return
    await ipgeo_app(scope, receive, send)
