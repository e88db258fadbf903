"""Access to the per-app objects from request context."""

from __future__ import annotations

from flask import current_app

from ..config import Settings
from ..db import Database, DatabaseHolder
from ..errors import APIError


def settings() -> Settings:
    return current_app.config["IPGEO"]


def holder() -> DatabaseHolder:
    return current_app.extensions["ipgeo"]


def require_db() -> Database:
    db = holder().get()
    if db is None:
        raise APIError(503, "not_ready", "the database is not loaded yet")
    return db
