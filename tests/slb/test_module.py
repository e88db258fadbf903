"""The aliyun_slb_backends module, run by ansible-playbook on localhost against the SLB double."""

from __future__ import annotations

import os

import pytest
from netutil import free_port
from slb_testlib import (
    AK_SECRET,
    LB_ID,
    MARKER,
    base_config,
    load_library_module,
    module_args,
    run_module,
)


def managed(server_id: str, weight: int = 100) -> dict:
    return {"ServerId": server_id, "Weight": weight, "Description": MARKER}


FOREIGN = {"ServerId": "i-foreign", "Weight": 7, "Description": "added-by-hand"}
SERVERS = {sid: f"127.0.0.1:{n + 1}" for n, sid in enumerate(["i-a", "i-b", "i-old", "i-foreign"])}


def mixed_double(start_double):
    return start_double(base_config(SERVERS, [FOREIGN, managed("i-old"), managed("i-b")]))


WANTED = [{"server_id": "i-a", "weight": 100}, {"server_id": "i-b", "weight": 40}]


def weights(double) -> dict[str, int]:
    return {sid: s["Weight"] for sid, s in double.backends().items()}


def test_adds_missing_updates_weights_removes_stale_and_keeps_foreign(start_double, tmp_path):
    double = mixed_double(start_double)
    result = run_module(tmp_path, module_args(double, backends=WANTED))
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["added"] == [{"server_id": "i-a", "weight": 100}]
    assert result["updated"] == [{"server_id": "i-b", "before": 100, "weight": 40}]
    assert [r["server_id"] for r in result["removed"]] == ["i-old"]
    assert weights(double) == {"i-foreign": 7, "i-a": 100, "i-b": 40}
    backends = double.backends()
    assert backends["i-a"]["Description"] == MARKER
    assert backends["i-foreign"]["Description"] == "added-by-hand"
    assert {b["server_id"]: b["managed"] for b in result["backends"]} == {
        "i-a": True,
        "i-b": True,
        "i-foreign": False,
    }
    assert [c["action"] for c in double.writes()] == [
        "AddBackendServers",
        "SetBackendServers",
        "RemoveBackendServers",
    ]


def test_a_wanted_server_attached_by_someone_else_is_left_alone(start_double, tmp_path):
    double = mixed_double(start_double)
    wanted = [*WANTED, {"server_id": "i-foreign", "weight": 100}]
    result = run_module(tmp_path, module_args(double, backends=wanted))
    assert result["unmanaged"] == ["i-foreign"]
    assert double.backends()["i-foreign"] == {**FOREIGN, "Type": "ecs"}


def test_check_mode_reports_the_plan_and_writes_nothing(start_double, tmp_path):
    double = mixed_double(start_double)
    before = double.backends()
    result = run_module(tmp_path, module_args(double, backends=WANTED), check=True, diff=True)
    assert result["changed"] is True
    assert result["added"] == [{"server_id": "i-a", "weight": 100}]
    assert [r["server_id"] for r in result["removed"]] == ["i-old"]
    assert double.writes() == []
    assert [c["action"] for c in double.calls()] == ["DescribeLoadBalancerAttribute"]
    assert double.backends() == before
    assert result["diff"]["before"].splitlines() == [
        "i-b weight=100 managed",
        "i-foreign weight=7 unmanaged (added-by-hand)",
        "i-old weight=100 managed",
    ]
    assert result["diff"]["after"].splitlines() == [
        "i-a weight=100 managed",
        "i-b weight=40 managed",
        "i-foreign weight=7 unmanaged (added-by-hand)",
    ]


def test_second_run_is_idempotent_and_makes_no_write_call(start_double, tmp_path):
    double = mixed_double(start_double)
    first = run_module(tmp_path, module_args(double, backends=WANTED))
    writes_after_first = len(double.writes())
    second = run_module(tmp_path, module_args(double, backends=WANTED))
    assert first["changed"] is True and writes_after_first == 3
    assert second["changed"] is False
    assert (second["added"], second["updated"], second["removed"]) == ([], [], [])
    assert len(double.writes()) == writes_after_first


def test_batches_of_at_most_20_servers(start_double, tmp_path):
    ids = [f"i-n{n:03d}" for n in range(45)]
    double = start_double(base_config({sid: f"127.0.0.1:{n + 1}" for n, sid in enumerate(ids)}))
    wanted = [{"server_id": sid, "weight": 100} for sid in ids]
    assert run_module(tmp_path, module_args(double, backends=wanted))["changed"]
    assert len(double.backends()) == 45
    reweighted = [{"server_id": sid, "weight": 10} for sid in ids]
    assert run_module(tmp_path, module_args(double, backends=reweighted))["changed"]
    assert set(weights(double).values()) == {10}
    assert run_module(tmp_path, module_args(double, backends=[]))["changed"]
    assert double.backends() == {}
    sizes = [(c["action"], len(c["server_ids"])) for c in double.writes()]
    assert sizes == [
        ("AddBackendServers", 20),
        ("AddBackendServers", 20),
        ("AddBackendServers", 5),
        ("SetBackendServers", 20),
        ("SetBackendServers", 20),
        ("SetBackendServers", 5),
        ("RemoveBackendServers", 20),
        ("RemoveBackendServers", 20),
        ("RemoveBackendServers", 5),
    ]
    assert all(c["ok"] for c in double.calls())


def test_bad_secret_fails_with_the_auth_error_and_changes_nothing(start_double, tmp_path):
    double = mixed_double(start_double)
    before = double.backends()
    wrong = "this-is-the-wrong-secret"
    result = run_module(tmp_path, module_args(double, backends=WANTED, access_key_secret=wrong))
    assert result["failed"] is True
    assert result["error_code"] == "SignatureDoesNotMatch"
    assert "SignatureDoesNotMatch" in result["msg"]
    assert "RequestId" in result["msg"]
    assert result["changed"] is False
    assert double.writes() == []
    assert double.backends() == before
    assert wrong not in str(result)


def test_unknown_access_key_id_fails_with_its_code(start_double, tmp_path):
    double = mixed_double(start_double)
    result = run_module(
        tmp_path, module_args(double, backends=WANTED, access_key_id="LTAI5tNobody")
    )
    assert result["failed"] is True
    assert result["error_code"] == "InvalidAccessKeyId.NotFound"


def test_unknown_load_balancer_fails_with_its_code(start_double, tmp_path):
    double = mixed_double(start_double)
    result = run_module(tmp_path, module_args(double, backends=WANTED, load_balancer_id="lb-nope"))
    assert result["failed"] is True
    assert result["error_code"] == "InvalidLoadBalancerId.NotFound"
    assert "does not exist" in result["msg"]


def test_missing_keys_fail_fast_without_any_network_call(start_double, tmp_path):
    double = mixed_double(start_double)
    args = module_args(double, backends=WANTED)
    del args["access_key_id"], args["access_key_secret"]
    result = run_module(tmp_path, args)
    assert result["failed"] is True
    assert "access keys are missing" in result["msg"]
    assert double.calls() == []


def test_keys_come_from_the_environment(start_double, tmp_path):
    double = mixed_double(start_double)
    args = module_args(double, backends=WANTED)
    key_id, secret = args.pop("access_key_id"), args.pop("access_key_secret")
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": key_id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret}
    result = run_module(tmp_path, args, env=env)
    assert not result.get("failed"), result
    assert result["changed"] is True


@pytest.mark.parametrize("code", ["Throttling", "Throttling.User"])
def test_throttling_is_retried_and_succeeds(start_double, tmp_path, code):
    double = mixed_double(start_double)
    double.throttle(3, ["AddBackendServers"], code=code)
    result = run_module(tmp_path, module_args(double, backends=WANTED))
    assert not result.get("failed"), result
    assert result["throttle_retries"] == 3
    adds = [(c["status"], c["code"]) for c in double.calls() if c["action"] == "AddBackendServers"]
    assert adds == [(400, code)] * 3 + [(200, None)]
    assert weights(double)["i-a"] == 100


def test_throttling_retries_are_bounded(start_double, tmp_path):
    double = mixed_double(start_double)
    double.throttle(10)
    result = run_module(tmp_path, module_args(double, backends=WANTED, max_retries=2))
    assert result["failed"] is True
    assert result["error_code"] == "Throttling"
    assert len(double.calls()) == 3
    assert double.writes() == []


def test_weight_zero_drains_and_restore_waits_for_normal(start_double, http_backends, tmp_path):
    (port,) = http_backends(1)
    upstream = tmp_path / "upstream.inc"
    config = base_config({"i-a": f"127.0.0.1:{port}"}, [managed("i-a", 100), FOREIGN])
    config["servers"]["i-foreign"] = "127.0.0.1:9"
    config["data_plane"] = {"upstream_file": str(upstream), "load_balancer_id": LB_ID}
    double = start_double(config)
    drain = module_args(double, state="weight", server_id="i-a", weight=0)
    result = run_module(tmp_path, drain, diff=True)
    assert result["changed"] is True
    assert result["updated"] == [{"server_id": "i-a", "before": 100, "weight": 0}]
    assert weights(double) == {"i-a": 0, "i-foreign": 7}
    assert f"server 127.0.0.1:{port} down;" in upstream.read_text()
    assert run_module(tmp_path, drain)["changed"] is False
    restore = module_args(
        double, state="weight", server_id="i-a", weight=100, wait_health="normal", wait_interval=0.2
    )
    result = run_module(tmp_path, restore)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["health"] == {"i-a": ["normal"]}
    assert weights(double) == {"i-a": 100, "i-foreign": 7}
    assert f"server 127.0.0.1:{port} weight=100 max_fails=0;" in upstream.read_text()
    assert "DescribeHealthStatus" in [c["action"] for c in double.calls()]


def test_present_can_wait_for_all_managed_servers_to_be_normal(
    start_double, http_backends, tmp_path
):
    ports = http_backends(2)
    servers = {"i-a": f"127.0.0.1:{ports[0]}", "i-b": f"127.0.0.1:{ports[1]}"}
    double = start_double(base_config(servers))
    args = module_args(double, backends=WANTED, wait_health="normal", wait_interval=0.2)
    result = run_module(tmp_path, args)
    assert not result.get("failed"), result
    assert result["health"] == {"i-a": ["normal"], "i-b": ["normal"]}


def test_waiting_for_normal_times_out_on_a_dead_server(start_double, tmp_path):
    double = start_double(base_config({"i-a": f"127.0.0.1:{free_port()}"}, [managed("i-a", 0)]))
    args = module_args(
        double,
        state="weight",
        server_id="i-a",
        weight=50,
        wait_health="normal",
        wait_timeout=1,
        wait_interval=0.2,
    )
    result = run_module(tmp_path, args)
    assert result["failed"] is True
    assert result["error_code"] == "HealthTimeout"
    assert "abnormal" in result["msg"]


def test_check_mode_drain_writes_nothing(start_double, tmp_path):
    double = start_double(base_config({"i-a": "127.0.0.1:1"}, [managed("i-a", 100)]))
    args = module_args(double, state="weight", server_id="i-a", weight=0)
    result = run_module(tmp_path, args, check=True)
    assert result["changed"] is True
    assert double.writes() == []
    assert weights(double) == {"i-a": 100}


def test_weight_of_a_foreign_or_absent_server_is_refused(start_double, tmp_path):
    double = mixed_double(start_double)
    foreign = run_module(
        tmp_path, module_args(double, state="weight", server_id="i-foreign", weight=0)
    )
    absent = run_module(tmp_path, module_args(double, state="weight", server_id="i-zzz", weight=0))
    assert foreign["failed"] and foreign["error_code"] == "ServerNotManaged"
    assert absent["failed"] and absent["error_code"] == "ServerNotAttached"
    assert double.writes() == []


def test_invalid_marker_and_duplicates_fail_before_any_call(start_double, tmp_path):
    double = mixed_double(start_double)
    bad_marker = run_module(
        tmp_path, module_args(double, backends=WANTED, managed_description="no spaces allowed")
    )
    dup = run_module(tmp_path, module_args(double, backends=[*WANTED, WANTED[0]]))
    assert bad_marker["failed"] and "managed_description" in bad_marker["msg"]
    assert dup["failed"] and "listed twice" in dup["msg"]
    assert double.calls() == []


def test_secret_never_appears_in_the_result(start_double, tmp_path):
    double = mixed_double(start_double)
    result = run_module(tmp_path, module_args(double, backends=WANTED))
    assert AK_SECRET not in str(result)


def test_module_disables_the_ecs_metadata_credential_provider(monkeypatch):
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "false")
    module = load_library_module("aliyun_slb_backends")
    assert os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] == "true"
    assert module.SDK_IMPORT_ERROR is None


def test_documentation_parses_and_matches_the_argument_spec():
    import yaml

    module = load_library_module("aliyun_slb_backends")
    documented = yaml.safe_load(module.DOCUMENTATION)["options"]
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    actual = module.argument_spec()
    assert set(documented) == set(actual)
    for name, option in actual.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert documented[name].get("choices") == option.get("choices"), name
