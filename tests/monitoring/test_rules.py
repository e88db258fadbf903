"""Role monitoring's alert rules: promtool's unit tests (rules_test.yml) pass with the role's
defaults and fail when a rule changes; every alert has its runbook section in the README."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml
from promlib import ROLE, render_rules, run_promtool

HERE = Path(__file__).resolve().parent


def alerts(text: str) -> list[dict]:
    return [r for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "alert" in r]


def promtool_test(tmp_path: Path, rules: str) -> tuple[int, str]:
    (tmp_path / "ipgeo.yml").write_text(rules)
    shutil.copy(HERE / "rules_test.yml", tmp_path / "rules_test.yml")
    proc = run_promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    return proc.returncode, proc.stdout + proc.stderr


def test_rules_check(tmp_path):
    (tmp_path / "ipgeo.yml").write_text(render_rules())
    proc = run_promtool("check", "rules", str(tmp_path / "ipgeo.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 9 rules found" in proc.stdout


def test_rules_unit_tests_pass(tmp_path):
    code, out = promtool_test(tmp_path, render_rules())
    assert code == 0, out


def test_every_alert_is_tested_firing():
    tested = yaml.safe_load((HERE / "rules_test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tested
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert fired == {a["alert"] for a in alerts(render_rules())}


def test_the_unit_tests_catch_a_changed_rule(tmp_path):
    # A longer `for:` or a higher threshold and the fixtures that expect the alert fail.
    code, out = promtool_test(tmp_path, render_rules(monitoring_alert_node_down_for="5m"))
    assert code != 0 and "IpgeoNodeDown" in out
    code, out = promtool_test(tmp_path, render_rules(monitoring_alert_lb_5xx_ratio=0.5))
    assert code != 0 and "IpgeoLbErrorRatioHigh" in out


def test_variables_reach_the_rules():
    rules = {a["alert"]: a for a in alerts(render_rules(monitoring_alert_node_down_for="10s"))}
    assert rules["IpgeoNodeDown"]["for"] == "10s"


def test_every_alert_has_a_runbook_section():
    readme = (ROLE / "README.md").read_text()
    for alert in alerts(render_rules()):
        name = alert["alert"]
        assert set(alert["annotations"]) == {"summary", "description", "runbook"}, name
        assert alert["annotations"]["runbook"] == f"roles/monitoring/README.md#{name.lower()}"
        section = re.search(rf"^### {name}\n(.*?)(?=^##|\Z)", readme, re.M | re.S)
        assert section, f"README has no section ### {name}"
        for part in ("**Meaning**", "**Check**", "**Act**"):
            assert part in section.group(1), f"{name}: {part} missing"
