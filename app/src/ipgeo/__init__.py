"""ipgeo: an IP geolocation lookup service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .consts import VERSION as __version__

if TYPE_CHECKING:
    from .web.app import create_app

__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> Any:
    # Lazy so that importing ipgeo.gunicorn_hooks in the gunicorn master does not import the
    # app (and prometheus_client, whose multiprocess mode is chosen at import) before
    # gunicorn has applied raw_env.
    if name == "create_app":
        from .web.app import create_app

        return create_app
    raise AttributeError(f"module 'ipgeo' has no attribute {name!r}")
