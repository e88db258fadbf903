"""Everything the benchmark takes from ``ipgeo``, in one place.

The app is refactored on its own schedule; when a name moves, only this module changes.
The strings name what the servers and subprocesses import themselves.
"""

from __future__ import annotations

from ipgeo.dbhash import file_sha256
from ipgeo.prepared import (
    PreparedIndex,
    PreparedIndexError,
    build_index,
    reference_body,
    validate_index,
)
from ipgeo.render import resolve_fields, select, shape

__all__ = [
    "ASGI_APP",
    "COLD_START_CODE",
    "DEPLOYED_WORKER",
    "GUNICORN_CONF",
    "OLD_WORKER",
    "WSGI_APP",
    "PreparedIndex",
    "PreparedIndexError",
    "build_index",
    "file_sha256",
    "reference_body",
    "resolve_fields",
    "select",
    "shape",
    "validate_index",
]

# What the gunicorn master runs from its config file on the nodes.
GUNICORN_CONF = "from ipgeo.gunicorn_hooks import on_starting, child_exit  # noqa\n"
WSGI_APP = "ipgeo.wsgi:app"
ASGI_APP = "ipgeo.asgi:app"
# The worker class role ipgeo_service deploys (its ASGI entry) and the one before it (WSGI);
# the same defaults as the role's, with its keepalive (5 s).
DEPLOYED_WORKER = "ipgeo.asgi_worker.UvicornWorker"
OLD_WORKER = "ipgeo.workers.ThreadWorker"

# A gunicorn worker is forked from a master that has run gunicorn.conf.py, which imports
# ``ipgeo.gunicorn_hooks`` (and so Flask) and the worker class (uvicorn); the worker then
# imports ``ipgeo.asgi`` (opening the DB and index) and answers. Run as
# ``python -c CODE worker|fresh``; prints the seconds from the import of ``ipgeo.asgi`` to the
# answer (one ASGI call, as uvicorn makes it).
COLD_START_CODE = (
    "import asyncio, time, sys\n"
    "if sys.argv[1] == 'worker':\n"
    "    import ipgeo.gunicorn_hooks, ipgeo.asgi_worker\n"
    "t = time.perf_counter()\n"
    "from ipgeo.asgi import app\n"
    "sent = []\n"
    "async def send(m): sent.append(m)\n"
    "async def receive(): return {'type': 'http.request', 'body': b''}\n"
    "scope = {'type': 'http', 'method': 'GET', 'path': '/v1/ip/8.8.8.8', 'query_string': b'',\n"
    "         'headers': [], 'client': ('127.0.0.1', 1), 'server': ('127.0.0.1', 80),\n"
    "         'http_version': '1.1', 'root_path': '', 'scheme': 'http'}\n"
    "asyncio.run(app(scope, receive, send))\n"
    "assert sent[0]['status'] == 200, sent\n"
    "print(time.perf_counter() - t)\n"
)
