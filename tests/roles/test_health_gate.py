"""roles/ipgeo_service/files/health_gate.py against a small HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from roleprograms import load_program

gate = load_program("ipgeo_service", "health_gate.py")

MASTER = 4242


class Node:
    """What the fake node answers; tests change it while the gate polls."""

    def __init__(self) -> None:
        self.ready = {"status": "ready", "release": "1.0-abc", "db": {"sha256": "d" * 64}}
        self.ready_status = 200
        self.countries = {"114.114.114.114": "CN", "8.8.8.8": "US"}
        self.served_by = "app1"


@pytest.fixture
def node():
    state = Node()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Served-By", state.served_by)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/readyz":
                self.answer(state.ready_status, state.ready)
            elif self.path.startswith("/v1/ip/"):
                ip = self.path.removeprefix("/v1/ip/")
                if ip in state.countries:
                    self.answer(200, {"ip": ip, "country": {"code": state.countries[ip]}})
                else:
                    self.answer(404, {"error": {"code": "not_found"}})
            else:
                self.answer(404, {})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "gunicorn.conf.py"
    path.write_text('bind = ["0.0.0.0:8000"]\nworkers = 2\nthreads = 4\n')
    return path


@pytest.fixture
def workers(fake_proc):
    fake_proc.add(MASTER, 1, "gunicorn: master [ipgeo]", comm="gunicorn: maste")
    fake_proc.add(5001, MASTER, "gunicorn: worker [ipgeo]", comm="gunicorn: (work)")
    fake_proc.add(5002, MASTER, "gunicorn: worker [ipgeo]")
    fake_proc.add(6000, 1, "nginx: worker process")
    return fake_proc


def run(node, config, proc, capsys, *extra, timeout="2"):
    argv = [
        "--host", "app1", "--url", node.url, "--config", str(config), "--master-pid", str(MASTER),
        "--proc-root", str(proc.path), "--node-name", "app1", "--timeout", timeout,
        "--workers-timeout", "1", "--expect", "114.114.114.114=CN", "--expect", "8.8.8.8=US",
        *extra,
    ]  # fmt: skip
    rc = gate.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_a_healthy_node_passes(node, config, workers, capsys):
    expect = ("--release", "1.0-abc", "--db-sha256", "d" * 64)
    rc, out, err = run(node, config, workers, capsys, *expect)
    assert rc == 0, err
    assert "master 4242: 2 workers of 2" in out
    assert "114.114.114.114: CN from app1" in out
    assert err == ""


def test_it_waits_for_the_release_until_the_deadline(node, config, workers, capsys):
    rc, _, err = run(node, config, workers, capsys, "--release", "2.0-new", timeout="1")
    assert rc == 1
    assert err.startswith("Health gate: app1 did not become ready within 1 s")
    assert "release 2.0-new, database SHA-256 any" in err
    assert '"release": "1.0-abc"' in err  # the last /readyz answer


def test_it_waits_while_the_node_is_not_ready(node, config, workers, capsys):
    node.ready_status = 503
    timer = threading.Timer(0.7, lambda: setattr(node, "ready_status", 200))
    timer.start()
    rc, _, err = run(node, config, workers, capsys, "--db-sha256", "d" * 64, timeout="5")
    timer.join()
    assert rc == 0, err


def test_a_wrong_database_fails(node, config, workers, capsys):
    rc, _, err = run(node, config, workers, capsys, "--db-sha256", "e" * 64, timeout="0.5")
    assert rc == 1
    assert f"database SHA-256 {'e' * 64}" in err


def test_it_fails_while_old_workers_remain(node, config, workers, capsys):
    workers.add(5003, MASTER, "gunicorn: worker [ipgeo]")
    rc, _, err = run(node, config, workers, capsys)
    assert rc == 1
    assert "Health gate: app1 the program does not run its configured workers" in err
    assert "master 4242: 3 workers of 2" in err


def test_it_waits_for_old_workers_to_exit(node, config, workers, capsys):
    workers.add(5003, MASTER, "gunicorn: worker [ipgeo]")
    timer = threading.Timer(0.3, workers.remove, args=(5003,))
    timer.start()
    rc, _, err = run(node, config, workers, capsys)
    timer.join()
    assert rc == 0, err


def test_a_wrong_answer_fails(node, config, workers, capsys):
    node.countries["8.8.8.8"] = "CN"
    rc, _, err = run(node, config, workers, capsys)
    assert rc == 1
    assert "Health gate: app1 answered 8.8.8.8 with 200" in err
    assert "expected country US from app1" in err


def test_an_answer_from_another_node_fails(node, config, workers, capsys):
    node.served_by = "app2"
    rc, _, err = run(node, config, workers, capsys)
    assert rc == 1
    assert "(served by app2); expected country CN from app1" in err


def test_a_missing_answer_fails(node, config, workers, capsys):
    rc, _, err = run(node, config, workers, capsys, "--expect", "1.2.3.4=DE")
    assert rc == 1
    assert "answered 1.2.3.4 with 404" in err


def test_children_parses_command_names_with_spaces_and_parentheses(fake_proc):
    fake_proc.add(7, 3, comm="a) (b")
    fake_proc.add(8, 4)
    assert gate.children(fake_proc.path, 3) == [7]


def test_a_config_without_workers_fails(tmp_path):
    config = tmp_path / "gunicorn.conf.py"
    config.write_text("threads = 4\n")
    with pytest.raises(gate.GateError, match="no 'workers = N' line"):
        gate.configured_workers(config)


def test_supervisor_pid_of_no_program_is_zero(monkeypatch):
    class Done:
        stdout = "ERROR (no such process)\n"

    monkeypatch.setattr(gate.subprocess, "run", lambda *a, **k: Done())
    assert gate.supervisor_pid("ipgeo") == 0
