"""The DB digest is computed once in the gunicorn master and trusted by workers only for
the very file it was computed from."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import get_url
from ipgeo import dbhash, gunicorn_hooks
from ipgeo.db import open_database
from ipgeo.mmdb_writer import write_mmdb
from ipgeo.prepared import build_index
from netutil import free_port


def _write_db(path: Path, city: str) -> str:
    record = {
        "country": {"iso_code": "CN", "names": {"en": "China"}},
        "city": {"names": {"en": city}},
    }
    write_mmdb(
        str(path),
        [(0, 2**31 - 1, record), (2**31, 2**32 - 1, None)],
        database_type="Synth",
        languages=["en"],
        description="t",
        build_epoch=1_700_000_000,
    )
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _swap_in(path: Path, city: str) -> str:
    # As the DB role does: write beside, then rename over (a new inode).
    new = path.with_name(path.name + ".new")
    sha = _write_db(new, city)
    os.replace(new, path)
    return sha


@pytest.fixture(autouse=True)
def _empty_cache():
    dbhash.forget()
    yield
    dbhash.forget()


@pytest.fixture
def hash_calls(monkeypatch):
    calls: list[int] = []
    real = dbhash.hash_stream

    def counted(fh, *args, **kwargs):
        calls.append(os.getpid())
        return real(fh, *args, **kwargs)

    monkeypatch.setattr(dbhash, "hash_stream", counted)
    return calls


def test_worker_uses_the_masters_digest(tmp_path, monkeypatch, hash_calls):
    db = tmp_path / "city.mmdb"
    sha = _write_db(db, "Nanjing")
    monkeypatch.setenv("IPGEO_DB_PATH", str(db))
    gunicorn_hooks.on_starting(SimpleNamespace())
    assert len(hash_calls) == 1  # the master's
    opened = open_database(str(db))
    assert opened.sha256 == sha
    assert len(hash_calls) == 1, "the worker hashed a file the master had hashed"


def test_swapped_db_is_hashed_again_and_its_old_index_refused(tmp_path, monkeypatch, hash_calls):
    db = tmp_path / "city.mmdb"
    old_sha = _write_db(db, "Nanjing")
    build_index(str(db), str(db) + ".idx", ["en"], old_sha)
    monkeypatch.setenv("IPGEO_DB_PATH", str(db))
    gunicorn_hooks.on_starting(SimpleNamespace())
    new_sha = _swap_in(db, "Suzhou")
    hash_calls.clear()
    opened = open_database(str(db))
    assert len(hash_calls) == 1
    assert opened.sha256 == new_sha != old_sha
    # The index next to it was built for the old DB: trusting the master's stale digest
    # would serve the old answers from it.
    assert opened.index is None


def test_on_reload_hashes_the_swapped_db(tmp_path, monkeypatch, hash_calls):
    db = tmp_path / "city.mmdb"
    _write_db(db, "Nanjing")
    monkeypatch.setenv("IPGEO_DB_PATH", str(db))
    gunicorn_hooks.on_starting(SimpleNamespace())
    new_sha = _swap_in(db, "Suzhou")
    gunicorn_hooks.on_reload(SimpleNamespace())
    hash_calls.clear()
    assert open_database(str(db)).sha256 == new_sha
    assert hash_calls == []


def test_hook_without_a_db_is_harmless(tmp_path, monkeypatch, hash_calls):
    gunicorn_hooks.on_reload(SimpleNamespace())
    monkeypatch.setenv("IPGEO_DB_PATH", str(tmp_path / "absent.mmdb"))
    gunicorn_hooks.on_starting(SimpleNamespace())  # logged, never fatal
    assert hash_calls == []


CONF = """\
import os
from ipgeo import dbhash
from ipgeo.gunicorn_hooks import child_exit, load_env_file, on_reload, on_starting  # noqa: F401

raw_env = load_env_file({env!r})
# Count who hashes: gunicorn re-reads this file on HUP, so wrap only once.
if not getattr(dbhash.hash_stream, "counted", False):
    _real = dbhash.hash_stream

    def _counted(fh, *args, **kwargs):
        with open({log!r}, "a") as out:
            out.write(f"hash {{os.getpid()}}\\n")
        return _real(fh, *args, **kwargs)

    _counted.counted = True
    dbhash.hash_stream = _counted


def post_worker_init(worker):
    with open({log!r}, "a") as out:
        out.write(f"ready {{os.getpid()}}\\n")
"""


def _events(log: Path, kind: str) -> list[int]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [int(line.split()[1]) for line in lines if line.startswith(kind + " ")]


def _wait_for(predicate, what: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{what}: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)


def test_gunicorn_workers_never_hash_the_db(tmp_path):
    db = tmp_path / "city.mmdb"
    sha = _write_db(db, "Nanjing")
    log = tmp_path / "events.log"
    env_file = tmp_path / "ipgeo.env"
    env_file.write_text(f"IPGEO_DB_PATH={db}\nIPGEO_NODE_NAME=hash-test\n")
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(CONF.format(env=str(env_file), log=str(log)))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPGEO_")}
    argv = ["-c", str(conf), "-w", "2", "-b", f"127.0.0.1:{port}", "ipgeo.wsgi:app"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"

    def sha_served() -> str | None:
        try:
            status, body = get_url(base + "/readyz")
        except OSError:
            return None
        return body.decode() if status == 200 else None

    try:
        _wait_for(lambda: len(_events(log, "ready")) >= 2, "workers did not start", proc)
        assert sha in (sha_served() or "")
        assert _events(log, "hash") == [proc.pid]
        new_sha = _swap_in(db, "Suzhou")
        proc.send_signal(signal.SIGHUP)
        _wait_for(lambda: len(_events(log, "ready")) >= 4, "no new workers after HUP", proc)
        _wait_for(lambda: new_sha in (sha_served() or ""), "new DB not served", proc)
        assert _events(log, "hash") == [proc.pid, proc.pid]
        assert proc.pid not in _events(log, "ready")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
