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

__all__ = [
    "COLD_START_CODE",
    "GUNICORN_CONF",
    "WSGI_APP",
    "PreparedIndex",
    "PreparedIndexError",
    "build_index",
    "file_sha256",
    "reference_body",
    "validate_index",
]

# What the gunicorn master runs from its config file on the nodes.
GUNICORN_CONF = "from ipgeo.gunicorn_hooks import on_starting, child_exit  # noqa\n"
WSGI_APP = "ipgeo.wsgi:app"

# A gunicorn worker is forked from a master that has run gunicorn.conf.py, which imports
# ``ipgeo.gunicorn_hooks`` (and so Flask); the worker then imports ``ipgeo.wsgi`` (opening the
# DB and index) and answers. Run as ``python -c CODE worker|fresh``; prints the seconds from
# the import of ``ipgeo.wsgi`` to the answer.
COLD_START_CODE = (
    "import time, sys\n"
    "if sys.argv[1] == 'worker':\n"
    "    import ipgeo.gunicorn_hooks\n"
    "t = time.perf_counter()\n"
    "from ipgeo.wsgi import app\n"
    "r = app.test_client().get('/v1/ip/8.8.8.8')\n"
    "assert r.status_code == 200, r.data\n"
    "print(time.perf_counter() - t)\n"
)
