"""The aliyun_slb_https_listener module, run by ansible-playbook on localhost against the SLB
double: the certificate is uploaded once (found again by its fingerprint), the HTTPS listener is
created, started, switched to a new certificate, and a second run makes no write call."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from slb_testlib import AK_ID, AK_SECRET, LB_ID, REGION, base_config, module_args, run_playbook

REPO = Path(__file__).resolve().parents[2]
CA_SCRIPT = REPO / "scripts" / "demo-tls-ca.sh"
SERVERS = {"i-a": "127.0.0.1:1"}


def make_cert(directory: Path) -> tuple[str, str, str]:
    """A certificate and key from scripts/demo-tls-ca.sh, and its SHA-1 fingerprint per openssl."""
    subprocess.run(["bash", str(CA_SCRIPT), str(directory)], check=True, capture_output=True)
    cert = (directory / "lb.crt").read_text()
    key = (directory / "lb.key").read_text()
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha1", "-in", str(directory / "lb.crt")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return cert, key, out.strip().split("=", 1)[1].lower()


@pytest.fixture
def certs(tmp_path):
    return [make_cert(tmp_path / f"tls{n}") for n in (1, 2)]


def https_args(double, cert: str, key: str, **extra) -> dict:
    return module_args(double, certificate=cert, private_key=key, backend_server_port=8000, **extra)


def run_https(tmp: Path, args: dict, check: bool = False, diff: bool = False) -> tuple[dict, str]:
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "https", "aliyun_slb_https_listener": args}],
    }
    extra = (["--check"] if check else []) + (["--diff"] if diff else [])
    proc, output = run_playbook(tmp, [play], extra_args=extra)
    return output["plays"][0]["tasks"][0]["hosts"]["localhost"], proc.stdout + proc.stderr


def state(double) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{double.url}/_double/state", timeout=5) as resp:
        return json.load(resp)


def write_actions(double) -> list[str]:
    return [c["action"] for c in double.writes()]


def test_first_run_uploads_creates_and_starts_second_run_writes_nothing(
    start_double, tmp_path, certs
):
    (cert, key, fp), _ = certs
    double = start_double(base_config(SERVERS))
    first, _ = run_https(tmp_path, https_args(double, cert, key))
    assert not first.get("failed"), first
    assert first["changed"] is True and first["uploaded"] is True
    assert first["fingerprint"] == fp
    assert write_actions(double) == [
        "UploadServerCertificate",
        "CreateLoadBalancerHTTPSListener",
        "StartLoadBalancerListener",
    ]
    snap = state(double)
    [stored] = snap["server_certificates"]
    assert stored["Fingerprint"] == fp
    assert stored["ServerCertificateName"] == "ipgeo-lb"
    assert stored["PrivateKeySha256"] == hashlib.sha256(key.strip().encode()).hexdigest()
    listener = snap["load_balancers"][LB_ID]["https_listeners"]["443"]
    assert listener["ServerCertificateId"] == stored["ServerCertificateId"]
    assert listener["ServerCertificateId"] == first["server_certificate_id"]
    assert (listener["Status"], listener["BackendServerPort"]) == ("running", 8000)
    assert (listener["HealthCheck"], listener["HealthCheckURI"]) == ("on", "/readyz")
    assert {"port": 443, "protocol": "https"} in snap["load_balancers"][LB_ID]["listeners"]

    second, _ = run_https(tmp_path, https_args(double, cert, key))
    assert second["changed"] is False, second
    assert second["calls"] == [] and second["uploaded"] is False
    assert second["server_certificate_id"] == stored["ServerCertificateId"]
    assert len(double.writes()) == 3
    assert all(c["ok"] for c in double.calls())


def test_the_private_key_appears_nowhere(start_double, tmp_path, certs):
    (cert, key, _), _ = certs
    double = start_double(base_config(SERVERS))
    result, output = run_https(tmp_path, https_args(double, cert, key), diff=True)
    assert result["changed"] is True
    body = "".join(key.strip().splitlines()[1:-1])
    assert body[:40] not in output.replace("\\n", "")
    assert body[:40] not in double.call_log.read_text()
    assert body[:40] not in json.dumps(state(double))


def test_a_new_certificate_is_uploaded_and_set_on_the_listener(start_double, tmp_path, certs):
    (cert1, key1, _), (cert2, key2, fp2) = certs
    double = start_double(base_config(SERVERS))
    run_https(tmp_path, https_args(double, cert1, key1))
    result, _ = run_https(tmp_path, https_args(double, cert2, key2))
    assert result["changed"] is True
    assert result["listener"]["action"] == "updated"
    assert result["listener"]["differs"] == ["ServerCertificateId"]
    assert write_actions(double)[3:] == [
        "UploadServerCertificate",
        "SetLoadBalancerHTTPSListenerAttribute",
    ]
    snap = state(double)
    new = [c for c in snap["server_certificates"] if c["Fingerprint"] == fp2]
    assert len(new) == 1 and len(snap["server_certificates"]) == 2
    listener = snap["load_balancers"][LB_ID]["https_listeners"]["443"]
    assert listener["ServerCertificateId"] == new[0]["ServerCertificateId"]
    # Back to the first certificate: it is found by its fingerprint, not uploaded again.
    back, _ = run_https(tmp_path, https_args(double, cert1, key1))
    assert back["uploaded"] is False and back["calls"] == ["SetLoadBalancerHTTPSListenerAttribute"]
    assert len(state(double)["server_certificates"]) == 2


def test_an_existing_certificate_and_stopped_listener(start_double, tmp_path, certs):
    (cert, key, fp), _ = certs
    config = base_config(SERVERS)
    config["server_certificates"] = [
        {
            "ServerCertificateId": "uploaded-by-hand-cn-hangzhou",
            "ServerCertificateName": "by-hand",
            "RegionId": REGION,
            "Fingerprint": fp.upper(),
        }
    ]
    double = start_double(config)
    result, _ = run_https(tmp_path, https_args(double, cert, key, listener_port=8443))
    assert result["uploaded"] is False
    assert result["server_certificate_id"] == "uploaded-by-hand-cn-hangzhou"
    assert write_actions(double) == ["CreateLoadBalancerHTTPSListener", "StartLoadBalancerListener"]
    assert state(double)["load_balancers"][LB_ID]["https_listeners"]["8443"]["Status"] == "running"


def test_check_mode_plans_and_writes_nothing(start_double, tmp_path, certs):
    (cert, key, _), _ = certs
    double = start_double(base_config(SERVERS))
    result, _ = run_https(tmp_path, https_args(double, cert, key), check=True, diff=True)
    assert result["changed"] is True
    assert result["calls"] == [
        "UploadServerCertificate",
        "CreateLoadBalancerHTTPSListener",
        "StartLoadBalancerListener",
    ]
    assert double.writes() == []
    assert result["diff"]["before"].startswith("certificate: -")


def test_a_port_taken_by_another_protocol_is_not_replaced(start_double, tmp_path, certs):
    (cert, key, _), _ = certs
    double = start_double(base_config(SERVERS))
    result, _ = run_https(tmp_path, https_args(double, cert, key, listener_port=80))
    assert result["failed"] is True
    assert "ListenerPortInUse" in result["msg"]
    assert write_actions(double) == ["UploadServerCertificate"]


def test_a_key_of_another_certificate_is_refused_by_the_double(start_double, tmp_path, certs):
    (cert1, _, _), (_, key2, _) = certs
    double = start_double(base_config(SERVERS))
    result, output = run_https(tmp_path, https_args(double, cert1, key2))
    assert result["failed"] is True
    assert "UploadServerCertificate failed: InvalidParameter" in result["msg"]
    assert "".join(key2.strip().splitlines()[1:-1])[:40] not in output.replace("\\n", "")
    assert state(double)["server_certificates"] == []


def test_a_wrong_secret_is_refused_before_anything_changes(start_double, tmp_path, certs):
    (cert, key, _), _ = certs
    double = start_double(base_config(SERVERS))
    args = https_args(double, cert, key, access_key_secret="not-the-secret")
    result, _ = run_https(tmp_path, args)
    assert result["failed"] is True and "SignatureDoesNotMatch" in result["msg"]
    assert double.writes() == [] and state(double)["server_certificates"] == []
    assert AK_ID and AK_SECRET  # the right pair is the fixture's; only the secret was wrong


def test_throttled_calls_are_retried(start_double, tmp_path, certs):
    (cert, key, _), _ = certs
    double = start_double(base_config(SERVERS))
    double.throttle(2, actions=["UploadServerCertificate", "StartLoadBalancerListener"])
    result, _ = run_https(tmp_path, https_args(double, cert, key))
    assert not result.get("failed"), result
    assert result["throttle_retries"] == 2
    assert state(double)["load_balancers"][LB_ID]["https_listeners"]["443"]["Status"] == "running"
