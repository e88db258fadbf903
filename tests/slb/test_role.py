"""The aliyun_slb role (main, drain, undrain) run by ansible-playbook against the SLB double.

The app nodes are local connections whose own Python is the system one (no SDK): the role's
delegated module tasks must run with the controller's Python (aliyun_slb_python)."""

from __future__ import annotations

import shutil

import pytest
from netutil import free_port
from slb_testlib import AK_ID, AK_SECRET, LB_ID, MARKER, REGION, base_config, run_playbook

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
FOREIGN = {"ServerId": "i-foreign", "Weight": 7, "Description": "added-by-hand"}


def inventory(weights: dict[str, int | None]) -> str:
    # An explicit localhost whose Python lacks the SDK: the module tasks delegated to it must
    # still run with aliyun_slb_python.
    lines = [f"localhost ansible_connection=local ansible_python_interpreter={SYSTEM_PYTHON}"]
    lines.append("[app_nodes]")
    for n, (host, weight) in enumerate(weights.items()):
        line = (
            f"{host} ansible_connection=local ansible_python_interpreter={SYSTEM_PYTHON}"
            f" aliyun_slb_server_id=i-app{n + 1}"
        )
        if weight is not None:
            line += f" aliyun_slb_weight={weight}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def role_vars(double, **extra) -> dict:
    return {
        "aliyun_slb_load_balancer_id": LB_ID,
        "aliyun_slb_region": REGION,
        "aliyun_slb_endpoint": double.endpoint,
        "aliyun_slb_protocol": "http",
        "aliyun_slb_retry_delay": 0.01,
        "aliyun_slb_wait_interval": 0.2,
        "aliyun_slb_wait_timeout": 5,
        "aliyun_slb_drain_wait": 1,
        **extra,
    }


KEYS_ENV = {"ALIBABA_CLOUD_ACCESS_KEY_ID": AK_ID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": AK_SECRET}


def play(double, tasks_from: str = "main", hosts: str = "app_nodes", **extra) -> dict:
    return {
        "hosts": hosts,
        "gather_facts": False,
        "tasks": [
            {
                "name": f"aliyun_slb {tasks_from}",
                "ansible.builtin.include_role": {"name": "aliyun_slb", "tasks_from": tasks_from},
                "vars": role_vars(double, **extra),
            }
        ],
    }


@pytest.fixture
def app_double(start_double, http_backends):
    ports = http_backends(2)
    servers = {"i-app1": f"127.0.0.1:{ports[0]}", "i-app2": f"127.0.0.1:{ports[1]}"}
    servers["i-foreign"] = "127.0.0.1:9"
    servers["i-gone"] = "127.0.0.1:9"
    return start_double(
        base_config(
            servers,
            [FOREIGN, {"ServerId": "i-gone", "Weight": 100, "Description": MARKER}],
        )
    )


def weights(double) -> dict[str, int]:
    return {sid: s["Weight"] for sid, s in double.backends().items()}


def failed_msgs(output: dict) -> list[str]:
    msgs = []
    for p in output["plays"]:
        for task in p["tasks"]:
            for result in task["hosts"].values():
                if result.get("failed"):
                    msgs.append(str(result.get("msg")))
    return msgs


def test_main_makes_the_managed_backends_equal_the_app_nodes(app_double, tmp_path):
    inv = inventory({"app1": None, "app2": 50})
    proc, output = run_playbook(tmp_path, [play(app_double)], inventory=inv, env=KEYS_ENV)
    assert proc.returncode == 0, failed_msgs(output) or proc.stdout[-3000:]
    assert weights(app_double) == {"i-foreign": 7, "i-app1": 100, "i-app2": 50}
    assert app_double.backends()["i-app1"]["Description"] == MARKER
    writes = len(app_double.writes())
    assert writes == 2  # one AddBackendServers batch, one RemoveBackendServers batch

    proc, output = run_playbook(tmp_path, [play(app_double)], inventory=inv, env=KEYS_ENV)
    assert proc.returncode == 0
    assert output["stats"]["app1"]["changed"] == 0
    assert len(app_double.writes()) == writes


def test_main_in_check_and_diff_mode_shows_the_change_and_writes_nothing(app_double, tmp_path):
    inv = inventory({"app1": None, "app2": None})
    proc, output = run_playbook(
        tmp_path, [play(app_double)], inventory=inv, env=KEYS_ENV, extra_args=["--check", "--diff"]
    )
    assert proc.returncode == 0, failed_msgs(output)
    assert app_double.writes() == []
    shown = [
        r["msg"]
        for t in output["plays"][0]["tasks"]
        for r in t["hosts"].values()
        if isinstance(r.get("msg"), dict) and "before" in r["msg"]
    ]
    assert shown, output
    assert shown[0]["before"] == [
        "i-foreign weight=7 unmanaged (added-by-hand)",
        "i-gone weight=100 managed",
    ]
    assert shown[0]["after"] == [
        "i-app1 weight=100 managed",
        "i-app2 weight=100 managed",
        "i-foreign weight=7 unmanaged (added-by-hand)",
    ]


def test_wrong_secret_fails_the_play_with_the_auth_error_and_changes_nothing(app_double, tmp_path):
    before = app_double.backends()
    wrong = "definitely-not-the-secret"
    inv = inventory({"app1": None, "app2": None})
    proc, output = run_playbook(
        tmp_path,
        [play(app_double, aliyun_slb_access_key_secret=wrong)],
        inventory=inv,
        env=KEYS_ENV,
    )
    assert proc.returncode != 0
    msgs = failed_msgs(output)
    assert any("SignatureDoesNotMatch" in m for m in msgs), msgs
    assert app_double.writes() == []
    assert app_double.backends() == before
    assert wrong not in proc.stdout + proc.stderr
    assert AK_SECRET not in proc.stdout + proc.stderr


def test_missing_keys_fail_the_play_before_any_api_call(app_double, tmp_path):
    inv = inventory({"app1": None, "app2": None})
    proc, output = run_playbook(tmp_path, [play(app_double)], inventory=inv)
    assert proc.returncode != 0
    assert any("access keys are missing" in m for m in failed_msgs(output))
    assert app_double.calls() == []


def test_drain_then_undrain_the_current_host(app_double, tmp_path):
    inv = inventory({"app1": None, "app2": 50})
    run_playbook(tmp_path, [play(app_double)], inventory=inv, env=KEYS_ENV)
    assert weights(app_double)["i-app2"] == 50

    proc, output = run_playbook(
        tmp_path, [play(app_double, "drain", hosts="app2")], inventory=inv, env=KEYS_ENV
    )
    assert proc.returncode == 0, failed_msgs(output)
    assert weights(app_double) == {"i-foreign": 7, "i-app1": 100, "i-app2": 0}
    waited = [t for t in output["plays"][0]["tasks"] if "in-flight" in t["task"]["name"]]
    assert waited and not waited[0]["hosts"]["app2"].get("skipped")

    proc, output = run_playbook(
        tmp_path, [play(app_double, "undrain", hosts="app2")], inventory=inv, env=KEYS_ENV
    )
    assert proc.returncode == 0, failed_msgs(output)
    assert weights(app_double) == {"i-foreign": 7, "i-app1": 100, "i-app2": 50}
    health_calls = [c for c in app_double.calls() if c["action"] == "DescribeHealthStatus"]
    assert health_calls and all(c["ok"] for c in health_calls)


def test_undrain_fails_when_the_node_never_becomes_normal(start_double, tmp_path):
    double = start_double(
        base_config(
            {"i-app1": f"127.0.0.1:{free_port()}"},
            [{"ServerId": "i-app1", "Weight": 0, "Description": MARKER}],
        )
    )
    inv = inventory({"app1": None})
    proc, output = run_playbook(
        tmp_path,
        [play(double, "undrain", hosts="app1", aliyun_slb_wait_timeout=1)],
        inventory=inv,
        env=KEYS_ENV,
    )
    assert proc.returncode != 0
    assert any("HealthTimeout" in m for m in failed_msgs(output))


def test_drain_refuses_a_host_without_a_server_id(app_double, tmp_path):
    inv = f"[app_nodes]\napp1 ansible_connection=local ansible_python_interpreter={SYSTEM_PYTHON}\n"
    proc, output = run_playbook(
        tmp_path, [play(app_double, "drain", hosts="app1")], inventory=inv, env=KEYS_ENV
    )
    assert proc.returncode != 0
    assert any("aliyun_slb_server_id" in m for m in failed_msgs(output))
    assert app_double.calls() == []


def test_main_with_https_uploads_once_from_a_vault_key_and_a_rerun_changes_nothing(
    app_double, tmp_path
):
    """HTTPS on: the key comes from an ansible-vault encrypted file; the first run uploads the
    certificate and creates the listener, the second makes no write call and reports no change,
    and the key shows in no output."""
    import json
    import subprocess

    from slb_testlib import BIN, REPO, clean_env

    tls = tmp_path / "tls"
    subprocess.run(
        ["bash", str(REPO / "scripts" / "demo-tls-ca.sh"), str(tls)],
        check=True,
        capture_output=True,
    )
    key_text = (tls / "lb.key").read_text()
    password = tmp_path / "vault-pass"
    password.write_text("test-vault-password\n")
    subprocess.run(
        [
            str(BIN / "ansible-vault"),
            "encrypt",
            "--vault-password-file",
            str(password),
            str(tls / "lb.key"),
        ],
        check=True,
        capture_output=True,
        env=clean_env(),
    )
    assert (tls / "lb.key").read_text().startswith("$ANSIBLE_VAULT;")
    https = {
        "aliyun_slb_https_enabled": True,
        "aliyun_slb_https_certificate_src": str(tls / "lb.crt"),
        "aliyun_slb_https_private_key_src": str(tls / "lb.key"),
    }
    inv = inventory({"app1": None, "app2": 50})
    vault = ["--vault-password-file", str(password)]
    proc, output = run_playbook(
        tmp_path, [play(app_double, **https)], inventory=inv, env=KEYS_ENV, extra_args=vault
    )
    assert proc.returncode == 0, failed_msgs(output) or proc.stdout[-3000:]
    https_writes = [c["action"] for c in app_double.writes() if c["action"].find("Backend") < 0]
    assert https_writes == [
        "UploadServerCertificate",
        "CreateLoadBalancerHTTPSListener",
        "StartLoadBalancerListener",
    ]
    key_body = "".join(key_text.strip().splitlines()[1:-1])[:40]
    assert key_body not in proc.stdout.replace("\\n", "") + proc.stderr
    writes = len(app_double.writes())

    proc, output = run_playbook(
        tmp_path,
        [play(app_double, **https)],
        inventory=inv,
        env=KEYS_ENV,
        extra_args=[*vault, "--diff"],
    )
    assert proc.returncode == 0, failed_msgs(output)
    assert output["stats"]["app1"]["changed"] == 0
    assert len(app_double.writes()) == writes
    assert key_body not in json.dumps(output).replace("\\n", "")


def test_main_with_https_and_no_key_fails_before_any_call(app_double, tmp_path):
    inv = inventory({"app1": None, "app2": None})
    proc, _ = run_playbook(
        tmp_path,
        [play(app_double, aliyun_slb_https_enabled=True, aliyun_slb_https_certificate_src="/x")],
        inventory=inv,
        env=KEYS_ENV,
    )
    assert proc.returncode != 0
    assert not [c for c in app_double.calls() if "Certificate" in c["action"]]
