"""Helpers for the roles' tests: load a role's program from its files/ directory."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROLES = Path(__file__).resolve().parents[2] / "roles"


def load_program(role: str, name: str):
    path = ROLES / role / "files" / name
    spec = importlib.util.spec_from_file_location(f"{role}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_proc(tmp_path):
    """A fake /proc: add(pid, ppid, cmdline) writes <pid>/stat and <pid>/cmdline."""
    root = tmp_path / "proc"
    root.mkdir()

    class Proc:
        path = root

        def add(self, pid: int, ppid: int = 1, cmdline: str = "python", comm: str = "python"):
            d = root / str(pid)
            d.mkdir()
            (d / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 0\n")
            (d / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode() + b"\0")

        def remove(self, pid: int):
            d = root / str(pid)
            for f in d.iterdir():
                f.unlink()
            d.rmdir()

    (root / "self").mkdir()  # not a PID: skipped
    return Proc()
