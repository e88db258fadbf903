"""The roles' contracts: defaults and argument_specs agree, entry points are documented, no role
reads another's variables, every notified handler exists. Each check also runs on a small broken
tree, to show it fails."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from contracts import (
    check_defaults_match_specs,
    check_entry_points,
    check_no_foreign_variables,
    check_notified_handlers,
)

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
PLAYBOOKS = [REPO / "site.yml", *sorted((REPO / "playbooks").glob("*.yml"))]


def test_the_repository_has_the_roles_and_playbooks():
    assert {"lb", "nginx_lb", "aliyun_slb", "ipgeo_app", "ipgeo_db", "ipgeo_service"} <= {
        p.name for p in ROLES.iterdir()
    }
    assert len(PLAYBOOKS) >= 5


def test_defaults_and_argument_specs_agree():
    assert check_defaults_match_specs(ROLES) == []


@pytest.mark.parametrize(
    "check", [check_entry_points, check_no_foreign_variables, check_notified_handlers]
)
def test_the_repository_keeps_its_contracts(check):
    assert check(ROLES, PLAYBOOKS) == []


def test_every_role_has_a_readme_with_entry_points_and_variables():
    for role in sorted(p for p in ROLES.iterdir() if (p / "tasks").is_dir()):
        readme = role / "README.md"
        assert readme.exists(), role.name
        text = readme.read_text()
        assert "## Entry points" in text, role.name
        assert "| variable |" in text, role.name


# Broken trees: every check must find what is wrong in them.


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def task(*lines: str) -> str:
    """A task file with one debug task and these keys."""
    return "- name: T\n  ansible.builtin.debug:\n" + "".join(f"  {line}\n" for line in lines)


def play(*lines: str) -> str:
    """A playbook with one play and one task of these lines."""
    body = "".join(f"      {line}\n" for line in lines)
    return f"- name: P\n  hosts: all\n  tasks:\n    - name: T\n{body}"


GOOD = {
    "roles/alpha/defaults/main.yml": "alpha_port: 80\nalpha_name: a\n",
    "roles/alpha/meta/argument_specs.yml": """\
        argument_specs:
          main:
            options:
              alpha_port: {type: int, default: 80}
              alpha_name: {type: str, default: a}
          drain:
            options:
              alpha_port: {type: int, default: 80}
              alpha_host: {type: str, required: true}
        """,
    "roles/alpha/tasks/main.yml": task("msg: '{{ alpha_port }}'"),
    "roles/alpha/tasks/drain.yml": task("msg: '{{ alpha_host }}'"),
    "roles/alpha/handlers/main.yml": task("listen: alpha restart"),
    "roles/beta/defaults/main.yml": "beta_port: 81\n",
    "roles/beta/meta/argument_specs.yml": """\
        argument_specs:
          main:
            options:
              beta_port: {type: int, default: 81}
        """,
    "roles/beta/tasks/main.yml": """\
        - name: Notify alpha's topic
          ansible.builtin.debug:
            msg: "{{ beta_port }} {{ 'alpha_port' }}"
          notify: alpha restart
          when: beta_port > 0
        """,
    "site.yml": """\
        - name: Play
          hosts: all
          tasks:
            - name: Drain
              ansible.builtin.include_role:
                name: alpha
                tasks_from: drain
              vars:
                alpha_port: "{{ beta_port }}"
        """,
}


@pytest.fixture
def tree(tmp_path):
    write(tmp_path, GOOD)
    return tmp_path


def run_all(root: Path) -> list[str]:
    roles, books = root / "roles", [root / "site.yml"]
    return (
        check_defaults_match_specs(roles)
        + check_entry_points(roles, books)
        + check_no_foreign_variables(roles, books)
        + check_notified_handlers(roles, books)
    )


def test_a_good_tree_passes(tree):
    assert run_all(tree) == []


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"roles/alpha/defaults/main.yml": "alpha_port: 80\nalpha_name: a\nalpha_new: 1\n"},
         "default alpha_new is not an option of argument_specs main"),
        ({"roles/beta/defaults/main.yml": "beta_port: 81\nbeta__cache: {}\n"},
         "internal variable beta__cache"),
        ({"roles/alpha/defaults/main.yml": "alpha_port: 8080\nalpha_name: a\n"},
         "main option alpha_port default 80 != defaults/main.yml 8080"),
        ({"roles/alpha/defaults/main.yml": "alpha_port: 80\n"},
         "main option alpha_name has a default, defaults none"),
        ({"roles/alpha/tasks/drain.yml": None}, "entry point drain has no tasks/drain.yml"),
        ({"site.yml": play("ansible.builtin.include_role: {name: alpha, tasks_from: undrain}")},
         "tasks_from undrain of role alpha has no argument_specs"),
        ({"roles/beta/tasks/main.yml": task("vars: {x: '{{ alpha_port }}'}")},
         "reads alpha_port of role alpha"),
        ({"roles/beta/tasks/main.yml": task("when: alpha_name == 'x'")},
         "reads alpha_name of role alpha"),
        ({"roles/beta/templates/x.conf.j2": "port = {{ alpha_port }}\n"},
         "reads alpha_port of role alpha"),
        ({"site.yml": play("ansible.builtin.debug:", "  msg: '{{ alpha__build.release }}'")},
         "reads the internal variable alpha__build"),
        ({"roles/beta/tasks/main.yml": task("notify: Restart alpha now")},
         "notifies 'Restart alpha now'; no handler has that name or topic"),
    ],
)  # fmt: skip
def test_a_broken_tree_fails(tree, files, problem):
    for name, text in files.items():
        if text is None:
            (tree / name).unlink()
        else:
            write(tree, {name: text})
    problems = run_all(tree)
    assert any(problem in p for p in problems), problems
