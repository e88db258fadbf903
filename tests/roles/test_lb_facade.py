"""Role lb, the load balancer facade, in SLB mode against the SLB API test double
(molecule/harness/slb_double.py): backends, drain and undrain reach role aliyun_slb, picked from
lb_mode alone; a wrong lb_mode stops the play with the inventory's message."""

from __future__ import annotations

import shutil

import pytest
from slb_testlib import (
    AK_ID,
    AK_SECRET,
    LB_ID,
    REGION,
    base_config,
    http_backends,
    run_playbook,
    start_double,
)

__all__ = ["http_backends", "start_double"]  # fixtures

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
KEYS_ENV = {"ALIBABA_CLOUD_ACCESS_KEY_ID": AK_ID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": AK_SECRET}
INVENTORY = "".join(
    [
        f"localhost ansible_connection=local ansible_python_interpreter={SYSTEM_PYTHON}\n",
        "[app_nodes]\n",
        f"app1 ansible_connection=local aliyun_slb_server_id=i-app1 aliyun_slb_weight=80"
        f" ansible_python_interpreter={SYSTEM_PYTHON}\n",
    ]
)


@pytest.fixture
def double(start_double, http_backends):
    (port,) = http_backends(1)
    return start_double(base_config({"i-app1": f"127.0.0.1:{port}"}))


def play(double, tasks_from: str, **extra) -> dict:
    return {
        "hosts": "app_nodes",
        "gather_facts": False,
        "vars": {
            "lb_mode": "slb",
            "aliyun_slb_load_balancer_id": LB_ID,
            "aliyun_slb_region": REGION,
            "aliyun_slb_endpoint": double.endpoint,
            "aliyun_slb_protocol": "http",
            "aliyun_slb_drain_wait": 0,
            "aliyun_slb_wait_interval": 0.2,
            "aliyun_slb_wait_timeout": 5,
            **extra,
        },
        "tasks": [
            {
                "name": f"lb {tasks_from}",
                "ansible.builtin.include_role": {"name": "lb", "tasks_from": tasks_from},
            },
            {
                "name": "Show the outputs",
                "ansible.builtin.debug": {"msg": "{{ lb_selected_mode }} {{ lb_selected_role }}"},
            },
        ],
    }


def weight(double) -> int | None:
    server = double.backends().get("i-app1")
    return server["Weight"] if server else None


def run(tmp_path, double, tasks_from, **extra):
    proc, output = run_playbook(
        tmp_path, [play(double, tasks_from, **extra)], inventory=INVENTORY, env=KEYS_ENV
    )
    return proc, output


def messages(output: dict) -> list[str]:
    return [
        str(result.get("msg"))
        for p in output["plays"]
        for task in p["tasks"]
        for result in task["hosts"].values()
        if "msg" in result
    ]


def test_backends_drain_and_undrain_reach_the_slb(tmp_path, double):
    proc, output = run(tmp_path, double, "backends")
    assert proc.returncode == 0, messages(output)
    assert weight(double) == 80
    assert "slb aliyun_slb" in messages(output)

    proc, output = run(tmp_path, double, "drain")
    assert proc.returncode == 0, messages(output)
    assert weight(double) == 0

    proc, output = run(tmp_path, double, "undrain")
    assert proc.returncode == 0, messages(output)
    assert weight(double) == 80


def test_a_wrong_lb_mode_stops_the_play(tmp_path, double):
    proc, output = run(tmp_path, double, "drain", lb_mode="haproxy")
    assert proc.returncode != 0
    assert (
        "lb_mode is 'haproxy'; set it to 'nginx' or 'slb' in the inventory's group_vars."
        in messages(output)
    )
    assert double.writes() == []


# nginx mode: two load balancers need lb_vip (tasks/mode.yml, run first by every entry point).
PAIR = "".join(
    [
        "[load_balancers]\n",
        f"lb1 ansible_connection=local ansible_python_interpreter={SYSTEM_PYTHON}\n",
        f"lb2 ansible_connection=local ansible_python_interpreter={SYSTEM_PYTHON}\n",
    ]
)


def run_mode(tmp_path, inventory: str = PAIR, **play_vars):
    plays = [
        {
            "hosts": "lb1",
            "gather_facts": False,
            "vars": play_vars,
            "tasks": [
                {
                    "name": "lb mode",
                    "ansible.builtin.include_role": {"name": "lb", "tasks_from": "mode"},
                }
            ],
        }
    ]
    return run_playbook(tmp_path, plays, inventory=inventory)


def test_a_pair_of_nginx_load_balancers_without_lb_vip_stops_the_play(tmp_path):
    proc, output = run_mode(tmp_path, lb_mode="nginx")
    assert proc.returncode != 0
    assert any(
        m.startswith("The group load_balancers holds 2 nginx load balancers but lb_vip is empty:")
        and "set lb_vip (group_vars/all)" in m
        for m in messages(output)
    ), messages(output)


@pytest.mark.parametrize(
    ("inventory", "play_vars"),
    [
        (PAIR, {"lb_mode": "nginx", "lb_vip": "10.0.1.100"}),
        (PAIR, {"lb_mode": "slb"}),
        (PAIR.replace("lb2 ", "# lb2 "), {"lb_mode": "nginx"}),
    ],
)
def test_lb_vip_is_needed_only_by_a_pair_of_nginx_load_balancers(tmp_path, inventory, play_vars):
    proc, output = run_mode(tmp_path, inventory, **play_vars)
    assert proc.returncode == 0, messages(output)
