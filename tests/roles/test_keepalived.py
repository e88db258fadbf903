"""Role keepalived on the controller: its preflight entry point stops the play, with a message
that says what to fix, on every bad input of the VRRP pair (run against localhost, whose
loopback interface stands in for the LB's network: 127.0.0.1/8 is "the subnet"); the template
renders the pair's configuration; the VRRP secret never appears in ansible-playbook's output,
even with -vvv. The real pair (VIP moves, timings) is checked in containers: see the README."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from slb_testlib import clean_env, run_playbook

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "keepalived"
BIN = Path(sys.executable).parent
SYSTEM_PYTHON = "/usr/bin/python3"
SECRET = "Zq7-x9Kp"  # 8 characters: the most PASS authentication keeps

# Two LB hosts, both this machine; only lb-a runs the plays.
INVENTORY = (
    f"[load_balancers]\n"
    f"lb-a ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    f"lb-b ansible_connection=local ansible_python_interpreter={sys.executable}\n"
)

GOOD = {
    "keepalived_vip": "127.0.0.100",
    "keepalived_unicast_src_ip": "127.0.0.1",
    "keepalived_unicast_peers": ["127.0.0.2"],
}


def preflight_play(render: Path | None = None, **extra) -> list[dict]:
    """The preflight entry point on lb-a with GOOD vars and `extra`; with `render`, the role's
    template is then written there (no_log, as the role's own task is)."""
    tasks: list[dict] = [
        {
            "name": "Check the pair",
            "ansible.builtin.include_role": {
                "name": "keepalived",
                "tasks_from": "preflight",
                "public": True,
            },
            "vars": {**GOOD, **extra},
        }
    ]
    if render:
        tasks.append(
            {
                "name": "Render the configuration",
                "ansible.builtin.template": {
                    "src": str(ROLE / "templates/etc/keepalived/keepalived.conf.j2"),
                    "dest": str(render),
                    "mode": "0600",
                },
                "vars": {**GOOD, **extra},
                "no_log": True,
            }
        )
    return [
        {
            "name": "Preflight",
            "hosts": "lb-a",
            "gather_facts": False,
            "tasks": tasks,
        }
    ]


def run(tmp_path: Path, secret: str = SECRET, inventory: str = INVENTORY, **extra):
    proc, output = run_playbook(
        tmp_path,
        preflight_play(**extra),
        inventory=inventory,
        env={"IPGEO_VRRP_SECRET": secret},
    )
    return proc, json.dumps(output, ensure_ascii=False)


@pytest.fixture(scope="module", autouse=True)
def controller():
    if not (BIN / "ansible-playbook").exists():
        pytest.skip("needs the controller venv (ansible-playbook)")


def test_a_good_pair_passes(tmp_path):
    proc, out = run(tmp_path)
    assert proc.returncode == 0, out + proc.stderr
    assert '"failures": 0' in out


@pytest.mark.parametrize(
    ("extra", "inventory", "message"),
    [
        ({}, INVENTORY.replace("lb-b ", "# lb-b "),
         "keepalived supports a pair: the group 'load_balancers' must hold exactly two hosts"),
        ({}, INVENTORY + "lb-c ansible_connection=local\n",
         "must hold exactly two hosts, lb-a among them (it holds 3"),
        ({"keepalived_vip": ""}, INVENTORY, "keepalived needs keepalived_vip (now '': set lb_vip)"),
        ({"keepalived_unicast_peers": []}, INVENTORY,
         "one other address in keepalived_unicast_peers"),
        ({"keepalived_vip": "127.0.0.2"}, INVENTORY,
         "keepalived_vip 127.0.0.2 is the address of a load balancer"),
        ({"keepalived_interface": "nosuch0"}, INVENTORY,
         "keepalived_interface nosuch0 is not an interface of lb-a with an IPv4 address"),
        ({"keepalived_unicast_src_ip": "192.0.2.1"}, INVENTORY,
         "No interface of lb-a holds 192.0.2.1 (its node_address): fix node_address"),
        ({"keepalived_vip": "192.0.2.100"}, INVENTORY,
         "keepalived_vip 192.0.2.100 is not an unused address of 127.0.0.0/8, the subnet of lo"),
        ({"keepalived_vip": "127.0.0.100/24"}, INVENTORY,
         "keepalived_vip 127.0.0.100/24 is not an unused address of 127.0.0.0/8"),
        ({"keepalived_virtual_router_id": 300}, INVENTORY,
         "keepalived: virtual_router_id must be 1-255 (is 300)"),
        ({"keepalived_advert_int": 0.5}, INVENTORY, "whole seconds with VRRPv2 (is 0.5)"),
        ({"keepalived_nopreempt": False},
         INVENTORY.replace("lb-a ", "lb-a keepalived_priority=150 ").replace(
             "lb-b ", "lb-b keepalived_priority=150 "),
         "have the same VRRP priority (150, 150) and keepalived_nopreempt is false"),
    ],
)  # fmt: skip
def test_bad_input_stops_the_play(tmp_path, extra, inventory, message):
    proc, out = run(tmp_path, inventory=inventory, **extra)
    assert proc.returncode != 0
    assert message in out, out


def test_same_priorities_pass_with_nopreempt(tmp_path):
    inventory = INVENTORY.replace("lb-a ", "lb-a keepalived_priority=150 ").replace(
        "lb-b ", "lb-b keepalived_priority=150 "
    )
    proc, out = run(tmp_path, inventory=inventory)
    assert proc.returncode == 0, out


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("", "The VRRP secret is missing: export IPGEO_VRRP_SECRET"),
        ("Zq7-x9Kp-longer", "must be 1-8 characters"),
        ("ab#cd", "must be 1-8 characters"),
        ("ab cd", "must be 1-8 characters"),
    ],
)
def test_a_bad_secret_stops_the_play_without_showing_it(tmp_path, secret, message):
    proc, out = run(tmp_path, secret=secret)
    assert proc.returncode != 0
    assert message in out, out
    if secret:
        assert secret not in out + proc.stderr


def test_the_rendered_configuration(tmp_path):
    conf = tmp_path / "keepalived.conf"
    proc, out = run(tmp_path, render=conf)
    assert proc.returncode == 0, out
    text = conf.read_text()
    lines = [line.strip() for line in text.splitlines()]
    assert "interface lo" in lines  # the interface holding unicast_src_ip
    assert "priority 200" in lines  # lb-a: first of the group
    assert "nopreempt" in lines
    assert "state BACKUP" in lines
    assert "unicast_src_ip 127.0.0.1" in lines
    assert lines[lines.index("unicast_peer {") + 1] == "127.0.0.2"
    assert "127.0.0.100/8 dev lo" in lines  # the interface subnet's prefix
    assert f"auth_pass {SECRET}" in lines
    assert "enable_script_security" in lines
    assert "script_user keepalived_script" in lines
    assert (
        'script "/usr/bin/curl --silent --fail --max-time 1 --output /dev/null'
        ' http://127.0.0.1:8081/lb-health"'
    ) in lines
    assert {"fall 2", "rise 2", "interval 1", "version 2", "down_timer_adverts 2"} <= set(lines)
    assert SECRET not in out + proc.stderr


def test_the_second_host_gets_the_lower_priority_and_preempt_delay(tmp_path):
    conf = tmp_path / "keepalived.conf"
    inventory = INVENTORY.replace("hosts\n", "")
    play = preflight_play(render=conf, keepalived_nopreempt=False)
    play[0]["hosts"] = "lb-b"
    proc, output = run_playbook(
        tmp_path, play, inventory=inventory, env={"IPGEO_VRRP_SECRET": SECRET}
    )
    assert proc.returncode == 0, output
    lines = [line.strip() for line in conf.read_text().splitlines()]
    assert "priority 190" in lines
    assert "nopreempt" not in lines
    assert "preempt_delay 60" in lines


def test_the_secret_is_not_in_the_verbose_output(tmp_path):
    """The default callback at -vvv (what an operator sees), a passing run that renders the
    file and a failing one."""
    (tmp_path / "play.yml").write_text(
        yaml.safe_dump(preflight_play(render=tmp_path / "k.conf"), sort_keys=False)
    )
    (tmp_path / "inventory.ini").write_text(INVENTORY)
    env = clean_env(
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_CONFIG=str(tmp_path / "none.cfg"),
        PATH=f"{BIN}:{os.environ.get('PATH', '')}",
    )
    for secret, rc in ((SECRET, 0), (SECRET + "-too-long", 2)):
        env["IPGEO_VRRP_SECRET"] = secret
        proc = subprocess.run(
            [str(BIN / "ansible-playbook"), "-vvv", "-i", "inventory.ini", "play.yml"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
            check=False,
        )
        assert proc.returncode == rc, proc.stdout[-2000:]
        assert "keepalived_auth_pass" in proc.stdout or rc == 0
        assert secret not in proc.stdout + proc.stderr


def test_every_task_that_handles_the_secret_is_no_log():
    """Static: every task of the role that reads keepalived_auth_pass (outside a message that
    names it) or writes the template is no_log."""

    def reads_secret(node: object, key: str = "") -> bool:
        if isinstance(node, dict):
            return any(reads_secret(v, str(k)) for k, v in node.items())
        if isinstance(node, list):
            return any(reads_secret(v, key) for v in node)
        return key not in ("name", "msg", "fail_msg") and "keepalived_auth_pass" in str(node)

    checked = 0
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for task in yaml.safe_load(path.read_text()):
            if reads_secret(task) or "ansible.builtin.template" in task:
                assert task.get("no_log") is True, (path.name, task["name"])
                checked += 1
    assert checked >= 3  # the two checks of the secret and the template
