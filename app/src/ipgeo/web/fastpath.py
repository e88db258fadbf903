"""``GET /v1/ip/<IPv4>`` without Flask's request machinery: the service's most common request.

For a plain lookup (GET, no query string, no ``If-None-Match``, a dotted-quad IPv4 address the
prepared index has) Flask's request context, routing, hooks and header handling cost far more
than finding and rendering the answer. Two front doors answer that case themselves, with the
same status, headers, body and metrics as the Flask view, and hand every other request to
Flask, which stays the reference (the tests compare the answers byte for byte):

- :class:`LookupFastPath`, a WSGI middleware (gunicorn's thread workers);
- :class:`AsgiLookupFastPath`, the ASGI application of the uvicorn worker, which passes the
  rest to Flask through ``a2wsgi``'s thread pool.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from a2wsgi import WSGIMiddleware

from ..db import DatabaseHolder
from ..errors import NotFoundError, error_body
from ..jsonutil import JSON_MIMETYPE, dumps
from . import api, metrics

PREFIX = "/v1/ip/"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


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
        found = _lookup(self.holder, self.release, ip)
        if found is None or found[1] is None:  # the 404 is Flask's here
            return None
        headers, body = found
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


def _lookup(
    holder: DatabaseHolder, release: str, ip: str
) -> tuple[tuple[tuple[str, str], ...], bytes] | None:
    """The caching headers and body of a plain lookup, ``((), None)`` when the address is
    dotted-quad IPv4 but not in the database, or None when Flask must answer."""
    db = holder.db  # not loaded: Flask answers (and retries the open)
    if db is None:
        return None
    render = db.default_renderer  # the prepared answers of Database.answer()
    if render is None:
        return None
    try:
        body = render(ip)
    except Exception:  # not dotted-quad IPv4, or a damaged index: Flask decides
        return None
    if body is None:
        return (), None
    _, headers = api.cache_headers(db, release, db.default_lang, None)
    return headers, body


@functools.lru_cache(maxsize=64)
def _asgi_headers(headers: tuple[tuple[str, str], ...], node: str) -> tuple[list[Any], list[Any]]:
    """The header list before and after Content-Length, as a2wsgi hands Flask's to the server
    (names lower-cased as ASGI wants; uvicorn writes them lower-case whatever they are)."""
    before = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    before.append((b"content-type", JSON_MIMETYPE.encode("latin-1")))
    return before, [(b"x-served-by", node.encode("latin-1"))]


def _terminated(app: WSGIApp) -> WSGIApp:
    # a2wsgi's body stream ends where the request's does, chunked or not (as gunicorn's): say
    # so, or Werkzeug reads no body without a Content-Length.
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["wsgi.input_terminated"] = True
        return app(environ, start_response)

    return wsgi


class AsgiLookupFastPath:
    """ASGI application: answers plain IPv4 lookups natively, found (200) or not (404, the
    error handler's body), and passes everything else to the WSGI ``app`` through ``a2wsgi``."""

    def __init__(
        self,
        app: WSGIApp,
        holder: DatabaseHolder,
        release: str,
        node: str,
        rule: str,
        threads: int = 4,
    ) -> None:
        self.app = app
        # Flask's requests run in this pool. As many threads as a gthread worker had (4):
        # each thread that allocates gets its own malloc arena, and more of them cost memory.
        self.wsgi = WSGIMiddleware(_terminated(app), workers=threads)
        self.holder = holder
        self.release = release
        self.node = node
        self.requests, self.latency = metrics.request_children(rule, "GET", 200)
        self.missing, _ = metrics.request_children(rule, "GET", 404)
        self.served_by = (b"x-served-by", node.encode("latin-1"))

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope["query_string"]
            and scope["path"].startswith(PREFIX)
        ):
            for name, _ in scope["headers"]:
                if name == b"if-none-match":
                    break
            else:
                start = time.perf_counter()
                ip = scope["path"][len(PREFIX) :]
                found = _lookup(self.holder, self.release, ip)
                if found is not None:
                    await self._send(send, ip, *found)
                    self.latency.observe(time.perf_counter() - start)
                    return
        await self.wsgi(scope, receive, send)

    async def _send(
        self, send: Send, ip: str, headers: tuple[tuple[str, str], ...], body: bytes | None
    ) -> None:
        if body is None:
            status = 404
            body = dumps(error_body("not_found", NotFoundError(ip).message))
            # The headers of Flask's error handler (ipgeo.web.handlers.json_response).
            head = [
                (b"content-type", JSON_MIMETYPE.encode("latin-1")),
                (b"content-length", str(len(body)).encode()),
                self.served_by,
            ]
            metrics.NOT_FOUND.inc()
            self.missing.inc()
        else:
            status = 200
            before, after = _asgi_headers(headers, self.node)
            head = [*before, (b"content-length", str(len(body)).encode()), *after]
            metrics.FOUND.inc()
            self.requests.inc()
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": body})
