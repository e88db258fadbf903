"""Helpers and fixtures for the SLB double's tests (tests/harness) and the aliyun_slb tests
(tests/slb): the SLB test double (molecule/harness/slb_double.py) on 127.0.0.1, probe targets,
and helpers that run the module and the role through ansible-playbook against localhost."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOUBLE = REPO / "molecule" / "harness" / "slb_double.py"
LIBRARY = REPO / "roles" / "aliyun_slb" / "library"
MODULE_UTILS = REPO / "roles" / "aliyun_slb" / "module_utils"
ROLES = REPO / "roles"
BIN = Path(sys.executable).parent

AK_ID = "LTAI5tTestDoubleKey"
AK_SECRET = "test-double-secret-0123456789"
REGION = "cn-hangzhou"
LB_ID = "lb-test0001"
MARKER = "managed-by-ansible"


def clean_env(**extra: str) -> dict:
    """The environment for child processes: no real credentials, no proxies."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ALIBABA_CLOUD_") and "proxy" not in k.lower()
    }
    env.update(extra)
    return env


class Double:
    """A running slb_double.py process."""

    def __init__(self, tmp: Path, config: dict) -> None:
        self.tmp = tmp
        self.call_log = tmp / "calls.jsonl"
        config = {"call_log": str(self.call_log), **config}
        self.config_path = tmp / "double.json"
        self.config_path.write_text(json.dumps(config))
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(DOUBLE),
                "--listen",
                "127.0.0.1:0",
                "--config",
                str(self.config_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError(f"double did not start: {line!r} {self.proc.stderr.read()}")
        self.url = line.split()[-1]
        self.endpoint = self.url.removeprefix("http://")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.proc.stdout.close()
        self.proc.stderr.close()

    def calls(self) -> list[dict]:
        if not self.call_log.exists():
            return []
        return [json.loads(line) for line in self.call_log.read_text().splitlines() if line]

    def writes(self) -> list[dict]:
        return [c for c in self.calls() if c["write"]]

    def backends(self, lb_id: str = LB_ID) -> dict[str, dict]:
        with urllib.request.urlopen(f"{self.url}/_double/state", timeout=5) as resp:
            state = json.load(resp)
        servers = state["load_balancers"][lb_id]["backend_servers"]
        return {s["ServerId"]: s for s in servers}

    def throttle(
        self, count: int, actions: list[str] | None = None, code: str = "Throttling"
    ) -> None:
        data = json.dumps({"count": count, "actions": actions, "code": code}).encode()
        req = urllib.request.Request(f"{self.url}/_double/throttle", data=data, method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()


def base_config(servers: dict[str, str], existing: list[dict] | None = None) -> dict:
    return {
        "access_keys": {AK_ID: AK_SECRET},
        "load_balancers": {
            LB_ID: {
                "region_id": REGION,
                "listeners": [{"port": 80, "protocol": "http"}],
                "backend_servers": existing or [],
            },
            "lb-other0002": {"region_id": REGION, "backend_servers": []},
        },
        "servers": servers,
        "health_check": {"type": "http", "path": "/", "timeout": 1.0},
    }


@pytest.fixture
def start_double(tmp_path):
    started: list[Double] = []

    def start(config: dict) -> Double:
        double = Double(tmp_path, config)
        started.append(double)
        return double

    yield start
    for double in started:
        double.stop()


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_backends():
    """Start N tiny HTTP servers on 127.0.0.1 (healthy probe targets); return their ports."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(count: int) -> list[int]:
        ports = []
        for _ in range(count):
            srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            servers.append(srv)
            ports.append(srv.server_address[1])
        return ports

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def run_playbook(
    tmp: Path,
    plays: list[dict],
    inventory: str = "localhost ansible_connection=local\n",
    extra_args: list[str] | None = None,
    env: dict | None = None,
) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``plays`` with the json callback; return the process and the parsed output."""
    cfg = tmp / "ansible.cfg"
    cfg.write_text("[defaults]\nretry_files_enabled = False\n")
    playbook = tmp / "play.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    inv = tmp / "inventory.ini"
    inv.write_text(inventory)
    child_env = clean_env(
        ANSIBLE_LIBRARY=str(LIBRARY),
        ANSIBLE_MODULE_UTILS=str(MODULE_UTILS),
        ANSIBLE_ROLES_PATH=str(ROLES),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_CONFIG=str(cfg),
        PATH=f"{BIN}:{os.environ.get('PATH', '')}",
    )
    child_env.update(env or {})
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inv), str(playbook), *(extra_args or [])],
        capture_output=True,
        text=True,
        env=child_env,
        cwd=tmp,
        timeout=300,
        check=False,
    )
    try:
        output = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(
            f"no JSON from ansible-playbook:\n{proc.stdout}\n{proc.stderr}"
        ) from None
    return proc, output


def module_args(double: Double, **kwargs) -> dict:
    args = {
        "load_balancer_id": LB_ID,
        "region": REGION,
        "endpoint": double.endpoint,
        "protocol": "http",
        "access_key_id": AK_ID,
        "access_key_secret": AK_SECRET,
        "retry_delay": 0.01,
        "api_timeout": 5,
    }
    args.update(kwargs)
    return args


def run_module(
    tmp: Path,
    args: dict,
    check: bool = False,
    diff: bool = False,
    env: dict | None = None,
) -> dict:
    """Run aliyun_slb_backends once on localhost; return its task result (with ``failed``)."""
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "slb", "aliyun_slb_backends": args}],
    }
    extra = (["--check"] if check else []) + (["--diff"] if diff else [])
    _, output = run_playbook(tmp, [play], extra_args=extra, env=env)
    tasks = output["plays"][0]["tasks"]
    assert tasks, output
    return tasks[0]["hosts"]["localhost"]


def load_library_module(name: str) -> ModuleType:
    """Import one of the role's modules as a Python module, its module_utils as Ansible would
    find them (ansible.module_utils.<name>)."""
    for path in sorted(MODULE_UTILS.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"ansible.module_utils.{path.stem}", path)
        utils = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = utils
        spec.loader.exec_module(utils)
    spec = importlib.util.spec_from_file_location(f"slb_library_{name}", LIBRARY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
