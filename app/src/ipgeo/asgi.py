"""ASGI entry point for gunicorn's uvicorn worker (``ipgeo.asgi_worker``): ``ipgeo.asgi:app``.

The Flask app is the WSGI entry's (one app per worker, made in one place), with the native
lookup path in front. As with ``ipgeo.wsgi``, gunicorn runs without --preload, so the DB opens
in each worker.
"""

from .web.app import asgi_app
from .wsgi import app as _flask_app

app = asgi_app(_flask_app)
