"""The systemd drop-ins of roles ipgeo_service, nginx_lb, nginx_exporter and node_exporter,
rendered with each role's defaults on the controller: only [Service] directives, paths that may
not exist yet marked optional ("-": a missing path fails the service's start), and the capability
bounding sets the ops scenario's verify (systemd hosts) expects on the running processes
(molecule/ops/verify/hardening.yml). That the sandboxes hold on real systemd is checked there."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from slb_testlib import run_playbook

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VERIFY = REPO / "molecule" / "ops" / "verify" / "hardening.yml"

# role → unit → the paths the unit writes that the role or the package makes only after the
# drop-in is written (they must carry "-"); "/run" always exists.
DROPINS = {
    "ipgeo_service": ["supervisor"],
    "nginx_lb": ["nginx"],
    "nginx_exporter": ["prometheus-nginx-exporter", "mtail"],
    "node_exporter": ["prometheus-node-exporter"],
}
CAPS = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_NET_BIND_SERVICE": 10,
}
EVERYWHERE = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, dict[str, str]]:
    """unit → {directive: value} of its drop-in, every template rendered by Ansible."""
    if not (BIN / "ansible-playbook").exists():
        pytest.skip("needs the controller venv (ansible-playbook)")
    tmp = tmp_path_factory.mktemp("dropins")
    tasks = []
    for role, units in DROPINS.items():
        for unit in units:
            tasks.append(
                {
                    "name": f"Render {unit}",
                    "ansible.builtin.template": {
                        "src": str(
                            REPO
                            / "roles"
                            / role
                            / "templates/etc/systemd/system"
                            / f"{unit}.service.d/ipgeo-hardening.conf.j2"
                        ),
                        "dest": str(tmp / f"{unit}.conf"),
                        "mode": "0644",
                    },
                    "vars": yaml.safe_load(
                        (REPO / "roles" / role / "defaults/main.yml").read_text()
                    ),
                }
            )
    plays = [{"name": "Render", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    proc, output = run_playbook(tmp, plays)
    assert proc.returncode == 0, json.dumps(output)[-3000:] + proc.stderr
    return {
        unit: parse((tmp / f"{unit}.conf").read_text())
        for units in DROPINS.values()
        for unit in units
    }


def parse(text: str) -> dict[str, str]:
    """The directives of a drop-in with one [Service] section; fails on anything else."""
    section = None
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            assert section is None and line == "[Service]", line
            section = line
            continue
        assert section == "[Service]", line
        key, _, value = line.partition("=")
        assert re.fullmatch(r"[A-Z][A-Za-z]+", key), line
        assert key not in out, f"{key} twice"
        out[key] = value
    return out


def test_every_drop_in_holds_the_common_sandbox(rendered):
    for unit, directives in rendered.items():
        for key, value in EVERYWHERE.items():
            assert directives.get(key) == value, (unit, key)
        assert directives["SystemCallFilter"].startswith("@system-service"), unit


def required_paths(directives: dict[str, str]) -> list[str]:
    """Writable paths whose absence would fail the start: all but /run must carry "-"."""
    paths = directives.get("ReadWritePaths", "").split()
    return [p for p in paths if p != "/run" and not p.startswith("-/")]


def test_writable_paths_that_may_not_exist_yet_are_optional(rendered):
    for unit, directives in rendered.items():
        assert required_paths(directives) == [], unit


def test_the_writable_paths_are_the_services_own(rendered):
    supervisor = rendered["supervisor"]["ReadWritePaths"].split()
    assert supervisor == [
        "/run",
        "-/var/log/supervisor",
        "-/var/log/ipgeo",
        "-/var/lib/ipgeo/metrics",
    ]
    nginx = rendered["nginx"]["ReadWritePaths"].split()
    assert "-/var/lib/nginx" in nginx and "-/var/cache/nginx/ipgeo" in nginx
    # The exporters write nothing.
    for unit in ("prometheus-nginx-exporter", "mtail", "prometheus-node-exporter"):
        assert "ReadWritePaths" not in rendered[unit], unit


def test_the_bounding_sets_are_the_ones_the_verify_expects(rendered):
    verify = yaml.safe_load(VERIFY.read_text())
    expected = verify[0]["vars"]["hardening_capbnd"]
    assert set(expected) == set(rendered)
    for unit, directives in rendered.items():
        mask = sum(1 << CAPS[name] for name in directives["CapabilityBoundingSet"].split())
        assert f"{mask:016x}" == expected[unit], unit
    assert rendered["supervisor"]["CapabilityBoundingSet"].split() == [
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_KILL",
        "CAP_DAC_OVERRIDE",
    ]


def test_nginx_leaves_pcre_jit_off_under_memory_deny_write_execute(rendered):
    conf = (REPO / "roles/nginx_lb/templates/etc/nginx/nginx.conf.j2").read_text()
    assert rendered["nginx"]["MemoryDenyWriteExecute"] == "yes"
    assert not re.search(r"^\s*pcre_jit\s+on", conf, re.M)


def test_a_missing_dash_is_found(tmp_path):
    """The path check above fails on the mistake it is there for."""
    directives = parse("[Service]\nReadWritePaths=/run /var/log/ipgeo -/var/lib/x\n")
    assert required_paths(directives) == ["/var/log/ipgeo"]
    with pytest.raises(AssertionError):
        parse("[Unit]\nAfter=x\n")
