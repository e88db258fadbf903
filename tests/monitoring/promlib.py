"""Helpers of tests/monitoring: promtool (scripts/promtool-deps.sh puts it at build/tools) and
role monitoring's alert rules rendered as Ansible renders them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "monitoring"
RULES_TEMPLATE = ROLE / "templates" / "etc" / "prometheus" / "rules" / "ipgeo.yml.j2"


def promtool() -> str:
    local = REPO / "build" / "tools" / "promtool"
    if local.exists():
        return str(local)
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: run scripts/promtool-deps.sh (make unit runs it)")
    return found


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def role_defaults() -> dict[str, Any]:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def render_rules(**overrides: Any) -> str:
    """The rules file as the role's template task writes it ([[ ]] as Ansible's delimiters)."""
    env = jinja2.Environment(
        variable_start_string="[[",
        variable_end_string="]]",
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    template = env.from_string(RULES_TEMPLATE.read_text())
    values = {**role_defaults(), **overrides}
    return template.render(ansible_managed="rendered by tests/monitoring", **values)
