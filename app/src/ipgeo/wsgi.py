"""WSGI entry point for gunicorn: ``ipgeo.wsgi:app``.

gunicorn runs without --preload, so this import (and the DB open) happens in each worker.
"""

from . import create_app

app = create_app()
