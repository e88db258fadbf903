"""Role nginx_lb's upstream on the controller: the template lists every app node once as a
primary server (max_fails, max_conns) and once more as a fail-open `backup` that is never marked
failed; a drain (the regular expression tasks/drain.yml uses) marks both lines of a node down and
leaves the other node alone. nginx's behaviour with these lines (backups answer while both
primaries sit out) is what the ops scenario's check-mode event meets on a starved host."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from slb_testlib import run_playbook

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "nginx_lb"
BIN = Path(sys.executable).parent
INVENTORY = (
    "[app_nodes]\n"
    "app2 node_address=10.0.0.12\n"
    "app1 node_address=10.0.0.11\n"
    "[load_balancers]\n"
    f"lb ansible_connection=local ansible_python_interpreter={sys.executable}\n"
)


@pytest.fixture(scope="module", autouse=True)
def controller():
    if not (BIN / "ansible-playbook").exists():
        pytest.skip("needs the controller venv (ansible-playbook)")


def render(tmp_path: Path, **extra) -> str:
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    dest = tmp_path / "nginx.conf"
    plays = [
        {
            "name": "Render",
            "hosts": "lb",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Render nginx.conf",
                    "ansible.builtin.template": {
                        "src": str(ROLE / "templates/etc/nginx/nginx.conf.j2"),
                        "dest": str(dest),
                        "mode": "0644",
                    },
                    "vars": {**defaults, **extra},
                }
            ],
        }
    ]
    proc, out = run_playbook(tmp_path, plays, inventory=INVENTORY)
    assert proc.returncode == 0, json.dumps(out) + proc.stderr
    return dest.read_text()


def upstream_lines(conf: str) -> list[str]:
    block = re.search(r"upstream ipgeo_app \{(.*?)\n    \}", conf, re.S)
    assert block, conf
    return [ln.strip() for ln in block.group(1).splitlines() if ln.strip().startswith("server ")]


def drain(conf: str, host: str, mark: str = "down") -> str:
    """What tasks/drain.yml's replace task does (Python re, MULTILINE, every match)."""
    line = yaml.safe_load((ROLE / "vars/main.yml").read_text())["nginx_lb__server_line"]
    regexp = line.replace("{{ inventory_hostname | regex_escape }}", re.escape(host))
    replace = r"\g<1>" + (" down" if mark == "down" else "") + r";\g<3>"
    return re.sub(regexp, replace, conf, flags=re.MULTILINE)


def test_every_node_has_a_primary_and_a_fail_open_backup_line(tmp_path):
    lines = upstream_lines(render(tmp_path))
    assert lines == [
        "server 10.0.0.11:8000 max_fails=1 fail_timeout=2s max_conns=32;  # app1",
        "server 10.0.0.12:8000 max_fails=1 fail_timeout=2s max_conns=32;  # app2",
        "server 10.0.0.11:8000 backup max_fails=0 max_conns=8;  # app1",
        "server 10.0.0.12:8000 backup max_fails=0 max_conns=8;  # app2",
    ]


def test_no_backups_when_fail_open_is_off(tmp_path):
    lines = upstream_lines(render(tmp_path, nginx_lb_fail_open_max_conns=0))
    assert [ln for ln in lines if "backup" in ln] == []
    assert len(lines) == 2


def test_a_drain_marks_both_lines_of_the_node_down_and_an_undrain_clears_them(tmp_path):
    conf = render(tmp_path)
    drained = upstream_lines(drain(conf, "app1"))
    assert [ln for ln in drained if ln.endswith("# app1")] == [
        "server 10.0.0.11:8000 max_fails=1 fail_timeout=2s max_conns=32 down;  # app1",
        "server 10.0.0.11:8000 backup max_fails=0 max_conns=8 down;  # app1",
    ]
    assert not any("down" in ln for ln in drained if ln.endswith("# app2"))
    assert upstream_lines(drain(drain(conf, "app1"), "app1", mark="up")) == upstream_lines(conf)
