"""Role firewall on the controller: its filters, the rules its template renders for an app node
and for a load balancer (checked by `nft -c` in a throwaway network namespace when this machine
can), and its preflight, which stops before anything changes on inputs that would lock Ansible out.
The rules in force on real hosts (refused from a non-LB container, open from the LB) are checked
by the `ops` Molecule scenario."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from slb_testlib import run_playbook

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "firewall"
BIN = Path(sys.executable).parent

spec = importlib.util.spec_from_file_location(
    "firewall_net", ROLE / "filter_plugins" / "firewall_net.py"
)
firewall_net = importlib.util.module_from_spec(spec)
spec.loader.exec_module(firewall_net)

APP_NODE = {
    "firewall_ssh_port": 22,
    "firewall_ssh_allowed_sources": ["10.0.0.0/8", "2001:db8::/32"],
    "firewall_app_port": 8000,
    "firewall_app_allowed_sources": ["10.0.1.10"],
    "firewall_monitoring_allowed_sources": ["10.0.2.20/32", "10.0.0.0/8"],
    "firewall_monitoring_tcp_ports": [9100],
    "firewall_vrrp_allowed_sources": [],
    "firewall_public_tcp_ports": [],
    "firewall__table": "ipgeo_filter",
}
LB = {
    **APP_NODE,
    "firewall_app_port": 0,
    "firewall_app_allowed_sources": [],
    "firewall_monitoring_allowed_sources": ["10.0.2.20"],
    "firewall_monitoring_tcp_ports": [9113, 9100],
    "firewall_vrrp_allowed_sources": ["10.0.1.9"],
    "firewall_public_tcp_ports": ["80", 443, 80],
}


@pytest.fixture(scope="module", autouse=True)
def controller():
    if not (BIN / "ansible-playbook").exists():
        pytest.skip("needs the controller venv (ansible-playbook)")


def env():
    return {"ANSIBLE_FILTER_PLUGINS": str(ROLE / "filter_plugins")}


def render(tmp_path: Path, variables: dict) -> str:
    dest = tmp_path / "ipgeo.nft"
    plays = [
        {
            "name": "Render",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Render the rules",
                    "ansible.builtin.template": {
                        "src": str(ROLE / "templates/etc/nftables.d/ipgeo.nft.j2"),
                        "dest": str(dest),
                        "mode": "0644",
                    },
                    "vars": variables,
                }
            ],
        }
    ]
    proc, out = run_playbook(tmp_path, plays, env=env())
    assert proc.returncode == 0, json.dumps(out) + proc.stderr
    return dest.read_text()


def nft_check(path: Path) -> subprocess.CompletedProcess | None:
    """`nft -c -f` in a new network namespace (nothing of this machine's is touched), or None."""
    nft, unshare = shutil.which("nft") or "/usr/sbin/nft", shutil.which("unshare")
    if os.geteuid() != 0 or not Path(nft).exists() or not unshare:
        return None
    return subprocess.run(
        [unshare, "--net", nft, "-c", "-f", str(path)], capture_output=True, text=True
    )


def test_filters():
    assert firewall_net.firewall_family(["10.0.1.10/32", "10.0.0.0/8", "::1", "10.0.1.10"], 4) == [
        "10.0.0.0/8",
        "10.0.1.10",
    ]
    assert firewall_net.firewall_family(["10.0.0.1", "2001:db8::/32"], 6) == ["2001:db8::/32"]
    assert firewall_net.firewall_invalid(["10.0.0.1", "10.0.0.300", "lb.example", "::/0"]) == [
        "10.0.0.300",
        "lb.example",
    ]
    assert firewall_net.firewall_contains("172.29.60.1", ["10.0.0.0/8", "172.29.60.0/24"])
    assert not firewall_net.firewall_contains("172.29.61.1", ["172.29.60.0/24", "::/0"])


def test_an_app_node_opens_ssh_to_admins_and_the_app_port_to_the_lb_and_monitoring(tmp_path):
    text = render(tmp_path, APP_NODE)
    assert "flush ruleset" not in text
    # Replaced atomically: declared (so the delete cannot fail), deleted, defined.
    assert text.index("table inet ipgeo_filter\n") < text.index("delete table inet ipgeo_filter")
    assert "policy drop;" in text
    assert "elements = { 10.0.0.0/8 }" in text  # ssh_v4
    assert "elements = { 2001:db8::/32 }" in text  # ssh_v6
    assert "elements = { 10.0.0.0/8, 10.0.1.10, 10.0.2.20 }" in text  # app_v4, LB + monitoring
    assert "tcp dport 22 ip saddr @ssh_v4 accept" in text
    assert "tcp dport 8000 ip saddr @app_v4 accept" in text
    assert "tcp dport 8000 ip6 saddr @app_v6 accept" in text
    assert "vrrp" not in text.split("chain input")[1]
    # The exporter: the monitoring addresses only, not the LB's.
    assert "tcp dport { 9100 } ip saddr @monitoring_v4 accept" in text
    assert "elements = { 10.0.0.0/8, 10.0.2.20 }" in text  # monitoring_v4
    assert not re.search(r"tcp dport \{[^}]*\} accept", text)  # no port open to everyone
    checked = nft_check(tmp_path / "ipgeo.nft")
    if checked is not None:
        assert checked.returncode == 0, checked.stderr


def test_a_load_balancer_opens_its_public_ports_and_vrrp_from_its_peer_only(tmp_path):
    text = render(tmp_path, LB)
    assert "tcp dport { 80, 443 } accept" in text
    assert "tcp dport { 9100, 9113 } ip saddr @monitoring_v4 accept" in text
    assert "8000" not in text
    assert "@app_v4" not in text
    assert "ip protocol vrrp ip saddr @vrrp_v4 accept" in text
    assert "elements = { 10.0.1.9 }" in text
    checked = nft_check(tmp_path / "ipgeo.nft")
    if checked is not None:
        assert checked.returncode == 0, checked.stderr


def test_nft_refuses_a_broken_rules_file(tmp_path):
    bad = tmp_path / "bad.nft"
    bad.write_text(render(tmp_path, APP_NODE).replace("policy drop;", "policy dorp;"))
    checked = nft_check(bad)
    if checked is None:
        pytest.skip("needs root, nft and unshare")
    assert checked.returncode != 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"firewall_ssh_allowed_sources": []}, "firewall_ssh_allowed_sources must list the admin"),
        ({"firewall_app_allowed_sources": ["10.0.1.300"]}, "(not: ['10.0.1.300'])"),
        (
            {"firewall_app_port": 8000, "firewall_app_allowed_sources": []},
            "with an app port (8000) someone must be allowed to reach it",
        ),
    ],
)
def test_the_preflight_stops_before_anything_changes(tmp_path, extra, message):
    variables = {"firewall_ssh_allowed_sources": ["10.0.0.0/8"], **extra}
    plays = [
        {
            "name": "Firewall",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Run the role",
                    "ansible.builtin.include_role": {"name": "firewall"},
                    "vars": variables,
                }
            ],
        }
    ]
    proc, out = run_playbook(tmp_path, plays)
    text = json.dumps(out)
    assert proc.returncode != 0, text
    assert message in text, text
    # It stopped at the first task: nothing installed, nothing written.
    assert "Install nftables" not in text


def test_off_it_does_nothing(tmp_path):
    """The container fleets without NET_ADMIN run site.yml with firewall_enabled: false."""
    plays = [
        {
            "name": "Firewall off",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Run the role",
                    "ansible.builtin.include_role": {"name": "firewall"},
                    "vars": {"firewall_enabled": False, "firewall_app_port": "8000"},
                }
            ],
        }
    ]
    proc, out = run_playbook(tmp_path, plays)
    assert proc.returncode == 0, json.dumps(out) + proc.stderr
    stats = out["stats"]["localhost"]
    assert stats["changed"] == 0 and stats["failures"] == 0
    ran = [
        t["task"]["name"]
        for p in out["plays"]
        for t in p["tasks"]
        if not t["hosts"]["localhost"].get("skipped")
    ]
    assert [name for name in ran if "Validating arguments" not in name] == ["Run the role"], ran
