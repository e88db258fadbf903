"""The deploy's gunicorn worker class: ``worker_class = "ipgeo.asgi_worker.UvicornWorker"``.

uvicorn's gunicorn worker (package ``uvicorn-worker``) with uvloop and httptools runs the ASGI
app ``ipgeo.asgi:app``; gunicorn stays the process manager (HUP, graceful TERM, worker
timeouts, the hooks). What this module adds, through the libraries' own extension points
(``CONFIG_KWARGS``, uvicorn's ``http`` protocol class and ``callback_notify``):

- The settings the node needs: the client address is the TCP peer (the app itself believes
  ``X-Forwarded-For`` only from its trusted proxies), no access log (gunicorn's is off), no
  ``server`` header, no lifespan protocol.
- Requests the parser refuses get the app's JSON error, like gunicorn's own refusals (see
  ``ipgeo.gunicorn_hooks``), and gunicorn's limits: a request URI over 4094 bytes is a 414, more
  than 100 header fields, a field over 8190 bytes or a head over 64 KiB a 431.
- When the master dies (SIGKILL, OOM killer) the worker notices within a second and shuts down
  as on TERM: it closes the listening socket at once (queued connections are reset, nginx
  retries them elsewhere, and the master supervisor starts again can bind the port) and still
  finishes the requests in flight. Stock uvicorn workers would go on serving as orphans.
- A response's head goes out together with the first bytes of its body, in one write, as
  gunicorn's thread worker sends a small answer. uvicorn writes them separately, and the Flask
  path (through a2wsgi's thread pool) leaves milliseconds between the two: a worker killed in
  between (``docker stop`` kills what is left the moment the container's init exits, a host's
  OOM killer) left the LB with a head and no body, an error it cannot retry. Held, the head dies
  with the worker unsent, and the LB retries the request on the other node.
"""

from __future__ import annotations

import os
import signal
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker as _UvicornWorker

from .gunicorn_hooks import json_error_response

# gunicorn's defaults (limit_request_line, limit_request_fields, limit_request_field_size).
MAX_URI = 4094
MAX_FIELDS = 100
MAX_FIELD_SIZE = 8190
# Everything before the body; bounds what a client can make the parser hold.
MAX_HEAD = 64 * 1024


class _HeadWithBody:
    """One response cycle's transport: holds the response head until the body's first write.

    uvicorn's cycle writes the head on ``http.response.start`` and each body message with
    another ``write`` (also an empty one), except for HEAD, which has no body to wait for.
    """

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is None:
            # The head is the cycle's first write but for an interim "100 Continue".
            if data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 100 "):
                self._held = data
                return
            self._transport.write(data)
            return
        if self._held:
            data, self._held = self._held + data, b""
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        # close(), is_closing(), get_extra_info()...: a head still held is dropped unsent.
        return getattr(self._transport, name)


class _Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class JSONErrorProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with gunicorn's limits and JSON refusals."""

    _refusal: _Refused | None = None
    _head_bytes = 0
    _in_head = True

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._refuse(431, "Request Header Fields Too Large", "the request head is too long")
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URI:
            self._raise(414, "URI Too Long", f"the request URI is longer than {MAX_URI} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if len(self.headers) > MAX_FIELDS:
            self._raise(
                431, "Request Header Fields Too Large", f"more than {MAX_FIELDS} header fields"
            )
        if len(name) + len(value) > MAX_FIELD_SIZE:
            self._raise(
                431,
                "Request Header Fields Too Large",
                f"a header field is longer than {MAX_FIELD_SIZE} bytes",
            )

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        # The cycle's task starts on the next loop pass, so it only ever writes through this.
        if cycle is not before and cycle is not None and self.scope["method"] != "HEAD":
            cycle.transport = _HeadWithBody(cycle.transport)  # type: ignore[assignment]

    def send_400_response(self, msg: str) -> None:
        refusal = self._refusal
        if refusal is None:
            refusal = _Refused(400, "Bad Request", msg)
        self.transport.write(json_error_response(refusal.status, refusal.reason, refusal.message))
        self.transport.close()

    def _refuse(self, status: int, reason: str, message: str) -> None:
        self._refusal = _Refused(status, reason, message)
        self.send_400_response(message)

    def _raise(self, status: int, reason: str, message: str) -> None:
        # Raised inside a parser callback: httptools turns it into an HttpParserError, which
        # uvicorn answers with send_400_response.
        self._refusal = _Refused(status, reason, message)
        raise self._refusal


class UvicornWorker(_UvicornWorker):
    """uvicorn's gunicorn worker (uvloop, httptools) as the nodes need it."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "uvloop",
        "http": JSONErrorProtocol,
        "lifespan": "off",
        "proxy_headers": False,
        "server_header": False,
        "access_log": False,
        # How often uvicorn calls callback_notify: the heartbeat and the parent check.
        "timeout_notify": 0.5,
    }

    _orphaned = False

    async def callback_notify(self) -> None:
        self.notify()
        if not self._orphaned and os.getppid() != self.ppid:
            self._orphaned = True
            self.log.warning("ipgeo: master %s gone: closing the socket, draining", self.ppid)
            # uvicorn's graceful shutdown: close the listeners, finish what is in flight.
            os.kill(os.getpid(), signal.SIGTERM)
