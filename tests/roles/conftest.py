"""Fixtures of tests/roles (helpers to import are in roleprograms.py and contracts.py: a
conftest module is not importable by name when several test directories have one)."""

from __future__ import annotations

import pytest


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
