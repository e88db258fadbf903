"""The application factory."""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask, Response
from werkzeug.routing import PathConverter

from ..config import Settings
from ..db import DatabaseHolder
from . import api, client, handlers, health, metrics, openapi
from .fastpath import PREFIX, AsgiLookupFastPath, LookupFastPath


class AnythingConverter(PathConverter):
    """Like ``path`` but also matches newlines, so every bad IP reaches the 400 handler."""

    regex = "(?s:.+)"
    part_isolating = False


def create_app(env: Mapping[str, str] | None = None) -> Flask:
    """Build the app. ``env`` overrides ``os.environ`` (tests pass their own settings)."""
    settings = Settings.from_env({**os.environ, **(env or {})})
    app = Flask(__name__, static_folder=None)
    app.url_map.converters["anything"] = AnythingConverter
    app.url_map.merge_slashes = False  # "/v1/ip//" is a bad IP, not a redirect
    app.config["IPGEO"] = settings
    # Werkzeug answers 413 itself (as JSON via our handler) before we parse a huge body.
    app.config["MAX_CONTENT_LENGTH"] = 128 * settings.batch_limit + 4096

    holder = DatabaseHolder(
        settings.db_path, settings.default_lang, settings.index_path, settings.codes_path
    )
    holder.get()  # open now, but a failure only makes /readyz say 503
    app.extensions["ipgeo"] = holder

    handlers.register(app)

    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(client.bp)
    app.register_blueprint(openapi.bp)
    metrics.init_app(app)
    metrics.record_db(holder.db)
    metrics.record_release(settings.release)

    node = settings.node_name

    @app.after_request
    def served_by(response: Response) -> Response:
        response.headers["X-Served-By"] = node
        return response

    app.wsgi_app = LookupFastPath(  # type: ignore[method-assign]
        app.wsgi_app, holder, settings.release, node, _lookup_rule(app)
    )
    return app


def _lookup_rule(app: Flask) -> str:
    (rule,) = (r.rule for r in app.url_map.iter_rules("api.ip_lookup"))
    assert rule.startswith(PREFIX)
    return rule


def create_asgi_app(env: Mapping[str, str] | None = None) -> AsgiLookupFastPath:
    """The app for an ASGI server: plain lookups answered natively, the rest by Flask."""
    return asgi_app(create_app(env))


def asgi_app(app: Flask) -> AsgiLookupFastPath:
    """The ASGI front door of an app made by :func:`create_app`."""
    settings: Settings = app.config["IPGEO"]
    holder: DatabaseHolder = app.extensions["ipgeo"]
    return AsgiLookupFastPath(app, holder, settings.release, settings.node_name, _lookup_rule(app))
