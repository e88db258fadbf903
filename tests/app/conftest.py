from __future__ import annotations

import os
from pathlib import Path

import pytest
from ipgeo import create_app

REPO = Path(__file__).resolve().parents[2]
DB_PATH = REPO / "files" / "GeoLite2-City.mmdb"
NODE = "test-node-7"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # Settings come from the environment; a developer's shell must not change results.
    for name in list(os.environ):
        if name.startswith("IPGEO_") or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def db_path() -> Path:
    if not DB_PATH.is_file():
        pytest.fail(
            f"{DB_PATH} is missing: run `make db` (scripts/fetch-db.sh) to fetch the "
            "GeoLite2-City database the app tests run against"
        )
    return DB_PATH


@pytest.fixture
def app(db_path):
    return create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_NODE_NAME": NODE})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def node() -> str:
    return NODE
