#!/usr/bin/python
"""Ansible module: an Alibaba Cloud SLB's HTTPS listener with an uploaded server certificate."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aliyun_slb_https_listener
short_description: Upload a server certificate to an SLB and serve it on an HTTPS listener
description:
  - Works on an existing classic load balancer (SLB, API version 2014-05-15) through Alibaba Cloud's
    official Python SDK (C(alibabacloud_slb20140515)).
  - Finds the certificate among the region's server certificates by its fingerprint
    (C(DescribeServerCertificates); the SHA-1 of the certificate's DER form, as the API reports
    it) and uploads it (C(UploadServerCertificate)) only when it is not there.
  - Creates the HTTPS listener (C(CreateLoadBalancerHTTPSListener)) when the load balancer has no
    listener on O(listener_port), else reads it (C(DescribeLoadBalancerHTTPSListenerAttribute))
    and changes it (C(SetLoadBalancerHTTPSListenerAttribute)) only when its certificate or one of
    the managed settings differs; starts it (C(StartLoadBalancerListener)) when it is not running
    (a new listener is stopped). A run that finds everything in place makes no write call.
  - Certificates that are no longer used are not deleted (other listeners may use them).
  - The private key never appears in the result, the diff or a failure message.
  - Supports check mode (reads only, reports the planned calls) and diff mode.
options:
  load_balancer_id:
    description: ID of the existing SLB instance.
    type: str
    required: true
  region:
    description: Region ID of the SLB instance (the certificate is uploaded to this region).
    type: str
    required: true
  endpoint:
    description: API endpoint host (optionally C(host:port)).
    type: str
    default: slb.aliyuncs.com
  protocol:
    description: Protocol to the endpoint. Use C(http) only for a local test double.
    type: str
    choices: [https, http]
    default: https
  access_key_id:
    description: AccessKey ID. Defaults to the C(ALIBABA_CLOUD_ACCESS_KEY_ID) environment variable.
    type: str
  access_key_secret:
    description:
      - AccessKey secret. Defaults to the C(ALIBABA_CLOUD_ACCESS_KEY_SECRET) environment variable.
    type: str
  certificate:
    description: The server certificate in PEM, optionally followed by its intermediates.
    type: str
    required: true
  private_key:
    description: The certificate's private key in PEM (sent only when the certificate is uploaded).
    type: str
    required: true
  certificate_name:
    description: Name given to an uploaded certificate (C(ServerCertificateName)).
    type: str
    default: ipgeo-lb
  listener_port:
    description: Frontend port of the HTTPS listener.
    type: int
    default: 443
  backend_server_port:
    description: Port of the backend servers the listener forwards to (set at creation only).
    type: int
    required: true
  bandwidth:
    description: Peak bandwidth of the listener in Mbit/s, -1 for no limit.
    type: int
    default: -1
  health_check_uri:
    description: URI of the listener's HTTP health check (health check on); empty turns it off.
    type: str
    default: /readyz
  max_retries:
    description: How many times a throttled call (error code C(Throttling*)) is retried.
    type: int
    default: 5
  retry_delay:
    description: First backoff delay in seconds after throttling; doubled on each retry, at most 30.
    type: float
    default: 1
  api_timeout:
    description: Connect and read timeout of each API call, in seconds.
    type: int
    default: 10
requirements:
  - alibabacloud_slb20140515 (see requirements/slb.txt for the pinned set)
notes:
  - Runs on the controller (delegate to localhost); use C(no_log) on the task, it carries the key.
"""

EXAMPLES = r"""
- name: Serve HTTPS on the SLB with the certificate from the controller
  aliyun_slb_https_listener:
    load_balancer_id: lb-bp1exampleexample
    region: cn-hangzhou
    certificate: "{{ lookup('ansible.builtin.file', 'files/tls/lb.crt') }}"
    private_key: "{{ lookup('ansible.builtin.file', 'files/tls/lb.key.vault') }}"
    backend_server_port: 8000
  delegate_to: localhost
  no_log: true
"""

RETURN = r"""
fingerprint:
  description: Fingerprint of the given certificate, as DescribeServerCertificates reports it.
  returned: always
  type: str
  sample: "68:08:1a:f8:2c:97:69:a3:a1:e6:16:41:4b:ca:4f:5d:ee:a5:ef:0d"
server_certificate_id:
  description: ID of the certificate on the SLB (empty in check mode when it would be uploaded).
  returned: always
  type: str
uploaded:
  description: Whether the certificate was (or would be) uploaded.
  returned: always
  type: bool
listener:
  description: What was (or would be) done to the listener, C(none), C(created) or C(updated),
    with C(started) true when it was (would be) started.
  returned: always
  type: dict
calls:
  description: The write calls made (or planned in check mode), in order.
  returned: always
  type: list
  elements: str
"""

import hashlib  # noqa: E402
import re  # noqa: E402
import ssl  # noqa: E402

from ansible.module_utils.aliyun_slb_api import (  # noqa: E402
    ApiFailure,
    SlbCalls,
    connection_spec,
    slb_models,
)
from ansible.module_utils.basic import AnsibleModule  # noqa: E402

CERT_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----", re.S
)
KEY_RE = re.compile(
    r"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----.+?-----END (?:RSA |EC )?PRIVATE KEY-----", re.S
)
RUNNING = "running"


def fingerprint(certificate_pem: str) -> str:
    """SHA-1 of the first certificate's DER form, lower-case hex pairs joined by colons."""
    match = CERT_RE.search(certificate_pem or "")
    if not match:
        raise ValueError("certificate is not a PEM certificate")
    digest = hashlib.sha1(
        ssl.PEM_cert_to_DER_cert(match.group(0))
    ).hexdigest()  # SHA-1: the API's fingerprint
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def normal_fingerprint(value: str | None) -> str:
    return re.sub(r"[^0-9a-f]", "", (value or "").lower())


class HttpsApi(SlbCalls):
    """The SLB actions this module needs, with retries on throttling."""

    def certificates(self) -> list[dict]:
        request = slb_models.DescribeServerCertificatesRequest(region_id=self.region)
        body = self.call("DescribeServerCertificates", "describe_server_certificates", request)
        return (body.get("ServerCertificates") or {}).get("ServerCertificate") or []

    def upload(self, certificate: str, private_key: str, name: str) -> dict:
        request = slb_models.UploadServerCertificateRequest(
            region_id=self.region,
            server_certificate=certificate,
            private_key=private_key,
            server_certificate_name=name,
        )
        return self.call(
            "UploadServerCertificate", "upload_server_certificate", request, write=True
        )

    def listeners(self) -> dict[int, str]:
        """Listener port -> protocol, from DescribeLoadBalancerAttribute."""
        request = slb_models.DescribeLoadBalancerAttributeRequest(
            load_balancer_id=self.load_balancer_id, region_id=self.region
        )
        body = self.call(
            "DescribeLoadBalancerAttribute", "describe_load_balancer_attribute", request
        )
        rows = (body.get("ListenerPortsAndProtocol") or {}).get("ListenerPortAndProtocol") or []
        return {int(r["ListenerPort"]): str(r.get("ListenerProtocol", "")).lower() for r in rows}

    def https_listener(self, port: int) -> dict:
        request = slb_models.DescribeLoadBalancerHTTPSListenerAttributeRequest(
            load_balancer_id=self.load_balancer_id, region_id=self.region, listener_port=port
        )
        return self.call(
            "DescribeLoadBalancerHTTPSListenerAttribute",
            "describe_load_balancer_httpslistener_attribute",
            request,
        )

    def create_listener(self, settings: dict) -> None:
        request = slb_models.CreateLoadBalancerHTTPSListenerRequest(
            load_balancer_id=self.load_balancer_id, region_id=self.region, **settings
        )
        self.call(
            "CreateLoadBalancerHTTPSListener",
            "create_load_balancer_httpslistener",
            request,
            write=True,
        )

    def set_listener(self, settings: dict) -> None:
        request = slb_models.SetLoadBalancerHTTPSListenerAttributeRequest(
            load_balancer_id=self.load_balancer_id, region_id=self.region, **settings
        )
        self.call(
            "SetLoadBalancerHTTPSListenerAttribute",
            "set_load_balancer_httpslistener_attribute",
            request,
            write=True,
        )

    def start_listener(self, port: int) -> None:
        request = slb_models.StartLoadBalancerListenerRequest(
            load_balancer_id=self.load_balancer_id,
            region_id=self.region,
            listener_port=port,
            listener_protocol="https",
        )
        self.call("StartLoadBalancerListener", "start_load_balancer_listener", request, write=True)


def wanted_settings(p: dict, certificate_id: str) -> dict:
    """The listener settings this module manages, as SDK request fields."""
    settings = {
        "listener_port": p["listener_port"],
        "bandwidth": p["bandwidth"],
        "server_certificate_id": certificate_id,
        "sticky_session": "off",
        "health_check": "on" if p["health_check_uri"] else "off",
    }
    if p["health_check_uri"]:
        settings["health_check_uri"] = p["health_check_uri"]
    return settings


# SDK request field -> the API's response field.
FIELDS = {
    "bandwidth": "Bandwidth",
    "server_certificate_id": "ServerCertificateId",
    "sticky_session": "StickySession",
    "health_check": "HealthCheck",
    "health_check_uri": "HealthCheckURI",
}


def differences(have: dict, want: dict) -> list[str]:
    """The managed settings of an existing listener that differ from ``want``."""
    out = []
    for field, api_name in FIELDS.items():
        if field in want and str(have.get(api_name)) != str(want[field]):
            out.append(api_name)
    return out


def run(p: dict, api: HttpsApi, check_mode: bool) -> dict:
    """Do the work; return the result dict (raises ApiFailure on an API error)."""
    fp = fingerprint(p["certificate"])
    result: dict = {"changed": False, "fingerprint": fp, "uploaded": False, "calls": []}
    found = [
        c
        for c in api.certificates()
        if normal_fingerprint(c.get("Fingerprint")) == normal_fingerprint(fp)
    ]
    before_cert = found[0]["ServerCertificateId"] if found else ""
    if found:
        certificate_id = before_cert
    else:
        result["uploaded"] = True
        result["calls"].append("UploadServerCertificate")
        certificate_id = ""
        if not check_mode:
            body = api.upload(p["certificate"], p["private_key"], p["certificate_name"])
            certificate_id = body.get("ServerCertificateId") or ""
            if normal_fingerprint(body.get("Fingerprint")) not in ("", normal_fingerprint(fp)):
                raise ApiFailure(
                    "UploadServerCertificate",
                    "FingerprintMismatch",
                    f"the API reports fingerprint {body.get('Fingerprint')}, expected {fp}",
                    body.get("RequestId"),
                )
    want = wanted_settings(p, certificate_id or "(uploaded)")
    port = p["listener_port"]
    protocol = api.listeners().get(port)
    listener = {"action": "none", "started": False, "differs": []}
    before = {"certificate": before_cert, "listener": None}
    if protocol is None:
        listener["action"] = "created"
        result["calls"].append("CreateLoadBalancerHTTPSListener")
        if not check_mode:
            api.create_listener({**want, "backend_server_port": p["backend_server_port"]})
        status = "stopped"
    elif protocol != "https":
        raise ApiFailure(
            "plan",
            "ListenerPortInUse",
            f"port {port} of {p['load_balancer_id']} has a {protocol} listener; not replacing it",
            None,
        )
    else:
        have = api.https_listener(port)
        before["listener"] = {
            "ServerCertificateId": have.get("ServerCertificateId"),
            "Status": have.get("Status"),
            "BackendServerPort": have.get("BackendServerPort"),
        }
        if int(have.get("BackendServerPort") or 0) != p["backend_server_port"]:
            raise ApiFailure(
                "plan",
                "BackendServerPortDiffers",
                f"the HTTPS listener on port {port} forwards to port "
                f"{have.get('BackendServerPort')}, not {p['backend_server_port']}; the API cannot "
                "change that: delete the listener or pick another listener_port",
                None,
            )
        listener["differs"] = differences(have, want)
        if listener["differs"]:
            listener["action"] = "updated"
            result["calls"].append("SetLoadBalancerHTTPSListenerAttribute")
            if not check_mode:
                api.set_listener(want)
        status = str(have.get("Status") or "").lower()
    if status != RUNNING:
        listener["started"] = True
        result["calls"].append("StartLoadBalancerListener")
        if not check_mode:
            api.start_listener(port)
    result.update(
        changed=bool(result["calls"]),
        server_certificate_id=certificate_id,
        listener=listener,
        throttle_retries=api.throttle_retries,
        diff={
            "before_header": f"{p['load_balancer_id']} HTTPS listener {port}",
            "after_header": f"{p['load_balancer_id']} HTTPS listener {port}",
            "before": f"certificate: {before_cert or '-'}\nlistener: "
            + (
                f"{before['listener']['Status']} with {before['listener']['ServerCertificateId']}"
                if before["listener"]
                else "-"
            )
            + "\n",
            "after": f"certificate: {certificate_id or '(to upload) ' + fp}\n"
            f"listener: running with {certificate_id or '(uploaded)'}\n",
        },
    )
    return result


def argument_spec() -> dict:
    return connection_spec() | {
        "certificate": {"type": "str", "required": True},
        "private_key": {"type": "str", "required": True, "no_log": True},
        "certificate_name": {"type": "str", "default": "ipgeo-lb"},
        "listener_port": {"type": "int", "default": 443},
        "backend_server_port": {"type": "int", "required": True},
        "bandwidth": {"type": "int", "default": -1},
        "health_check_uri": {"type": "str", "default": "/readyz"},
    }


def validate(module: AnsibleModule) -> None:
    p = module.params
    try:
        fingerprint(p["certificate"])
    except ValueError as err:
        module.fail_json(msg=str(err))
    if not KEY_RE.search(p["private_key"] or ""):
        module.fail_json(msg="private_key is not a PEM private key")
    if not 1 <= p["listener_port"] <= 65535 or not 1 <= p["backend_server_port"] <= 65535:
        module.fail_json(msg="listener_port and backend_server_port must be 1 to 65535")
    if p["bandwidth"] != -1 and not 1 <= p["bandwidth"] <= 5120:
        module.fail_json(msg="bandwidth must be -1 or 1 to 5120")
    if not 1 <= len(p["certificate_name"]) <= 80:
        module.fail_json(msg="certificate_name must be 1 to 80 characters")


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    validate(module)
    p = module.params
    api = HttpsApi.from_module(module, "ansible-aliyun_slb_https_listener")
    try:
        result = run(p, api, module.check_mode)
    except ApiFailure as failure:
        message = failure.message.replace(p["private_key"], "********")
        module.fail_json(
            msg=f"{failure.action} failed: {failure.code}: {message}"
            + (f" (RequestId {failure.request_id})" if failure.request_id else ""),
            error_code=failure.code,
            error_message=message,
            request_id=failure.request_id,
            changed=bool(api.writes),
            calls=api.writes,
            throttle_retries=api.throttle_retries,
        )
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
