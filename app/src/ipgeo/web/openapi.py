"""The OpenAPI 3.1 description of the HTTP API, served at /v1/openapi.json."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from ..consts import FIELDS
from ..consts import VERSION as __version__
from .handlers import json_response

bp = Blueprint("openapi", __name__)

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": False,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_ADCODE = {
    **NULLABLE_STRING,
    "description": "Code from the configured code dictionary (e.g. GB/T 2260); present only "
    "when the service has one (IPGEO_ADCODE_FILE) or the database's records carry the built-in "
    "dictionaries' codes (17monipdb, IPDB, xdb and their conversions), null when none is known.",
}

_LOOKUP_PROPS = {
    "ip": {"type": "string", "description": "The address looked up (IPv4-mapped as IPv4)."},
    "network": {**NULLABLE_STRING, "description": "CIDR of the DB entry that answered."},
    "country": _ref("Country"),
    "region": _ref("Region"),
    "city": _ref("City"),
    "location": _ref("Location"),
}
assert tuple(_LOOKUP_PROPS) == FIELDS

SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        {
            "error": _obj(
                {
                    "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                    "message": {"type": "string"},
                }
            )
        }
    ),
    "Country": _obj({"code": NULLABLE_STRING, "name": NULLABLE_STRING}),
    "Region": _obj(
        {
            "code": {
                **NULLABLE_STRING,
                "description": "ISO 3166-2 subdivision code (from the DB).",
            },
            "name": NULLABLE_STRING,
            "adcode": _ADCODE,
        },
        required=["code", "name"],
    ),
    "City": _obj({"name": NULLABLE_STRING, "adcode": _ADCODE}, required=["name"]),
    "Location": _obj(
        {"latitude": NULLABLE_NUMBER, "longitude": NULLABLE_NUMBER, "time_zone": NULLABLE_STRING}
    ),
    "Lookup": _obj(_LOOKUP_PROPS),
    "LookupSelection": {
        **_obj(_LOOKUP_PROPS, required=[]),
        "minProperties": 1,
        "description": "The fields chosen with ?fields=.",
    },
    "LookupAnswer": {"anyOf": [_ref("Lookup"), _ref("LookupSelection")]},
    "BatchRequest": _obj({"ips": {"type": "array", "items": {}}}),
    "BatchItemError": _obj(
        {
            "ip": {"description": "The item as sent."},
            "error": _obj({"code": {"type": "string"}, "message": {"type": "string"}}),
        }
    ),
    "BatchResponse": _obj(
        {
            "results": {
                "type": "array",
                "items": {
                    "anyOf": [_ref("Lookup"), _ref("LookupSelection"), _ref("BatchItemError")]
                },
            }
        }
    ),
    "Health": _obj({"status": {"const": "ok"}}),
    "Ready": _obj(
        {
            "status": {"const": "ready"},
            "release": {"type": "string"},
            "node": {"type": "string"},
            "db": _obj(
                {
                    "type": {"type": "string"},
                    "format": {"enum": ["mmdb", "17mon", "ipdb", "xdb"]},
                    "build_epoch": {"type": "integer"},
                    "build_date": {"type": "string", "format": "date-time"},
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "path": {"type": "string"},
                    "languages": {"type": "array", "items": {"type": "string"}},
                    "converted_from": {
                        "description": "For an MMDB written by ipgeo convert: the original "
                        "file's format, name and SHA-256.",
                        "anyOf": [
                            {"type": "null"},
                            _obj(
                                {
                                    "format": {"type": "string"},
                                    "name": {"type": "string"},
                                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                    "unknown_names": {
                                        "description": "Distinct names the built-in code "
                                        "dictionaries could not place.",
                                        "type": ["integer", "null"],
                                    },
                                }
                            ),
                        ],
                    },
                    "index": {
                        "description": "The prepared index in use, if any.",
                        "anyOf": [
                            {"type": "null"},
                            _obj(
                                {
                                    "path": {"type": "string"},
                                    "languages": {"type": "array", "items": {"type": "string"}},
                                    "networks": {"type": "integer"},
                                    "renderer": {
                                        "description": "c: the compiled renderer "
                                        "(ipgeo._speedups); python: its pure Python twin.",
                                        "enum": ["c", "python"],
                                    },
                                }
                            ),
                        ],
                    },
                    "codes": {
                        "description": "The code dictionary in use, if any.",
                        "anyOf": [
                            {"type": "null"},
                            _obj(
                                {
                                    "path": {"type": "string"},
                                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                    "entries": {"type": "integer"},
                                }
                            ),
                        ],
                    },
                }
            ),
        }
    ),
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


_LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "Language of names; one of the DB's languages (default: en or the only one).",
}
_FIELDS = {
    "name": "fields",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": f"Comma-separated top-level fields: {', '.join(FIELDS)}.",
}
_NOT_READY = _error("The database is not loaded (code not_ready).")
_BAD_PARAM = _error("Bad ?lang= (unsupported_lang) or ?fields= (unknown_field).")

PATHS: dict[str, Any] = {
    "/v1/ip/{ip}": {
        "get": {
            "summary": "Locate an IPv4 or IPv6 address",
            "parameters": [
                {"name": "ip", "in": "path", "required": True, "schema": {"type": "string"}},
                _LANG,
                _FIELDS,
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": _json("LookupAnswer", "Found. Carries ETag, Cache-Control, X-DB-Version."),
                "304": {"description": "Not modified (If-None-Match matched the ETag)."},
                "400": _error("Not an IP (invalid_ip), or a bad lang / fields parameter."),
                "404": _error("The DB has no entry for the address (not_found)."),
                "503": _NOT_READY,
            },
        }
    },
    "/v1/ip": {
        "get": {
            "summary": "Locate the caller (X-Forwarded-For only from trusted proxies)",
            "parameters": [_LANG, _FIELDS],
            "responses": {
                "200": _json("LookupAnswer", "The caller; null parts when the DB has no entry."),
                "400": _BAD_PARAM,
                "503": _NOT_READY,
            },
        }
    },
    "/v1/batch": {
        "post": {
            "summary": "Locate many addresses, answers in request order",
            "parameters": [_LANG, _FIELDS],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("BatchRequest")}},
            },
            "responses": {
                "200": _json("BatchResponse", "One result or item error per input."),
                "400": _error("Malformed JSON, wrong shape, or a bad lang / fields parameter."),
                "413": _error("More IPs than the limit, or too large a body."),
                "415": _error("The body is not application/json."),
                "503": _NOT_READY,
            },
        }
    },
    "/": {
        "get": {
            "summary": "The caller's address: text for curl, HTML for browsers, else JSON",
            "parameters": [_LANG],
            "responses": {
                "200": {
                    "description": "Negotiated on Accept (and User-Agent for CLI tools).",
                    "content": {
                        "application/json": {"schema": _ref("Lookup")},
                        "text/plain": {"schema": {"type": "string", "pattern": "^\\S+\\n$"}},
                        "text/html": {"schema": {"type": "string"}},
                    },
                },
                "400": _BAD_PARAM,
                "503": _NOT_READY,
            },
        }
    },
    "/healthz": {
        "get": {"summary": "Liveness", "responses": {"200": _json("Health", "The process serves.")}}
    },
    "/readyz": {
        "get": {
            "summary": "Readiness: the loaded DB and release",
            "responses": {"200": _json("Ready", "Ready to answer."), "503": _NOT_READY},
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics of all workers",
            "responses": {
                "200": {
                    "description": "Prometheus text format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1 document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ipgeo",
            "version": __version__,
            "description": 'Every error is JSON {"error": {"code", "message"}} with a stable code.',
        },
        "paths": PATHS,
        "components": {"schemas": SCHEMAS},
    }


@bp.get("/v1/openapi.json")
def openapi_json() -> Response:
    return json_response(document())
