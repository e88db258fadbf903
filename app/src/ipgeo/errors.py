"""Every error ipgeo raises on purpose, in one leaf module (no Flask: the core uses them too).

An :class:`APIError` leaves the app as JSON ``{"error": {"code", "message"}}``; the Flask
handlers that turn it into a response are in :mod:`ipgeo.web.handlers`.
"""

from __future__ import annotations


class APIError(Exception):
    """An error with a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class NotFoundError(APIError):
    """The database has no entry for the address (counted apart from other errors)."""

    def __init__(self, ip: str) -> None:
        super().__init__(404, "not_found", f"{ip} is not in the database")


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


class DatabaseError(Exception):
    """The file is missing, unreadable or not a database this service understands."""


class CheckError(Exception):
    """The file must not be deployed; the message says why."""


class PreparedIndexError(Exception):
    """The prepared index is unusable (missing, foreign, stale or corrupt)."""
