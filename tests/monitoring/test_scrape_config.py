"""Role monitoring's prometheus.yml, rendered by Ansible from an inventory: every app node is a
target of job ipgeo at its node_address (adding a node adds its target), the LB's exporters only
with an LB group, and promtool accepts the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from promlib import REPO, ROLE, run_promtool

TEMPLATE = ROLE / "templates" / "etc" / "prometheus" / "prometheus.yml.j2"


def render(tmp_path: Path, apps: int, lb_group: str) -> dict:
    hosts = "\n".join(
        f"        app{i}: {{node_address: 10.0.1.{10 + i}}}" for i in range(1, apps + 1)
    )
    (tmp_path / "hosts.yml").write_text(
        textwrap.dedent("""\
        all:
          children:
            app_nodes:
              hosts:
        {hosts}
            load_balancers:
              hosts:
                lb1: {{node_address: 10.0.1.2}}
            monitoring:
              hosts:
                mon1: {{node_address: 10.0.1.3, ansible_connection: local}}
        """).format(hosts=textwrap.indent(hosts, "    "))
    )
    out = tmp_path / "prometheus.yml"
    (tmp_path / "render.yml").write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Render",
                    "hosts": "mon1",
                    "gather_facts": False,
                    "vars_files": [str(ROLE / "defaults" / "main.yml")],
                    "tasks": [
                        {
                            "name": "Render",
                            "ansible.builtin.template": {
                                "src": str(TEMPLATE),
                                "dest": str(out),
                                "mode": "0644",
                            },
                        }
                    ],
                }
            ]
        )
    )
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run(
        [
            str(bin_dir / "ansible-playbook"),
            "-i",
            str(tmp_path / "hosts.yml"),
            str(tmp_path / "render.yml"),
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            json.dumps({"monitoring_lb_group": lb_group}),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check = run_promtool("check", "config", "--syntax-only", str(out))
    assert check.returncode == 0, check.stdout + check.stderr
    return yaml.safe_load(out.read_text())


def targets(config: dict, job: str) -> list[tuple[str, str]]:
    (scrape,) = [s for s in config["scrape_configs"] if s["job_name"] == job]
    return [(t, sc["labels"]["node"]) for sc in scrape["static_configs"] for t in sc["targets"]]


@pytest.mark.parametrize("apps", [2, 3])
def test_every_app_node_is_scraped_directly(tmp_path, apps):
    config = render(tmp_path, apps, "load_balancers")
    assert targets(config, "ipgeo") == [
        (f"10.0.1.{10 + i}:8000", f"app{i}") for i in range(1, apps + 1)
    ]
    assert ("10.0.1.2:9113", "lb1") in targets(config, "nginx")
    assert ("10.0.1.2:3903", "lb1") in targets(config, "lb_log")
    assert {n for _, n in targets(config, "node")} == {f"app{i}" for i in range(1, apps + 1)} | {
        "lb1",
        "mon1",
    }
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]


def test_no_lb_jobs_without_an_lb_group(tmp_path):
    config = render(tmp_path, 2, "")
    jobs = {s["job_name"] for s in config["scrape_configs"]}
    assert jobs == {"prometheus", "ipgeo", "node"}
