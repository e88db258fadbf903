"""ASGI entry point for gunicorn's uvicorn worker (``ipgeo.asgi_worker``): ``ipgeo.asgi:app``.

As with ``ipgeo.wsgi``, gunicorn runs without --preload, so the DB opens in each worker.
"""

from .web.app import create_asgi_app

app = create_asgi_app()
