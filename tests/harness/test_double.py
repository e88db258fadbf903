"""The SLB test double itself: API shapes, limits, throttling, health probes, nginx data plane."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import slb_double
from alibabacloud_slb20140515 import models as slb_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.utils_models import OpenApiRequest, Params
from darabonba.runtime import RuntimeOptions
from netutil import free_port
from slb_testlib import AK_ID, AK_SECRET, LB_ID, MARKER, REGION, base_config
from test_signature import sdk_client


def add(client, servers: list[dict], lb_id: str = LB_ID, region: str = REGION) -> dict:
    request = slb_models.AddBackendServersRequest(
        load_balancer_id=lb_id, region_id=region, backend_servers=json.dumps(servers)
    )
    return client.add_backend_servers(request).body.to_map()


def set_weights(client, servers: list[dict]) -> dict:
    request = slb_models.SetBackendServersRequest(
        load_balancer_id=LB_ID, region_id=REGION, backend_servers=json.dumps(servers)
    )
    return client.set_backend_servers(request).body.to_map()


def health(client) -> dict[str, str]:
    request = slb_models.DescribeHealthStatusRequest(load_balancer_id=LB_ID, region_id=REGION)
    rows = client.describe_health_status(request).body.to_map()["BackendServers"]["BackendServer"]
    return {r["ServerId"]: r["ServerHealthStatus"] for r in rows}


def test_add_set_remove_and_describe_follow_the_api_shapes(start_double):
    double = start_double(base_config({"i-1": "127.0.0.1:1", "i-2": "127.0.0.1:2"}))
    client = sdk_client(double)
    body = add(client, [{"ServerId": "i-1", "Weight": "30", "Type": "ecs", "Description": MARKER}])
    assert body["BackendServers"]["BackendServer"][0]["ServerId"] == "i-1"
    set_weights(client, [{"ServerId": "i-1", "Weight": "0"}])
    request = slb_models.DescribeLoadBalancerAttributeRequest(
        load_balancer_id=LB_ID, region_id=REGION
    )
    attr = client.describe_load_balancer_attribute(request).body
    server = attr.backend_servers.backend_server[0]
    assert (server.server_id, server.weight, server.description, server.server_ip) == (
        "i-1",
        0,
        MARKER,
        "127.0.0.1",
    )
    remove = slb_models.RemoveBackendServersRequest(
        load_balancer_id=LB_ID, region_id=REGION, backend_servers='[{"ServerId":"i-1"}]'
    )
    client.remove_backend_servers(remove)
    assert double.backends() == {}
    assert [c["write"] for c in double.calls()] == [True, True, False, True]


@pytest.mark.parametrize(
    ("servers", "lb_id", "region", "code"),
    [
        ([{"ServerId": f"i-{n}"} for n in range(21)], LB_ID, REGION, "InvalidParameter"),
        ([{"ServerId": "i-1", "Weight": "101"}], LB_ID, REGION, "InvalidParameter"),
        ([{"ServerId": "i-unknown"}], LB_ID, REGION, "InvalidParameter"),
        ([{"ServerId": "i-1", "Description": "has space"}], LB_ID, REGION, "InvalidParameter"),
        ([{"ServerId": "i-1"}], "lb-nope", REGION, "InvalidLoadBalancerId.NotFound"),
        ([{"ServerId": "i-1"}], LB_ID, "cn-beijing", "InvalidLoadBalancerId.NotFound"),
    ],
)
def test_invalid_add_is_refused_and_changes_nothing(start_double, servers, lb_id, region, code):
    double = start_double(base_config({f"i-{n}": f"127.0.0.1:{n + 1}" for n in range(21)}))
    with pytest.raises(AlibabaCloudException) as err:
        add(sdk_client(double), servers, lb_id=lb_id, region=region)
    assert err.value.code == code
    assert double.backends() == {}


def test_adding_an_attached_server_twice_is_refused(start_double):
    double = start_double(base_config({"i-1": "127.0.0.1:1"}))
    client = sdk_client(double)
    add(client, [{"ServerId": "i-1"}])
    with pytest.raises(AlibabaCloudException) as err:
        add(client, [{"ServerId": "i-1"}])
    assert err.value.code == "InvalidParameter"


def test_throttling_answers_the_configured_number_of_times(start_double):
    config = base_config({})
    config["throttle"] = {"count": 2, "actions": ["DescribeLoadBalancerAttribute"]}
    double = start_double(config)
    client = sdk_client(double)
    request = slb_models.DescribeLoadBalancerAttributeRequest(
        load_balancer_id=LB_ID, region_id=REGION
    )
    codes = []
    for _ in range(3):
        try:
            client.describe_load_balancer_attribute(request)
            codes.append("ok")
        except AlibabaCloudException as err:
            codes.append(err.code)
    assert codes == ["Throttling", "Throttling", "ok"]
    double.throttle(1)
    with pytest.raises(AlibabaCloudException) as err:
        client.describe_load_balancer_attribute(request)
    assert err.value.code == "Throttling"
    assert err.value.status_code == 400


def test_health_status_reports_real_probes(start_double, http_backends):
    (up,) = http_backends(1)
    double = start_double(
        base_config(
            {"i-up": f"127.0.0.1:{up}", "i-down": f"127.0.0.1:{free_port()}"},
            [
                {"ServerId": "i-up", "Weight": 100, "Description": MARKER},
                {"ServerId": "i-down", "Weight": 100, "Description": MARKER},
            ],
        )
    )
    assert health(sdk_client(double)) == {"i-up": "normal", "i-down": "abnormal"}


def test_tcp_health_check_on_a_configured_port(start_double, http_backends):
    (up,) = http_backends(1)
    config = base_config(
        {"i-1": "127.0.0.1", "i-2": "127.0.0.2"},
        [{"ServerId": "i-1", "Weight": 1}, {"ServerId": "i-2", "Weight": 1}],
    )
    config["health_check"] = {"type": "tcp", "port": up, "timeout": 0.5}
    double = start_double(config)
    status = health(sdk_client(double))
    assert status["i-1"] == "normal"
    assert status["i-2"] == "abnormal"


def test_xml_errors_are_answered_when_asked_and_the_sdk_parses_them(start_double):
    double = start_double(base_config({}))
    params = Params(
        action="DescribeLoadBalancerAttribute",
        version="2014-05-15",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="string",
    )
    request = OpenApiRequest(query={"LoadBalancerId": "lb-nope", "Format": "XML"})
    with pytest.raises(AlibabaCloudException) as err:
        sdk_client(double).call_api(params, request, RuntimeOptions())
    assert err.value.code == "InvalidLoadBalancerId.NotFound"
    assert err.value.status_code == 404
    assert err.value.data["RequestId"]


def test_data_plane_upstream_follows_the_backend_list(start_double, tmp_path):
    upstream = tmp_path / "upstream.inc"
    reloads = tmp_path / "reloads.txt"
    config = base_config(
        {"i-1": "10.0.0.11", "i-2": "10.0.0.12:8081"},
        [{"ServerId": "i-1", "Weight": 100, "Description": MARKER}],
    )
    config["backend_port"] = 8000
    config["data_plane"] = {
        "load_balancer_id": LB_ID,
        "upstream_file": str(upstream),
        "upstream_name": "app_pool",
        "reload_command": [
            sys.executable,
            "-c",
            f"open({str(reloads)!r}, 'a').write('reload\\n')",
        ],
    }
    double = start_double(config)
    assert "server 10.0.0.11:8000 weight=100 max_fails=0;" in upstream.read_text()
    client = sdk_client(double)
    add(client, [{"ServerId": "i-2", "Weight": "40"}])
    set_weights(client, [{"ServerId": "i-1", "Weight": "0"}])
    text = upstream.read_text()
    assert "upstream app_pool {" in text
    assert "server 10.0.0.11:8000 down;" in text
    assert "server 10.0.0.12:8081 weight=40 max_fails=0;" in text
    assert reloads.read_text().count("reload") == 3  # start, add, set
    set_weights(client, [{"ServerId": "i-1", "Weight": "0"}])  # no change: no reload
    assert reloads.read_text().count("reload") == 3
    remove = slb_models.RemoveBackendServersRequest(
        load_balancer_id=LB_ID,
        region_id=REGION,
        backend_servers='[{"ServerId":"i-1"},{"ServerId":"i-2"}]',
    )
    client.remove_backend_servers(remove)
    assert "server 127.0.0.1:9 down;" in upstream.read_text()  # never an empty upstream


def test_failing_reload_is_an_internal_error(start_double, tmp_path):
    config = base_config({"i-1": "10.0.0.11"})
    config["data_plane"] = {
        "upstream_file": str(tmp_path / "up.inc"),
        "reload_command": "exit 3",
        "apply_on_start": False,
    }
    double = start_double(config)
    with pytest.raises(AlibabaCloudException) as err:
        add(sdk_client(double), [{"ServerId": "i-1"}])
    assert err.value.code == "InternalError"
    assert err.value.status_code == 500


def test_every_call_is_logged_with_action_and_write_flag(start_double):
    double = start_double(base_config({"i-1": "127.0.0.1:1"}))
    client = sdk_client(double)
    add(client, [{"ServerId": "i-1"}])
    health(client)
    with pytest.raises(AlibabaCloudException):
        add(sdk_client(double, secret="nope"), [{"ServerId": "i-1"}])
    calls = double.calls()
    assert [(c["action"], c["write"], c["status"]) for c in calls] == [
        ("AddBackendServers", True, 200),
        ("DescribeHealthStatus", False, 200),
        ("AddBackendServers", True, 400),
    ]
    assert calls[0]["server_ids"] == ["i-1"]
    assert calls[0]["access_key_id"] == AK_ID
    assert AK_SECRET not in double.call_log.read_text()


def test_call_log_has_the_weights_asked_for_and_the_answer_time(start_double):
    double = start_double(base_config({"i-1": "127.0.0.1:1"}, [{"ServerId": "i-1", "Weight": 100}]))
    set_weights(sdk_client(double), [{"ServerId": "i-1", "Weight": "0"}])
    call = double.calls()[-1]
    assert call["weights"] == {"i-1": "0"}
    assert call["time"] <= call["done"]


def test_data_plane_keepalive_closes_idle_connections_first(start_double, tmp_path):
    upstream = tmp_path / "upstream.inc"
    config = base_config({"i-1": "10.0.0.11:8000"}, [{"ServerId": "i-1", "Weight": 100}])
    config["data_plane"] = {"upstream_file": str(upstream), "keepalive": 16}
    start_double(config)
    text = upstream.read_text()
    assert "    keepalive 16;\n    keepalive_timeout 4s;\n}" in text
    config["data_plane"] = {"upstream_file": str(upstream)}
    upstream.unlink()
    start_double(config)
    assert "keepalive" not in upstream.read_text()


# A stand-in for an nginx master: on SIGHUP it starts a new "nginx: worker process" only after
# 0.5 s, then ends the old one, as a reload does (late, and after "nginx -s reload" returned).
FAKE_MASTER = """
import signal, subprocess, sys, time
def worker():
    p = subprocess.Popen(["nginx: worker process"], executable=sys.executable,
                         stdin=subprocess.PIPE)
    p.stdin.write(b"import time\\ntime.sleep(60)\\n")
    p.stdin.close()
    return p
current = [worker()]
def reload(signum, frame):
    time.sleep(0.5)
    old, current[0] = current[0], worker()
    old.kill()
    old.wait()
signal.signal(signal.SIGHUP, reload)
print("ready", flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    time.sleep(0.1)
current[0].kill()
"""


@pytest.fixture
def fake_master(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", FAKE_MASTER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    pid_file = tmp_path / "nginx.pid"
    pid_file.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 10
    while not slb_double.nginx_workers(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield proc.pid, pid_file
    for pid in slb_double.nginx_workers(proc.pid):
        os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait()
    proc.stdout.close()


def test_a_write_answers_once_the_reload_is_done(start_double, tmp_path, fake_master):
    pid, pid_file = fake_master
    before = slb_double.nginx_workers(pid)
    assert list(before.values()) == [slb_double.NGINX_WORKER]
    config = base_config({"i-1": "10.0.0.11:8000"}, [{"ServerId": "i-1", "Weight": 100}])
    config["data_plane"] = {
        "upstream_file": str(tmp_path / "up.inc"),
        "reload_signal": "HUP",  # os.kill in the double: no `kill` program needed
        "reload_pid_file": str(pid_file),
        "apply_on_start": False,
    }
    double = start_double(config)
    started = time.monotonic()
    set_weights(sdk_client(double), [{"ServerId": "i-1", "Weight": "0"}])
    assert time.monotonic() - started >= 0.5
    after = slb_double.nginx_workers(pid)
    assert after and not set(after) & set(before)


def test_a_reload_that_never_completes_is_an_internal_error(start_double, tmp_path):
    sleeper = subprocess.Popen(["sleep", "30"])  # a "master" without workers
    try:
        pid_file = tmp_path / "nginx.pid"
        pid_file.write_text(f"{sleeper.pid}\n")
        config = base_config({"i-1": "10.0.0.11:8000"}, [{"ServerId": "i-1", "Weight": 100}])
        config["data_plane"] = {
            "upstream_file": str(tmp_path / "up.inc"),
            "reload_command": ["true"],
            "reload_pid_file": str(pid_file),
            "reload_timeout": 0.5,
            "apply_on_start": False,
        }
        double = start_double(config)
        with pytest.raises(AlibabaCloudException) as err:
            set_weights(sdk_client(double), [{"ServerId": "i-1", "Weight": "0"}])
        assert err.value.code == "InternalError"
        assert "reload not done" in err.value.message
    finally:
        sleeper.kill()
        sleeper.wait()


def test_reload_done_wants_a_new_worker_and_no_old_one_accepting():
    worker, closing = slb_double.NGINX_WORKER, "nginx: worker process is shutting down"
    assert not slb_double.reload_done({1: worker}, {1: worker})
    assert not slb_double.reload_done({1: worker}, {1: worker, 2: worker})
    assert not slb_double.reload_done({1: worker}, {1: closing})
    assert slb_double.reload_done({1: worker}, {1: closing, 2: worker})
    assert slb_double.reload_done({1: worker}, {2: worker, 3: "nginx: cache manager process"})


def test_nginx_workers_reads_the_children_of_the_master(tmp_path):
    for pid, ppid, title in [
        (10, 1, "nginx: master"),
        (11, 10, "nginx: worker process"),
        (12, 99, "nginx: worker process"),
        (13, 10, "x (y) z"),
    ]:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (a b) S {ppid} 1 1 0 -1\n")
        (tmp_path / str(pid) / "cmdline").write_bytes(title.encode() + b"\0\0")
    (tmp_path / "self").mkdir()
    assert slb_double.nginx_workers(10, str(tmp_path)) == {
        11: "nginx: worker process",
        13: "x (y) z",
    }
    assert slb_double.nginx_workers(None, str(tmp_path)) == {}
