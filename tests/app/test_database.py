"""The lookup path of the core, without Flask: ``Database.answer`` and its siblings."""

from __future__ import annotations

import ipaddress
import subprocess
import sys

import orjson
import pytest
from ipgeo.db import open_database
from ipgeo.errors import APIError, NotFoundError


@pytest.fixture(scope="module")
def db(db_path):
    return open_database(str(db_path))


@pytest.mark.parametrize(
    "query", ["", "?lang=zh-CN", "?fields=country,ip", "?lang=en&fields=network"]
)
@pytest.mark.parametrize("ip", ["114.114.114.114", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_answer_is_the_api_body(db, client, ip, query):
    args = dict(p.split("=") for p in query[1:].split("&") if p)
    fields = tuple(args["fields"].split(",")) if "fields" in args else None
    body = db.answer(ip, db.resolve_lang(args.get("lang")), fields)
    assert body == client.get(f"/v1/ip/{ip}{query}").data


def test_not_found_and_invalid_are_typed_errors(db):
    with pytest.raises(NotFoundError) as found:
        db.answer("10.1.2.3", db.default_lang, None)
    assert (found.value.status, found.value.code) == (404, "not_found")
    assert found.value.message == "10.1.2.3 is not in the database"
    with pytest.raises(APIError) as invalid:
        db.answer("10.1.2.300", db.default_lang, None)
    assert not isinstance(invalid.value, NotFoundError)
    assert (invalid.value.status, invalid.value.code) == (400, "invalid_ip")


def test_result_has_nulls_when_not_found(db):
    body = db.result(ipaddress.ip_address("10.1.2.3"), "en")
    assert body["ip"] == "10.1.2.3"
    assert body["network"] is None
    assert body["country"] == {"code": None, "name": None}
    found = db.result(ipaddress.ip_address("114.114.114.114"), "en")
    assert orjson.dumps(found) == db.answer("114.114.114.114", "en", None)


def test_core_imports_no_flask():
    # The static check is test_module_graph; this one runs the imports.
    code = (
        "import sys, ipgeo.cli, ipgeo.db, ipgeo.checkdb, ipgeo.prepared, ipgeo.convert\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
