"""The naive service, measured beside ipgeo in the same run: Flask with a ``maxminddb`` lookup
per request and the answer shaped and encoded per request (ipgeo's JSON shape), under gunicorn's
sync worker. What one writes first; the figure the issue's baselines stood for."""

from __future__ import annotations

import ipaddress
import os

import maxminddb
import orjson
from flask import Flask, Response, request

from .ipgeo_api import resolve_fields, select, shape

app = Flask(__name__)
reader = maxminddb.open_database(os.environ["IPGEO_DB_PATH"])


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype="application/json")


def _body(ip: str, lang: str, fields: tuple[str, ...] | None) -> dict | None:
    record, prefix_len = reader.get_with_prefix_len(ip)
    if record is None:
        return None
    network = ipaddress.ip_network(f"{ip}/{prefix_len}", strict=False)
    return select(shape(ip, str(network), record, lang, None), fields)


def _one(ip: str) -> Response:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return _json({"error": {"code": "invalid_ip", "message": ip}}, 400)
    lang = request.args.get("lang", "en")
    body = _body(ip, lang, resolve_fields(request.args.get("fields")))
    if body is None:
        return _json({"error": {"code": "not_found", "message": ip}}, 404)
    return _json(body)


@app.get("/v1/ip/<ip>")
def lookup(ip: str) -> Response:
    return _one(ip)


@app.get("/v1/ip")
def caller() -> Response:
    # Naive: whoever sends X-Forwarded-For is believed.
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    return _one(forwarded or request.remote_addr or "")


@app.post("/v1/batch")
def batch() -> Response:
    lang = request.args.get("lang", "en")
    fields = resolve_fields(request.args.get("fields"))
    results = []
    for ip in request.get_json()["ips"]:
        try:
            body = _body(ip, lang, fields)
        except ValueError:
            body = {"ip": ip, "error": {"code": "invalid_ip"}}
        results.append(body or {"ip": ip, "error": {"code": "not_found"}})
    return _json({"results": results})


@app.get("/healthz")
@app.get("/readyz")
def health() -> Response:
    return _json({"status": "ok"})
