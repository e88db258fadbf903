#!/usr/bin/env python3
"""TEST DOUBLE of Alibaba Cloud's SLB (classic load balancer) API, version 2014-05-15.

This is NOT Alibaba Cloud. It is a small local HTTP server for the tests of the aliyun_slb role: it
answers the five actions the role's module uses, in the shape the official Python SDK
(alibabacloud_slb20140515 with alibabacloud_tea_openapi) sends and expects:

* requests are V3-signed (ACS3-HMAC-SHA256): the action and version come in the ``x-acs-action`` /
  ``x-acs-version`` headers, the business parameters in the query string (or a form body), the
  signature in ``Authorization``. The double verifies that signature with the secret configured for
  the AccessKeyId and rejects the request as the real gateway does: a missing or malformed
  Authorization is ``IncompleteSignature`` (400), an unknown key id ``InvalidAccessKeyId.NotFound``
  (404), a wrong signature ``SignatureDoesNotMatch`` (400), a stale ``x-acs-date``
  ``InvalidTimeStamp.Expired`` (400), a replayed nonce ``SignatureNonceUsed`` (400);
* answers are JSON (XML when the request asks ``Format=XML``); errors carry ``RequestId``,
  ``HostId``, ``Code`` and ``Message`` with the API's HTTP status code;
* actions: DescribeLoadBalancerAttribute, AddBackendServers, RemoveBackendServers,
  SetBackendServers (at most 20 servers a call, as the API), DescribeHealthStatus; and for HTTPS:
  DescribeServerCertificates, UploadServerCertificate (PEM certificate and key, the key must match
  the certificate when ``cryptography`` is importable; the fingerprint is the SHA-1 of the
  certificate's DER form in colon-separated hex, as the API shows it; the key is never kept or
  logged, only its SHA-256), CreateLoadBalancerHTTPSListener (a new listener is ``stopped``, as
  the API's), SetLoadBalancerHTTPSListenerAttribute, DescribeLoadBalancerHTTPSListenerAttribute and
  StartLoadBalancerListener; the state (``GET /_double/state``) shows the certificates and each
  load balancer's listeners. Parameter and
  error shapes follow the API reference; the error codes for the rarer conditions (adding a server
  twice, removing or re-weighting a server that is not attached, an ECS id it does not know, a
  listener port already taken or not there, an unknown certificate id, a key that does not match)
  are an approximation: ``InvalidParameter`` (400) with a message naming the server, or for the
  listener and certificate ``ListenerAlreadyExists`` and ``ServerCertificateId.NotFound`` (400);
* it can be told to answer ``Throttling`` (400, "Request was denied due to request throttling.") for
  the next N calls, in its config or at run time through ``POST /_double/throttle``;
* every call, refused or not, is logged as one JSON line (action, whether it is a write, status,
  code, load balancer id, key id, the backend server ids it named and the weights it asked for,
  when it came and when it was answered) to ``call_log``;
* it knows an ECS-id -> address map (``servers``). DescribeHealthStatus reports what real TCP or
  HTTP probes of those addresses find (``normal`` / ``abnormal``), and after every write on the
  ``data_plane`` load balancer it writes an nginx ``upstream`` include file (weight N ->
  ``weight=N max_fails=0``: like SLB, only health checks take a backend out; weight 0 -> ``down``;
  optionally ``keepalive`` idle connections closed after ``keepalive_timeout``) and runs the
  configured reload command (or sends ``reload_signal``, e.g. ``"HUP"``, to the master named by
  ``reload_pid_file`` itself, with no program), so that an nginx in the same container routes by
  the backend list and its weights. With ``reload_pid_file`` (the nginx master's) the write
  answers only once the reload is done: new workers run and the old ones no longer accept
  (else ``InternalError`` after ``reload_timeout`` seconds), so a backend set to weight 0 gets no
  new request after the answer.

Run:  python molecule/harness/slb_double.py --listen 127.0.0.1:PORT --config FILE
(port 0 picks a free port; the first line on stdout says ``listening on http://HOST:PORT``).

Config (JSON; every key but ``access_keys`` and ``load_balancers`` is optional)::

    {
      "access_keys": {"LTAI5tTestKeyId": "test-secret"},
      "load_balancers": {
        "lb-test0001": {
          "region_id": "cn-hangzhou",
          "name": "app", "address": "127.0.0.1",
          "listeners": [{"port": 80, "protocol": "http"}],
          "backend_servers": [{"ServerId": "i-foreign", "Weight": 100, "Description": "manual"}]
        }
      },
      "servers": {"i-app1": "10.0.0.11", "i-app2": "127.0.0.1:18082"},
      "server_certificates": [],
      "backend_port": 8080,
      "health_check": {"type": "http", "port": null, "path": "/", "timeout": 2.0},
      "call_log": "/tmp/slb-calls.jsonl",
      "throttle": {"count": 0, "actions": null, "code": "Throttling"},
      "max_clock_skew": 900,
      "data_plane": {
        "load_balancer_id": "lb-test0001",
        "upstream_file": "/etc/nginx/conf.d/slb-upstream.inc",
        "upstream_name": "slb_backends",
        "reload_command": ["nginx", "-s", "reload"],
        "reload_pid_file": "/run/nginx.pid",
        "reload_timeout": 10,
        "keepalive": 16,
        "keepalive_timeout": "4s",
        "apply_on_start": true
      }
    }

``servers`` values are ``IP`` or ``IP:PORT``; without a port the server listens on
``backend_port``. The health probe uses ``health_check.port`` when set, else the server's port.

Control endpoints (unsigned, for tests only; the real API has no such paths):
``GET /_double/ready``, ``GET /_double/state``, ``GET /_double/calls``,
``POST /_double/throttle`` with ``{"count": N, "actions": [..] or null, "code": "Throttling"}``.
"""

from __future__ import annotations

import argparse
import calendar
import concurrent.futures
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape as xml_escape

API_VERSION = "2014-05-15"
ALGORITHM = "ACS3-HMAC-SHA256"
HOST_ID = "slb.aliyuncs.com"
READ_ACTIONS = {
    "DescribeLoadBalancerAttribute",
    "DescribeHealthStatus",
    "DescribeServerCertificates",
    "DescribeLoadBalancerHTTPSListenerAttribute",
}
WRITE_ACTIONS = {
    "AddBackendServers",
    "RemoveBackendServers",
    "SetBackendServers",
    "UploadServerCertificate",
    "CreateLoadBalancerHTTPSListener",
    "SetLoadBalancerHTTPSListenerAttribute",
    "StartLoadBalancerListener",
}
PEM_CERT_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----", re.S
)
PEM_KEY_RE = re.compile(
    r"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----\s+[A-Za-z0-9+/=\s]+?"
    r"-----END (?:RSA |EC )?PRIVATE KEY-----",
    re.S,
)
MAX_SERVERS_PER_CALL = 20
REQUIRED_SIGNED_HEADERS = (
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
)
DESCRIPTION_RE = re.compile(r"^[A-Za-z0-9\-/._]{1,80}$")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class ApiError(Exception):
    """An error answer of the API: HTTP status, Code, Message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


# --------------------------------------------------------------------------------------------
# ACS3-HMAC-SHA256 (signature method V3), server side.
# --------------------------------------------------------------------------------------------


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as the V3 signature requires (space -> %20, '*' -> %2A, '~' kept)."""
    return urllib.parse.quote(value, safe="~")


def canonical_query_string(pairs: list[tuple[str, str]]) -> str:
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_uri(path: str) -> str:
    return urllib.parse.quote(urllib.parse.unquote(path or "/"), safe="/~") or "/"


def canonical_request(
    method: str,
    path: str,
    query_pairs: list[tuple[str, str]],
    headers: dict[str, list[str]],
    signed_headers: list[str],
    hashed_payload: str,
) -> str:
    """The CanonicalRequest of the V3 signature.

    ``headers`` maps lower-case header names to all their values; only ``signed_headers`` are used.
    """
    lines = []
    for name in signed_headers:
        values = sorted(v.strip() for v in headers.get(name, []))
        lines.append(f"{name}:{','.join(values)}\n")
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query_string(query_pairs),
            "".join(lines),
            ";".join(signed_headers),
            hashed_payload,
        ]
    )


def string_to_sign(canonical: str) -> str:
    return f"{ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def signature(secret: str, canonical: str) -> str:
    return hmac.new(
        secret.encode("utf-8"), string_to_sign(canonical).encode("utf-8"), hashlib.sha256
    ).hexdigest()


def parse_authorization(value: str | None) -> tuple[str, list[str], str]:
    """Split ``ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..``."""
    incomplete = ApiError(
        400, "IncompleteSignature", "The request signature does not conform to Aliyun standards."
    )
    if not value:
        raise incomplete
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise incomplete
    fields = {}
    for part in rest.split(","):
        key, sep, val = part.strip().partition("=")
        if not sep:
            raise incomplete
        fields[key] = val
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        raise incomplete
    if not fields["Credential"] or not fields["Signature"]:
        raise incomplete
    signed = fields["SignedHeaders"].split(";")
    if signed != sorted(signed) or any(h != h.lower() or not h for h in signed):
        raise incomplete
    return fields["Credential"], signed, fields["Signature"]


def verify_signature(
    method: str,
    path: str,
    query_pairs: list[tuple[str, str]],
    headers: dict[str, list[str]],
    body: bytes,
    access_keys: dict[str, str],
    now: float | None = None,
    max_skew: float = 900,
) -> str:
    """Check a V3-signed request; return its AccessKeyId or raise ApiError as the API would."""
    access_key_id, signed_headers, given = parse_authorization(
        (headers.get("authorization") or [None])[0]
    )
    missing = [h for h in REQUIRED_SIGNED_HEADERS if h not in signed_headers or h not in headers]
    if missing:
        raise ApiError(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards. "
            f"Missing signed header(s): {', '.join(missing)}.",
        )
    if access_key_id not in access_keys:
        raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    hashed_payload = headers["x-acs-content-sha256"][0].strip()
    if hashed_payload != hashlib.sha256(body).hexdigest():
        raise ApiError(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation. "
            "x-acs-content-sha256 does not match the request body.",
        )
    canonical = canonical_request(
        method, path, query_pairs, headers, signed_headers, hashed_payload
    )
    expected = signature(access_keys[access_key_id], canonical)
    if not hmac.compare_digest(expected, given.lower()):
        raise ApiError(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation. server string to sign is:"
            + string_to_sign(canonical),
        )
    date = headers["x-acs-date"][0].strip()
    try:
        stamp = calendar.timegm(time.strptime(date, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        raise ApiError(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        ) from None
    if abs((time.time() if now is None else now) - stamp) > max_skew:
        raise ApiError(
            400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
        )
    return access_key_id


# --------------------------------------------------------------------------------------------
# The nginx data plane's reload.
# --------------------------------------------------------------------------------------------

NGINX_WORKER = "nginx: worker process"


def read_pid(path: str | None) -> int | None:
    try:
        with open(path or "", encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def nginx_workers(master: int | None, proc: str = "/proc") -> dict[int, str]:
    """The children of the nginx master ``master`` with their process titles."""
    if master is None:
        return {}
    found = {}
    try:
        entries = os.listdir(proc)
    except OSError:
        return {}
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(os.path.join(proc, name, "stat"), encoding="latin-1") as fh:
                stat = fh.read()
            with open(os.path.join(proc, name, "cmdline"), "rb") as fh:
                title = fh.read().replace(b"\0", b" ").decode("latin-1").strip()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) "
        if len(fields) > 1 and fields[1] == str(master):
            found[int(name)] = title
    return found


def reload_done(before: dict[int, str], after: dict[int, str]) -> bool:
    """A reload is done when a new worker runs and no worker from before still accepts."""
    new_workers = [p for p, t in after.items() if p not in before and t == NGINX_WORKER]
    old_accepting = [p for p, t in after.items() if p in before and t == NGINX_WORKER]
    return bool(new_workers) and not old_accepting


def wait_reloaded(
    master: int | None, before: dict[int, str], timeout: float, proc: str = "/proc"
) -> bool:
    if master is None:
        return False
    deadline = time.monotonic() + timeout
    while True:
        if reload_done(before, nginx_workers(master, proc)):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# The load balancers' state and the five actions.
# --------------------------------------------------------------------------------------------


def _int_weight(value: object) -> int:
    try:
        weight = int(str(value))
    except ValueError:
        raise ApiError(
            400, "InvalidParameter", f"The specified Weight {value!r} is not valid (0 to 100)."
        ) from None
    if not 0 <= weight <= 100:
        raise ApiError(
            400, "InvalidParameter", f"The specified Weight {weight} is not valid (0 to 100)."
        )
    return weight


def parse_backend_servers(raw: str | None, need_weight: bool = False) -> list[dict]:
    if raw is None or raw == "":
        raise ApiError(400, "MissingBackendServers", "BackendServers is mandatory for this action.")
    try:
        items = json.loads(raw)
    except ValueError:
        raise ApiError(
            400, "InvalidParameter", "The specified parameter BackendServers is not valid JSON."
        ) from None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise ApiError(
            400, "InvalidParameter", "The specified parameter BackendServers is not valid."
        )
    if len(items) > MAX_SERVERS_PER_CALL:
        raise ApiError(
            400,
            "InvalidParameter",
            f"At most {MAX_SERVERS_PER_CALL} backend servers can be specified in one request; "
            f"got {len(items)}.",
        )
    servers = []
    for item in items:
        server_id = item.get("ServerId")
        if not isinstance(server_id, str) or not server_id:
            raise ApiError(400, "InvalidParameter", "ServerId of each backend server is mandatory.")
        entry: dict = {"ServerId": server_id, "Type": str(item.get("Type") or "ecs")}
        if entry["Type"] != "ecs":
            raise ApiError(
                400, "InvalidParameter", f"The specified Type {entry['Type']} is not supported."
            )
        if "Weight" in item:
            entry["Weight"] = _int_weight(item["Weight"])
        elif need_weight:
            entry["Weight"] = 100
        if "Description" in item:
            description = str(item["Description"])
            if not DESCRIPTION_RE.match(description):
                raise ApiError(
                    400,
                    "InvalidParameter",
                    f"The specified Description {description!r} is not valid.",
                )
            entry["Description"] = description
        servers.append(entry)
    return servers


def key_matches(cert_der: bytes, key_pem: str) -> bool:
    """Whether the private key belongs to the certificate (as the API checks an upload).

    Needs the ``cryptography`` package; without it (a minimal host) any well-formed key passes.
    """
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        return True
    try:
        cert = x509.load_der_x509_certificate(cert_der)
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        return False
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return cert.public_key().public_bytes(enc, fmt) == key.public_key().public_bytes(enc, fmt)


class SlbState:
    """Load balancers, their backend lists, the throttle, the call log and the data plane."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.access_keys: dict[str, str] = dict(config.get("access_keys") or {})
        self.servers: dict[str, str] = dict(config.get("servers") or {})
        self.backend_port = int(config.get("backend_port") or 80)
        self.health = {"type": "tcp", "port": None, "path": "/", "timeout": 2.0}
        self.health.update(config.get("health_check") or {})
        self.max_skew = float(config.get("max_clock_skew", 900))
        self.throttle = {"count": 0, "actions": None, "code": "Throttling"}
        self.throttle.update(config.get("throttle") or {})
        self.call_log_path = config.get("call_log")
        self.calls: list[dict] = []
        self.nonces: dict[str, float] = {}
        self.data_plane = config.get("data_plane") or None
        # Server certificates (what DescribeServerCertificates shows; never the private key: only
        # its SHA-256, so that a test can tell which key came with an upload).
        self.certificates: list[dict] = [dict(c) for c in config.get("server_certificates") or []]
        self.lbs: dict[str, dict] = {}
        for lb_id, lb in (config.get("load_balancers") or {}).items():
            self.lbs[lb_id] = {
                "LoadBalancerId": lb_id,
                "RegionId": lb.get("region_id", "cn-hangzhou"),
                "LoadBalancerName": lb.get("name", lb_id),
                "Address": lb.get("address", "127.0.0.1"),
                "listeners": [
                    dict(li) for li in lb.get("listeners", [{"port": 80, "protocol": "http"}])
                ],
                # HTTPS listeners' attributes by port (each also in "listeners").
                "https": {},
                "servers": [
                    {
                        "ServerId": s["ServerId"],
                        "Weight": int(s.get("Weight", 100)),
                        "Type": s.get("Type", "ecs"),
                        "Description": s.get("Description", ""),
                    }
                    for s in lb.get("backend_servers", [])
                ],
            }

    # -- addresses --------------------------------------------------------------------------
    def address(self, server_id: str) -> tuple[str, int] | None:
        raw = self.servers.get(server_id)
        if not raw:
            return None
        host, sep, port = raw.rpartition(":")
        if sep and port.isdigit() and host:
            return host.strip("[]"), int(port)
        return raw, self.backend_port

    # -- call log -----------------------------------------------------------------------------
    def log_call(self, entry: dict) -> None:
        with self.lock:
            self.calls.append(entry)
            if self.call_log_path:
                with open(self.call_log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry, sort_keys=True) + "\n")

    def remember_nonce(self, nonce: str) -> None:
        with self.lock:
            now = time.time()
            if nonce in self.nonces:
                raise ApiError(
                    400, "SignatureNonceUsed", "Specified signature nonce was used already."
                )
            self.nonces[nonce] = now
            if len(self.nonces) > 10000:
                horizon = now - 2 * self.max_skew
                self.nonces = {n: t for n, t in self.nonces.items() if t >= horizon}

    def take_throttle(self, action: str) -> None:
        with self.lock:
            actions = self.throttle.get("actions")
            if int(self.throttle.get("count") or 0) > 0 and (not actions or action in actions):
                self.throttle["count"] = int(self.throttle["count"]) - 1
                code = self.throttle.get("code") or "Throttling"
                raise ApiError(400, code, "Request was denied due to request throttling.")

    # -- actions ------------------------------------------------------------------------------
    def _lb(self, params: dict) -> dict:
        lb_id = params.get("LoadBalancerId")
        if not lb_id:
            raise ApiError(
                400, "MissingLoadBalancerId", "LoadBalancerId is mandatory for this action."
            )
        lb = self.lbs.get(lb_id)
        region = params.get("RegionId")
        if lb is None or (region and region != lb["RegionId"]):
            raise ApiError(
                404,
                "InvalidLoadBalancerId.NotFound",
                "The specified LoadBalancerId does not exist.",
            )
        return lb

    def _public_servers(self, servers: list[dict], with_ip: bool = False) -> dict:
        out = []
        for s in servers:
            item = {
                "ServerId": s["ServerId"],
                "Weight": s["Weight"],
                "Type": s.get("Type", "ecs"),
                "Description": s.get("Description", ""),
            }
            if with_ip:
                addr = self.address(s["ServerId"])
                item["ServerIp"] = addr[0] if addr else ""
            out.append(item)
        return {"BackendServer": out}

    def describe_load_balancer_attribute(self, params: dict) -> dict:
        with self.lock:
            lb = self._lb(params)
            return {
                "LoadBalancerId": lb["LoadBalancerId"],
                "LoadBalancerName": lb["LoadBalancerName"],
                "LoadBalancerStatus": "active",
                "RegionId": lb["RegionId"],
                "Address": lb["Address"],
                "AddressType": "internet",
                "NetworkType": "classic",
                "ListenerPorts": {"ListenerPort": [li["port"] for li in lb["listeners"]]},
                "ListenerPortsAndProtocol": {
                    "ListenerPortAndProtocol": [
                        {"ListenerPort": li["port"], "ListenerProtocol": li["protocol"]}
                        for li in lb["listeners"]
                    ]
                },
                "BackendServers": self._public_servers(lb["servers"], with_ip=True),
            }

    def add_backend_servers(self, params: dict) -> dict:
        with self.lock:
            lb = self._lb(params)
            wanted = parse_backend_servers(params.get("BackendServers"), need_weight=True)
            attached = {s["ServerId"] for s in lb["servers"]}
            fresh = []
            for s in wanted:
                if s["ServerId"] in {f["ServerId"] for f in fresh}:
                    continue  # the API keeps the first of duplicates in one request
                if s["ServerId"] not in self.servers:
                    raise ApiError(
                        400,
                        "InvalidParameter",
                        f"The specified ServerId {s['ServerId']} does not exist.",
                    )
                if s["ServerId"] in attached:
                    raise ApiError(
                        400,
                        "InvalidParameter",
                        f"The backend server {s['ServerId']} is already attached to "
                        f"{lb['LoadBalancerId']}.",
                    )
                s.setdefault("Description", "")
                fresh.append(s)
            lb["servers"].extend(fresh)
            self.apply_data_plane(lb["LoadBalancerId"])
            return {
                "LoadBalancerId": lb["LoadBalancerId"],
                "BackendServers": self._public_servers(lb["servers"]),
            }

    def remove_backend_servers(self, params: dict) -> dict:
        with self.lock:
            lb = self._lb(params)
            wanted = parse_backend_servers(params.get("BackendServers"))
            attached = {s["ServerId"] for s in lb["servers"]}
            for s in wanted:
                if s["ServerId"] not in attached:
                    raise ApiError(
                        400,
                        "InvalidParameter",
                        f"The backend server {s['ServerId']} is not attached to "
                        f"{lb['LoadBalancerId']}.",
                    )
            gone = {s["ServerId"] for s in wanted}
            lb["servers"] = [s for s in lb["servers"] if s["ServerId"] not in gone]
            self.apply_data_plane(lb["LoadBalancerId"])
            return {
                "LoadBalancerId": lb["LoadBalancerId"],
                "BackendServers": self._public_servers(lb["servers"]),
            }

    def set_backend_servers(self, params: dict) -> dict:
        with self.lock:
            lb = self._lb(params)
            wanted = parse_backend_servers(params.get("BackendServers"))
            by_id = {s["ServerId"]: s for s in lb["servers"]}
            for s in wanted:
                if s["ServerId"] not in by_id:
                    raise ApiError(
                        400,
                        "InvalidParameter",
                        f"The backend server {s['ServerId']} is not attached to "
                        f"{lb['LoadBalancerId']}.",
                    )
            changed = []
            for s in wanted:
                target = by_id[s["ServerId"]]
                if "Weight" in s:
                    target["Weight"] = s["Weight"]
                if "Description" in s:
                    target["Description"] = s["Description"]
                changed.append(target)
            self.apply_data_plane(lb["LoadBalancerId"])
            return {
                "LoadBalancerId": lb["LoadBalancerId"],
                "BackendServers": self._public_servers(changed),
            }

    def describe_health_status(self, params: dict) -> dict:
        with self.lock:
            lb = self._lb(params)
            listeners = list(lb["listeners"])
            servers = [dict(s) for s in lb["servers"]]
        port_filter = params.get("ListenerPort")
        if port_filter:
            listeners = [li for li in listeners if str(li["port"]) == str(port_filter)]
        targets = []
        for s in servers:
            addr = self.address(s["ServerId"])
            targets.append((s, addr))
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda t: self.probe(t[1]), targets))
        rows = []
        for listener in listeners:
            for (s, addr), healthy in zip(targets, results, strict=True):
                rows.append(
                    {
                        "ListenerPort": listener["port"],
                        "Protocol": listener["protocol"],
                        "Port": addr[1] if addr else self.backend_port,
                        "ServerId": s["ServerId"],
                        "ServerIp": addr[0] if addr else "",
                        "ServerHealthStatus": "normal" if healthy else "abnormal",
                    }
                )
        return {"BackendServers": {"BackendServer": rows}}

    def probe(self, addr: tuple[str, int] | None) -> bool:
        """One real health probe: TCP connect, or HTTP GET expecting 2xx/3xx."""
        if addr is None:
            return False
        host = addr[0]
        port = int(self.health.get("port") or addr[1])
        timeout = float(self.health.get("timeout") or 2.0)
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                if self.health.get("type", "tcp") != "http":
                    return True
                sock.settimeout(timeout)
                path = self.health.get("path") or "/"
                request = f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: slb-double\r\n\r\n"
                sock.sendall(request.encode())
                data = b""
                while len(data) < 65536:  # read to the end: closing early resets the backend
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                head = data[:64].decode("latin-1", "replace")
        except OSError:
            return False
        match = re.match(r"HTTP/\d(?:\.\d)? (\d{3})", head)
        return bool(match) and 200 <= int(match.group(1)) < 400

    # -- nginx data plane ----------------------------------------------------------------------
    def render_upstream(self, lb_id: str) -> str:
        plane = self.data_plane or {}
        name = plane.get("upstream_name", "slb_backends")
        lines = [
            f"# Written by the SLB TEST DOUBLE (molecule/harness/slb_double.py): backends of "
            f"{lb_id}.",
            "# weight 0 -> down (no new requests), as SLB does with a weight of 0.",
            f"upstream {name} {{",
        ]
        count = 0
        for s in self.lbs[lb_id]["servers"]:
            addr = self.address(s["ServerId"])
            if addr is None:
                lines.append(f"    # {s['ServerId']}: no address known to the double")
                continue
            host = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
            # SLB takes a backend out only by its health checks, never for one failed request:
            # max_fails=0 keeps nginx from marking the only live backend failed during a drain.
            option = "down" if s["Weight"] == 0 else f"weight={s['Weight']} max_fails=0"
            lines.append(f"    server {host}:{addr[1]} {option};  # {s['ServerId']}")
            count += 1
        if count == 0:
            lines.append("    server 127.0.0.1:9 down;  # placeholder: the backend list is empty")
        keepalive = plane.get("keepalive")
        if keepalive:
            # Idle connections to the backends must close before the backend closes them
            # (gunicorn: keepalive 5 s), or a request sent on one as it closes is reset.
            lines.append(f"    keepalive {int(keepalive)};")
            lines.append(f"    keepalive_timeout {plane.get('keepalive_timeout', '4s')};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def apply_data_plane(self, lb_id: str, force: bool = False) -> None:
        plane = self.data_plane
        if not plane or not plane.get("upstream_file"):
            return
        if plane.get("load_balancer_id", next(iter(self.lbs), None)) != lb_id:
            return
        path = plane["upstream_file"]
        text = self.render_upstream(lb_id)
        try:
            with open(path, encoding="utf-8") as fh:
                if fh.read() == text and not force:
                    return
        except OSError:
            pass
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
        command = plane.get("reload_command")
        signame = plane.get("reload_signal")
        master = read_pid(plane.get("reload_pid_file")) if command or signame else None
        before = nginx_workers(master) if master is not None else None
        if signame:
            # Signalled here rather than by a `kill` program: minimal hosts have none (procps).
            if master is None:
                raise ApiError(500, "InternalError", "data plane reload failed: no master pid")
            try:
                os.kill(master, signal.Signals[f"SIG{signame.upper().removeprefix('SIG')}"])
            except (OSError, KeyError) as exc:
                raise ApiError(500, "InternalError", f"data plane reload failed: {exc}") from None
        elif command:
            proc = subprocess.run(
                command,
                shell=isinstance(command, str),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if proc.returncode != 0:
                raise ApiError(
                    500,
                    "InternalError",
                    f"data plane reload failed (rc={proc.returncode}): {proc.stderr.strip()[:300]}",
                )
        if before is not None:
            # "nginx -s reload" only signals the master: wait until new workers run the new
            # upstream and the old ones stopped accepting, so that the write's answer means
            # the data plane follows it (a weight-0 backend gets no new request after it).
            timeout = float(plane.get("reload_timeout", 10))
            if not wait_reloaded(master, before, timeout):
                raise ApiError(
                    500, "InternalError", f"data plane reload not done after {timeout:g}s"
                )

    # -- server certificates and HTTPS listeners -------------------------------------------------
    def _region(self, params: dict) -> str:
        region = params.get("RegionId")
        if not region:
            raise ApiError(400, "MissingRegionId", "RegionId is mandatory for this action.")
        return region

    def describe_server_certificates(self, params: dict) -> dict:
        with self.lock:
            region = self._region(params)
            wanted = params.get("ServerCertificateId")
            rows = [
                dict(c)
                for c in self.certificates
                if c["RegionId"] == region and (not wanted or c["ServerCertificateId"] == wanted)
            ]
            for row in rows:
                row.pop("PrivateKeySha256", None)
            return {"ServerCertificates": {"ServerCertificate": rows}}

    def upload_server_certificate(self, params: dict) -> dict:
        with self.lock:
            region = self._region(params)
            cert = params.get("ServerCertificate") or ""
            key = params.get("PrivateKey") or ""
            if not cert or not key:
                raise ApiError(
                    400,
                    "MissingParameter",
                    "ServerCertificate and PrivateKey are mandatory (AliCloudCertificateId is not "
                    "supported by this double).",
                )
            match = PEM_CERT_RE.search(cert)
            if not match or not PEM_KEY_RE.search(key):
                raise ApiError(
                    400,
                    "InvalidParameter",
                    "The specified ServerCertificate or PrivateKey is not valid PEM.",
                )
            try:
                der = ssl.PEM_cert_to_DER_cert(match.group(0))
            except ValueError:
                raise ApiError(
                    400, "InvalidParameter", "The specified ServerCertificate is not valid."
                ) from None
            if not key_matches(der, key):
                raise ApiError(
                    400,
                    "InvalidParameter",
                    "The specified PrivateKey does not match the ServerCertificate.",
                )
            digest = hashlib.sha1(der).hexdigest()  # SHA-1: the API's fingerprint
            name = params.get("ServerCertificateName") or ""
            now = time.time()
            entry = {
                "ServerCertificateId": f"{uuid.uuid4().hex[:16]}-{region}",
                "ServerCertificateName": name,
                "RegionId": region,
                "Fingerprint": ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
                "CreateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                "CreateTimeStamp": int(now * 1000),
                "IsAliCloudCertificate": 0,
                "PrivateKeySha256": hashlib.sha256(key.strip().encode()).hexdigest(),
            }
            self.certificates.append(entry)
            public = {k: v for k, v in entry.items() if k != "PrivateKeySha256"}
            return public

    def _certificate(self, cert_id: str | None, region: str) -> str:
        if not cert_id:
            raise ApiError(400, "MissingServerCertificateId", "ServerCertificateId is mandatory.")
        if not any(
            c["ServerCertificateId"] == cert_id and c["RegionId"] == region
            for c in self.certificates
        ):
            raise ApiError(
                400,
                "ServerCertificateId.NotFound",
                f"The specified ServerCertificateId {cert_id} does not exist.",
            )
        return cert_id

    @staticmethod
    def _port(params: dict, name: str = "ListenerPort") -> int:
        raw = params.get(name)
        try:
            port = int(str(raw))
        except ValueError:
            raise ApiError(
                400,
                "MissingParameter" if raw is None else "InvalidParameter",
                f"{name} is mandatory and must be 1 to 65535.",
            ) from None
        if not 1 <= port <= 65535:
            raise ApiError(400, "InvalidParameter", f"{name} must be 1 to 65535.")
        return port

    @staticmethod
    def _on_off(params: dict, name: str, required: bool) -> str | None:
        value = params.get(name)
        if value is None:
            if required:
                raise ApiError(400, "MissingParameter", f"{name} is mandatory for this action.")
            return None
        if value not in ("on", "off"):
            raise ApiError(400, "InvalidParameter", f"{name} must be on or off.")
        return value

    @staticmethod
    def _bandwidth(params: dict, required: bool) -> int | None:
        raw = params.get("Bandwidth")
        if raw is None:
            if required:
                raise ApiError(400, "MissingParameter", "Bandwidth is mandatory for this action.")
            return None
        try:
            value = int(str(raw))
        except ValueError:
            value = 0
        if value != -1 and not 1 <= value <= 5120:
            raise ApiError(400, "InvalidParameter", "Bandwidth must be -1 or 1 to 5120.")
        return value

    def _https_listener(self, lb: dict, port: int) -> dict:
        listener = lb["https"].get(port)
        if listener is None:
            raise ApiError(
                400,
                "InvalidParameter",
                f"The specified HTTPS listener {port} of {lb['LoadBalancerId']} does not exist.",
            )
        return listener

    def create_https_listener(self, params: dict) -> dict:
        with self.lock:
            lb = self._lb(params)
            port = self._port(params)
            if any(int(li["port"]) == port for li in lb["listeners"]):
                raise ApiError(
                    400,
                    "ListenerAlreadyExists",
                    f"A listener on port {port} of {lb['LoadBalancerId']} already exists.",
                )
            if params.get("VServerGroupId"):
                raise ApiError(400, "InvalidParameter", "VServerGroupId is not supported here.")
            listener = {
                "ListenerPort": port,
                "BackendServerPort": self._port(params, "BackendServerPort"),
                "Bandwidth": self._bandwidth(params, required=True),
                "HealthCheck": self._on_off(params, "HealthCheck", required=True),
                "HealthCheckURI": params.get("HealthCheckURI") or "/",
                "StickySession": self._on_off(params, "StickySession", required=True),
                "ServerCertificateId": self._certificate(
                    params.get("ServerCertificateId"), lb["RegionId"]
                ),
                "Scheduler": params.get("Scheduler") or "wrr",
                "XForwardedFor": params.get("XForwardedFor") or "on",
                "Status": "stopped",  # as the API: a new listener is stopped
            }
            lb["https"][port] = listener
            lb["listeners"].append({"port": port, "protocol": "https"})
            return {}

    def set_https_listener(self, params: dict) -> dict:
        with self.lock:
            lb = self._lb(params)
            listener = self._https_listener(lb, self._port(params))
            update = {}
            if params.get("ServerCertificateId") is not None:
                update["ServerCertificateId"] = self._certificate(
                    params["ServerCertificateId"], lb["RegionId"]
                )
            bandwidth = self._bandwidth(params, required=False)
            if bandwidth is not None:
                update["Bandwidth"] = bandwidth
            for name in ("HealthCheck", "StickySession"):
                value = self._on_off(params, name, required=False)
                if value is not None:
                    update[name] = value
            for name in ("HealthCheckURI", "Scheduler", "XForwardedFor"):
                if params.get(name):
                    update[name] = params[name]
            listener.update(update)
            return {}

    def describe_https_listener(self, params: dict) -> dict:
        with self.lock:
            lb = self._lb(params)
            return dict(self._https_listener(lb, self._port(params)))

    def start_listener(self, params: dict) -> dict:
        with self.lock:
            lb = self._lb(params)
            port = self._port(params)
            protocol = (params.get("ListenerProtocol") or "").lower()
            if port in lb["https"] and protocol in ("", "https"):
                lb["https"][port]["Status"] = "running"
            elif not any(int(li["port"]) == port for li in lb["listeners"]):
                raise ApiError(
                    400,
                    "InvalidParameter",
                    f"The specified listener {port} of {lb['LoadBalancerId']} does not exist.",
                )
            return {}

    # -- dispatch -----------------------------------------------------------------------------
    def dispatch(self, action: str, params: dict) -> dict:
        handler = {
            "DescribeLoadBalancerAttribute": self.describe_load_balancer_attribute,
            "AddBackendServers": self.add_backend_servers,
            "RemoveBackendServers": self.remove_backend_servers,
            "SetBackendServers": self.set_backend_servers,
            "DescribeHealthStatus": self.describe_health_status,
            "DescribeServerCertificates": self.describe_server_certificates,
            "UploadServerCertificate": self.upload_server_certificate,
            "CreateLoadBalancerHTTPSListener": self.create_https_listener,
            "SetLoadBalancerHTTPSListenerAttribute": self.set_https_listener,
            "DescribeLoadBalancerHTTPSListenerAttribute": self.describe_https_listener,
            "StartLoadBalancerListener": self.start_listener,
        }[action]
        return handler(params)

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "load_balancers": {
                    lb_id: {
                        "region_id": lb["RegionId"],
                        "backend_servers": [dict(s) for s in lb["servers"]],
                        "listeners": [dict(li) for li in lb["listeners"]],
                        "https_listeners": {str(k): dict(v) for k, v in lb["https"].items()},
                    }
                    for lb_id, lb in self.lbs.items()
                },
                "server_certificates": [dict(c) for c in self.certificates],
                "throttle": dict(self.throttle),
            }


# --------------------------------------------------------------------------------------------
# HTTP.
# --------------------------------------------------------------------------------------------


def to_xml(tag: str, value: object) -> str:
    if isinstance(value, dict):
        inner = "".join(to_xml(k, v) for k, v in value.items())
    elif isinstance(value, list):
        return "".join(to_xml(tag, v) for v in value)
    else:
        inner = xml_escape(str(value))
    return f"<{tag}>{inner}</{tag}>"


def _backend_items(params: dict) -> list[dict]:
    try:
        items = json.loads(params.get("BackendServers") or "[]")
    except ValueError:
        return []
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def server_ids_of(params: dict) -> list[str]:
    return [str(i.get("ServerId")) for i in _backend_items(params)]


def weights_of(params: dict) -> dict[str, str]:
    """The weights a call asked for, by server id (as sent: the log shows refused values too)."""
    return {
        str(i.get("ServerId")): str(i["Weight"]) for i in _backend_items(params) if "Weight" in i
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "SLB-test-double/1"
    state: SlbState  # set on the subclass by make_server

    def log_message(self, format: str, *args: object) -> None:
        if os.environ.get("SLB_DOUBLE_VERBOSE"):
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self.handle_any()

    def do_POST(self) -> None:
        self.handle_any()

    def send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, doc: object) -> None:
        self.send(status, json.dumps(doc).encode("utf-8"), "application/json;charset=utf-8")

    def handle_control(self, path: str, body: bytes) -> None:
        state = self.state
        if path == "/_double/ready":
            self.send_json(200, {"ready": True})
        elif path == "/_double/state":
            self.send_json(200, state.snapshot())
        elif path == "/_double/calls":
            with state.lock:
                self.send_json(200, list(state.calls))
        elif path == "/_double/throttle" and self.command == "POST":
            doc = json.loads(body or b"{}")
            with state.lock:
                state.throttle = {
                    "count": int(doc.get("count", 0)),
                    "actions": doc.get("actions"),
                    "code": doc.get("code") or "Throttling",
                }
            self.send_json(200, state.snapshot()["throttle"])
        else:
            self.send_json(404, {"error": "unknown control path"})

    def handle_any(self) -> None:
        state = self.state
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path.startswith("/_double/"):
            self.handle_control(url.path, body)
            return
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        query_pairs = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        params = dict(query_pairs)
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if body and content_type == "application/x-www-form-urlencoded":
            params.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        action = (headers.get("x-acs-action") or [params.get("Action", "")])[0]
        version = (headers.get("x-acs-version") or [params.get("Version", "")])[0]
        want_xml = params.get("Format", "").upper() == "XML"
        request_id = str(uuid.uuid4()).upper()
        entry = {
            "time": time.time(),
            "request_id": request_id,
            "action": action,
            "write": action in WRITE_ACTIONS,
            "load_balancer_id": params.get("LoadBalancerId"),
            "server_ids": server_ids_of(params),
            "weights": weights_of(params),
            # Never the PrivateKey or the certificate's text: what a test needs to tell calls apart.
            "listener_port": params.get("ListenerPort"),
            "server_certificate_id": params.get("ServerCertificateId"),
            "access_key_id": None,
        }
        try:
            entry["access_key_id"] = verify_signature(
                self.command,
                url.path,
                query_pairs,
                headers,
                body,
                state.access_keys,
                max_skew=state.max_skew,
            )
            state.remember_nonce(headers["x-acs-signature-nonce"][0])
            if version != API_VERSION or action not in READ_ACTIONS | WRITE_ACTIONS:
                raise ApiError(
                    404,
                    "InvalidAction.NotFound",
                    "Specified api is not found, please check your url and method.",
                )
            state.take_throttle(action)
            result = {"RequestId": request_id, **state.dispatch(action, params)}
            status, code = 200, None
        except ApiError as err:
            status, code = err.status, err.code
            result = {
                "RequestId": request_id,
                "HostId": HOST_ID,
                "Code": err.code,
                "Message": err.message,
                "Recommend": f"https://api.aliyun.com/troubleshoot?q={err.code}",
            }
        entry.update({"status": status, "code": code, "ok": status == 200, "done": time.time()})
        state.log_call(entry)
        if want_xml:
            root = f"{action}Response" if status == 200 else "Error"
            xml = '<?xml version="1.0" encoding="UTF-8"?>' + to_xml(root, result)
            self.send(status, xml.encode("utf-8"), "text/xml;charset=utf-8")
        else:
            self.send_json(status, result)


def make_server(config: dict, listen: str) -> tuple[ThreadingHTTPServer, SlbState]:
    host, _, port = listen.rpartition(":")
    state = SlbState(config)
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), handler)
    server.daemon_threads = True
    plane = state.data_plane or {}
    if plane.get("upstream_file") and plane.get("apply_on_start", True) and state.lbs:
        state.apply_data_plane(plane.get("load_balancer_id", next(iter(state.lbs))), force=True)
    return server, state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="SLB 2014-05-15 API test double (not Alibaba Cloud)."
    )
    parser.add_argument(
        "--listen", default="127.0.0.1:8088", help="HOST:PORT (port 0: any free port)"
    )
    parser.add_argument("--config", required=True, help="JSON config file")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        config = json.load(fh)
    server, _ = make_server(config, args.listen)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
