from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import ipgeo
import pytest
from ipgeo import __version__, create_app
from ipgeo.release import RUNNING_RELEASE, release_from_path

SITE = "venv/lib/python3.11/site-packages"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/opt/ipgeo/releases/0.1.0-1f97eadd5887/{SITE}/ipgeo/__init__.py", "0.1.0-1f97eadd5887"),
        # The innermost releases/<id> wins.
        (f"/srv/releases/old/opt/releases/0.2.0-abc/{SITE}/ipgeo/x.py", "0.2.0-abc"),
        ("/work/main/app/src/ipgeo/__init__.py", "dev"),
        # Not ids: the file itself, and a path trick.
        ("/opt/ipgeo/releases/__init__.py", "dev"),
        ("/opt/releases/../ipgeo/__init__.py", "dev"),
        ("/opt/ipgeo/releases/.hidden/ipgeo/__init__.py", "dev"),
    ],
)
def test_release_from_path(path, expected):
    assert release_from_path(path, "dev") == expected


def test_checkout_runs_as_the_package_version():
    # The test venv installs app/ editable: no releases/<id> above it.
    assert "releases" not in Path(os.path.realpath(ipgeo.__file__)).parts
    assert __version__ == RUNNING_RELEASE


def test_readyz_defaults_to_the_running_release(db_path, monkeypatch):
    import ipgeo.config

    monkeypatch.setattr(ipgeo.config, "RUNNING_RELEASE", "0.9.9-feedfacecafe")
    app = create_app({"IPGEO_DB_PATH": str(db_path)})
    assert app.test_client().get("/readyz").get_json()["release"] == "0.9.9-feedfacecafe"
    app = create_app({"IPGEO_DB_PATH": str(db_path), "IPGEO_RELEASE": "r42"})
    assert app.test_client().get("/readyz").get_json()["release"] == "r42"


def _install(root: Path, release: str) -> None:
    site = root / "releases" / release / SITE
    shutil.copytree(Path(ipgeo.__file__).parent, site / "ipgeo")


def test_installed_release_named_by_real_path_after_current_moves(tmp_path):
    # As deployed: the process imports through `current`; the link then moves to a newer
    # release, and the running code must still report the release it loaded.
    _install(tmp_path, "0.1.0-aaaaaaaaaaaa")
    _install(tmp_path, "0.1.1-bbbbbbbbbbbb")
    current = tmp_path / "current"
    current.symlink_to(tmp_path / "releases" / "0.1.0-aaaaaaaaaaaa")
    script = (
        "import os, sys\n"
        "from ipgeo.config import Settings\n"
        "import ipgeo\n"
        "assert ipgeo.__file__.startswith(sys.argv[1]), ipgeo.__file__\n"
        "tmp = sys.argv[1] + '.new'\n"
        "os.symlink(sys.argv[2], tmp)\n"
        "os.replace(tmp, sys.argv[1])\n"
        "print(Settings.from_env({}).release)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPGEO_")}
    env["PYTHONPATH"] = str(current / SITE)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(current),
            str(tmp_path / "releases" / "0.1.1-bbbbbbbbbbbb"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "0.1.0-aaaaaaaaaaaa"
