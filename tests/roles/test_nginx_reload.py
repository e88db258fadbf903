"""roles/nginx_lb/files/nginx_reload.py with a fake proc root and a stand-in nginx master."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from roleprograms import load_program

reload = load_program("nginx_lb", "nginx_reload.py")

# A stand-in master: writes "hup" to its file on every SIGHUP.
MASTER = """
import signal, sys, time
def hup(*_):
    with open(sys.argv[1], "a") as f:
        f.write("hup\\n")
signal.signal(signal.SIGHUP, hup)
print("ready", flush=True)
time.sleep(30)
"""


@pytest.fixture
def master(tmp_path):
    hups = tmp_path / "hups"
    proc = subprocess.Popen(
        [sys.executable, "-c", MASTER, str(hups)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "ready\n"
    pid_file = tmp_path / "nginx.pid"
    pid_file.write_text(f"{proc.pid}\n")
    yield pid_file, hups
    proc.terminate()
    proc.wait(5)


@pytest.fixture
def nginx(fake_proc):
    fake_proc.add(100, 1, "nginx: master process /usr/sbin/nginx")
    fake_proc.add(101, 100, "nginx: worker process")
    fake_proc.add(102, 100, "nginx: worker process")
    fake_proc.add(103, 100, "nginx: cache manager process")
    return fake_proc


def hup_count(hups, at_least: int = 1) -> int:
    """The HUPs the stand-in master has written down, once there are `at_least` (or 5 s)."""
    deadline = time.monotonic() + 5
    count = 0
    while time.monotonic() < deadline:
        count = len(hups.read_text().splitlines()) if hups.exists() else 0
        if count >= at_least:
            break
        time.sleep(0.05)
    time.sleep(0.1)  # a second HUP would show by now
    return len(hups.read_text().splitlines()) if hups.exists() else 0


def test_workers_are_found_by_their_title(nginx):
    nginx.add(104, 1, "python3 nginx: worker process")
    assert reload.workers(nginx.path) == [101, 102]


def test_a_reload_without_wait_only_signals(master, nginx, capsys):
    pid_file, hups = master
    assert reload.main(["--pid-file", str(pid_file), "--proc-root", str(nginx.path)]) == 0
    assert hup_count(hups) == 1
    assert capsys.readouterr().out.startswith("reloaded: master ")


def test_a_drain_waits_for_the_old_workers(master, nginx, capsys):
    pid_file, hups = master

    def replace_workers():
        nginx.add(201, 100, "nginx: worker process")
        nginx.remove(101)
        time.sleep(0.2)
        nginx.remove(102)

    timer = threading.Timer(0.3, replace_workers)
    timer.start()
    rc = reload.main(["--wait", "--timeout", "5", "--pid-file", str(pid_file),
                      "--proc-root", str(nginx.path)])  # fmt: skip
    timer.join()
    out = capsys.readouterr().out
    assert rc == 0
    assert hup_count(hups) == 1
    assert out.startswith("drained: old workers (101 102) exited after ")
    assert not (nginx.path / "101").exists()


def test_a_reused_pid_is_not_an_old_worker(master, nginx, capsys):
    pid_file, _ = master
    nginx.remove(101)
    nginx.remove(102)
    nginx.add(101, 1, "sleep 100")  # the PID now belongs to something else
    rc = reload.main(["--wait", "--timeout", "1", "--pid-file", str(pid_file),
                      "--proc-root", str(nginx.path)])  # fmt: skip
    assert rc == 0


def test_a_worker_that_stays_fails_the_drain(master, nginx, capsys):
    pid_file, _ = master
    rc = reload.main(["--wait", "--timeout", "0.3", "--pid-file", str(pid_file),
                      "--proc-root", str(nginx.path)])  # fmt: skip
    assert rc == 1
    assert capsys.readouterr().err == "nginx worker 101 still runs 0.3 s after the reload\n"


def test_no_master_fails(tmp_path, nginx, capsys):
    rc = reload.main(["--pid-file", str(tmp_path / "none.pid"), "--proc-root", str(nginx.path)])
    assert rc == 1
    assert capsys.readouterr().err.startswith("no nginx master to reload:")


def test_a_dead_master_fails(tmp_path, nginx, capsys):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid_file = tmp_path / "nginx.pid"
    pid_file.write_text(done.stdout)
    rc = reload.main(["--pid-file", str(pid_file), "--proc-root", str(nginx.path)])
    assert rc == 1
    assert "cannot reload nginx (master " in capsys.readouterr().err
