"""``GET /v1/ip/<IPv4>`` without Flask's request machinery: the service's most common request.

For a plain lookup (GET, no query string, no ``If-None-Match``, a dotted-quad IPv4 address the
prepared index has) Flask's request context, routing, hooks and header handling cost far more
than finding and rendering the answer. This WSGI middleware answers that case itself, with
the same status, headers, body and metrics as the Flask view, and hands every other request
to Flask, which stays the reference: the tests compare the two answers byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from ..db import DatabaseHolder
from ..jsonutil import JSON_MIMETYPE
from . import api, metrics

PREFIX = "/v1/ip/"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class LookupFastPath:
    """WSGI middleware: answers plain IPv4 lookups, passes everything else to ``app``."""

    def __init__(
        self, app: WSGIApp, holder: DatabaseHolder, release: str, node: str, rule: str
    ) -> None:
        self.app = app
        self.holder = holder
        self.release = release
        self.node = node
        # Counted under the Flask view's rule, so /metrics can't tell the two paths apart.
        self.requests, self.latency = metrics.request_children(rule, "GET", 200)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if (
            path.startswith(PREFIX)
            and environ.get("REQUEST_METHOD") == "GET"
            and not environ.get("QUERY_STRING")
            and "HTTP_IF_NONE_MATCH" not in environ
        ):
            body = self._answer(path[len(PREFIX) :], start_response)
            if body is not None:
                return body
        return self.app(environ, start_response)

    def _answer(self, ip: str, start_response: Callable[..., Any]) -> list[bytes] | None:
        start = time.perf_counter()
        db = self.holder.db  # not loaded: Flask answers (and retries the open)
        if db is None:
            return None
        render = db.default_renderer  # the prepared answers of Database.answer()
        if render is None:
            return None
        try:
            body = render(ip)
        except Exception:  # not dotted-quad IPv4, or a damaged index: Flask decides
            return None
        if body is None:  # not found: the 404 is Flask's
            return None
        _, headers = api.cache_headers(db, self.release, db.default_lang, None)
        start_response(
            "200 OK",
            [
                *headers,
                ("Content-Type", JSON_MIMETYPE),
                ("Content-Length", str(len(body))),
                ("X-Served-By", self.node),
            ],
        )
        metrics.FOUND.inc()
        self.requests.inc()
        self.latency.observe(time.perf_counter() - start)
        return [body]
