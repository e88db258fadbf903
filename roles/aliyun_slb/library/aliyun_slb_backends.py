#!/usr/bin/python
"""Ansible module: manage the backend servers of an Alibaba Cloud classic load balancer (SLB)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aliyun_slb_backends
short_description: Make an Alibaba Cloud SLB's managed backend servers match a list
description:
  - Manages the default backend server list of an existing classic load balancer (SLB, API
    version 2014-05-15) through Alibaba Cloud's official Python SDK (C(alibabacloud_slb20140515)).
  - Only backend servers whose C(Description) equals O(managed_description) are managed; they are
    added, re-weighted and removed as needed. Servers without that marker (added by someone else)
    are never changed or removed.
  - With O(state=present) the managed set is made equal to O(backends). With O(state=weight) the
    weight of one managed server (O(server_id)) is set to O(weight), which is how a node is drained
    (weight 0) and restored.
  - Writes go in batches of at most 20 servers per API call. C(Throttling*) errors are retried with
    a bounded exponential backoff; any other API error fails the task with the API's code and
    message.
  - Credentials are explicit access keys only. The SDK's default credential chain is never used
    (it would query the ECS metadata service); the module sets
    C(ALIBABA_CLOUD_ECS_METADATA_DISABLED=true) in its own environment and fails before any network
    call when a key is missing.
  - Supports check mode (reads only, reports the planned change) and diff mode.
options:
  load_balancer_id:
    description: ID of the existing SLB instance, for example C(lb-bp1xxxxxxxx).
    type: str
    required: true
  region:
    description: Region ID of the SLB instance, for example C(cn-hangzhou).
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
  state:
    description:
      - V(present) makes the managed backend servers equal O(backends).
      - V(weight) sets the weight of the one managed server O(server_id) to O(weight).
    type: str
    choices: [present, weight]
    default: present
  backends:
    description: Wanted managed backend servers (for O(state=present)). An empty list removes all
      managed servers.
    type: list
    elements: dict
    suboptions:
      server_id:
        description: ECS instance ID.
        type: str
        required: true
      weight:
        description: Weight, 0 to 100. 0 sends no new requests to the server.
        type: int
        default: 100
  managed_description:
    description:
      - Marker written to the C(Description) of every server this module adds; only servers carrying
        it are ever changed or removed.
      - 1 to 80 characters of letters, digits, C(-), C(/), C(.) and C(_) (the API's rule).
    type: str
    default: managed-by-ansible
  server_id:
    description: ECS instance ID whose weight to set (for O(state=weight)).
    type: str
  weight:
    description: Weight to set, 0 to 100 (for O(state=weight)).
    type: int
  wait_health:
    description:
      - When V(normal), after the change wait until DescribeHealthStatus reports every affected
        server with a weight above 0 as C(normal) on all listeners (O(state=weight)) or every
        managed server with a weight above 0 (O(state=present)). Not done in check mode.
    type: str
    choices: [normal]
  wait_timeout:
    description: Seconds to wait for O(wait_health) before failing.
    type: int
    default: 300
  wait_interval:
    description: Seconds between two DescribeHealthStatus calls while waiting.
    type: float
    default: 5
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
  - Runs on the controller (delegate to localhost).
"""

EXAMPLES = r"""
- name: Make the SLB's managed backends equal the app nodes
  aliyun_slb_backends:
    load_balancer_id: lb-bp1exampleexample
    region: cn-hangzhou
    access_key_id: "{{ vault_aliyun_access_key_id }}"
    access_key_secret: "{{ vault_aliyun_access_key_secret }}"
    backends:
      - server_id: i-bp1aaaaaaaaaaaaaaaaa
        weight: 100
      - server_id: i-bp1bbbbbbbbbbbbbbbbb
        weight: 50
  delegate_to: localhost
  no_log: true

- name: Drain one node
  aliyun_slb_backends:
    load_balancer_id: lb-bp1exampleexample
    region: cn-hangzhou
    state: weight
    server_id: i-bp1aaaaaaaaaaaaaaaaa
    weight: 0
  delegate_to: localhost
  no_log: true
"""

RETURN = r"""
added:
  description: Servers added (or, in check mode, that would be added).
  returned: always
  type: list
  elements: dict
  sample: [{"server_id": "i-bp1aaa", "weight": 100}]
removed:
  description: Managed servers removed (or that would be).
  returned: always
  type: list
  elements: dict
updated:
  description: Managed servers whose weight changed (or would), with C(before) and C(weight).
  returned: always
  type: list
  elements: dict
  sample: [{"server_id": "i-bp1aaa", "before": 100, "weight": 0}]
unmanaged:
  description: Wanted servers that are attached without the marker; they were left as they are.
  returned: always
  type: list
  elements: str
backends:
  description: All backend servers of the SLB after the change (predicted in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{"server_id": "i-bp1aaa", "weight": 100, "description": "managed-by-ansible",
            "managed": true}]
health:
  description: Last DescribeHealthStatus answer per server when O(wait_health) was used.
  returned: when waited
  type: dict
throttle_retries:
  description: How many throttled calls were retried.
  returned: always
  type: int
"""

import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.aliyun_slb_api import (  # noqa: E402
    SDK_IMPORT_ERROR,  # noqa: F401 (the tests read it here)
    ApiFailure,
    SlbCalls,
    connection_spec,
    slb_models,
)
from ansible.module_utils.basic import AnsibleModule  # noqa: E402

BATCH_SIZE = 20
DESCRIPTION_RE = re.compile(r"^[A-Za-z0-9\-/._]{1,80}$")


class SlbApi(SlbCalls):
    """The five SLB actions, with retries on throttling and batching of writes."""

    def describe(self) -> list[dict]:
        request = slb_models.DescribeLoadBalancerAttributeRequest(
            load_balancer_id=self.load_balancer_id, region_id=self.region
        )
        body = self.call(
            "DescribeLoadBalancerAttribute", "describe_load_balancer_attribute", request
        )
        servers = (body.get("BackendServers") or {}).get("BackendServer") or []
        return [
            {
                "server_id": s.get("ServerId"),
                "weight": int(s.get("Weight", 100)),
                "description": s.get("Description") or "",
                "type": s.get("Type") or "ecs",
            }
            for s in servers
        ]

    def _write(self, action: str, method: str, request_class: type, entries: list[dict]) -> None:
        for start in range(0, len(entries), BATCH_SIZE):
            batch = entries[start : start + BATCH_SIZE]
            request = request_class(
                load_balancer_id=self.load_balancer_id,
                region_id=self.region,
                backend_servers=json.dumps(batch, separators=(",", ":")),
            )
            self.call(action, method, request, write=True)

    @staticmethod
    def _entries(servers: list[dict], marker: str) -> list[dict]:
        """Backend entries as the API takes them, each carrying the managed marker."""
        return [
            {
                "ServerId": s["server_id"],
                "Weight": str(s["weight"]),
                "Type": "ecs",
                "Description": marker,
            }
            for s in servers
        ]

    def add(self, servers: list[dict], marker: str) -> None:
        self._write(
            "AddBackendServers",
            "add_backend_servers",
            slb_models.AddBackendServersRequest,
            self._entries(servers, marker),
        )

    def set_weights(self, servers: list[dict], marker: str) -> None:
        self._write(
            "SetBackendServers",
            "set_backend_servers",
            slb_models.SetBackendServersRequest,
            self._entries(servers, marker),
        )

    def remove(self, servers: list[dict]) -> None:
        entries = [
            {"ServerId": s["server_id"], "Type": s.get("type") or "ecs", "Weight": str(s["weight"])}
            for s in servers
        ]
        self._write(
            "RemoveBackendServers",
            "remove_backend_servers",
            slb_models.RemoveBackendServersRequest,
            entries,
        )

    def health(self) -> dict[str, list[str]]:
        request = slb_models.DescribeHealthStatusRequest(
            load_balancer_id=self.load_balancer_id, region_id=self.region
        )
        body = self.call("DescribeHealthStatus", "describe_health_status", request)
        rows = (body.get("BackendServers") or {}).get("BackendServer") or []
        status: dict[str, list[str]] = {}
        for row in rows:
            status.setdefault(row.get("ServerId"), []).append(row.get("ServerHealthStatus"))
        return status


def plan_present(current: list[dict], desired: list[dict], marker: str) -> dict:
    """What to add, update and remove so that the managed servers equal ``desired``."""
    by_id = {s["server_id"]: s for s in current}
    wanted_ids = {d["server_id"] for d in desired}
    add, update, unmanaged = [], [], []
    for want in desired:
        have = by_id.get(want["server_id"])
        if have is None:
            add.append({"server_id": want["server_id"], "weight": want["weight"]})
        elif have["description"] != marker:
            unmanaged.append(want["server_id"])
        elif have["weight"] != want["weight"]:
            update.append(
                {"server_id": want["server_id"], "before": have["weight"], "weight": want["weight"]}
            )
    remove = [
        {"server_id": s["server_id"], "weight": s["weight"], "type": s["type"]}
        for s in current
        if s["description"] == marker and s["server_id"] not in wanted_ids
    ]
    return {"add": add, "update": update, "remove": remove, "unmanaged": unmanaged}


def predict(current: list[dict], plan: dict, marker: str) -> list[dict]:
    """The backend list after applying ``plan`` to ``current``."""
    gone = {r["server_id"] for r in plan["remove"]}
    weights = {u["server_id"]: u["weight"] for u in plan["update"]}
    after = [
        dict(s, weight=weights.get(s["server_id"], s["weight"]))
        for s in current
        if s["server_id"] not in gone
    ]
    after += [
        {"server_id": a["server_id"], "weight": a["weight"], "description": marker, "type": "ecs"}
        for a in plan["add"]
    ]
    return after


def public(servers: list[dict], marker: str) -> list[dict]:
    return [
        {
            "server_id": s["server_id"],
            "weight": s["weight"],
            "description": s["description"],
            "managed": s["description"] == marker,
        }
        for s in sorted(servers, key=lambda s: s["server_id"])
    ]


def diff_text(servers: list[dict], marker: str) -> str:
    lines = []
    for s in sorted(servers, key=lambda s: s["server_id"]):
        owner = (
            "managed" if s["description"] == marker else f"unmanaged ({s['description'] or '-'})"
        )
        lines.append(f"{s['server_id']} weight={s['weight']} {owner}")
    return "\n".join(lines) + ("\n" if lines else "")


def wait_for_health(
    api: SlbApi, server_ids: list[str], timeout: float, interval: float
) -> tuple[bool, dict[str, list[str]]]:
    deadline = time.monotonic() + timeout
    while True:
        status = api.health()
        seen = {sid: status.get(sid, []) for sid in server_ids}
        if all(v and all(x == "normal" for x in v) for v in seen.values()):
            return True, seen
        if time.monotonic() >= deadline:
            return False, seen
        api.sleep(interval)


def validate(module: AnsibleModule) -> None:
    p = module.params
    if not DESCRIPTION_RE.match(p["managed_description"] or ""):
        module.fail_json(
            msg="managed_description must be 1 to 80 letters, digits, '-', '/', '.' or '_' "
            f"(the API's rule for Description); got {p['managed_description']!r}"
        )
    if p["state"] == "present":
        seen = set()
        for backend in p["backends"]:
            if backend["server_id"] in seen:
                module.fail_json(
                    msg=f"server_id {backend['server_id']} is listed twice in backends"
                )
            seen.add(backend["server_id"])
            if not 0 <= backend["weight"] <= 100:
                module.fail_json(msg=f"weight of {backend['server_id']} must be 0 to 100")
    elif not 0 <= p["weight"] <= 100:
        module.fail_json(msg="weight must be 0 to 100")


def run(module: AnsibleModule, api: SlbApi) -> dict:
    """Do the work; return the result dict (raises ApiFailure on an API error)."""
    p = module.params
    marker = p["managed_description"]
    result: dict = {"changed": False, "added": [], "removed": [], "updated": [], "unmanaged": []}
    current = api.describe()
    if p["state"] == "present":
        desired = [{"server_id": b["server_id"], "weight": b["weight"]} for b in p["backends"]]
        plan = plan_present(current, desired, marker)
    else:
        have = {s["server_id"]: s for s in current}.get(p["server_id"])
        if have is None:
            raise ApiFailure(
                "plan",
                "ServerNotAttached",
                f"server {p['server_id']} is not a backend server of {p['load_balancer_id']}",
                None,
            )
        if have["description"] != marker:
            raise ApiFailure(
                "plan",
                "ServerNotManaged",
                f"server {p['server_id']} is attached without the marker {marker!r}; "
                "not changing it",
                None,
            )
        plan = {"add": [], "update": [], "remove": [], "unmanaged": []}
        if have["weight"] != p["weight"]:
            plan["update"] = [
                {"server_id": p["server_id"], "before": have["weight"], "weight": p["weight"]}
            ]
    result.update(
        added=plan["add"],
        removed=plan["remove"],
        updated=plan["update"],
        unmanaged=plan["unmanaged"],
    )
    changed = bool(plan["add"] or plan["update"] or plan["remove"])
    after = predict(current, plan, marker)
    if changed and not module.check_mode:
        api.add(plan["add"], marker)
        api.set_weights(plan["update"], marker)
        api.remove(plan["remove"])
        after = api.describe()
    result["changed"] = changed
    result["backends"] = public(after, marker)
    if module._diff:
        result["diff"] = {
            "before_header": f"{p['load_balancer_id']} backend servers",
            "after_header": f"{p['load_balancer_id']} backend servers",
            "before": diff_text(current, marker),
            "after": diff_text(after, marker),
        }
    if p["wait_health"] == "normal" and not module.check_mode:
        if p["state"] == "weight":
            targets = [p["server_id"]] if p["weight"] > 0 else []
        else:
            targets = [
                s["server_id"] for s in after if s["description"] == marker and s["weight"] > 0
            ]
        if targets:
            ok, seen = wait_for_health(api, targets, p["wait_timeout"], p["wait_interval"])
            result["health"] = seen
            if not ok:
                raise ApiFailure(
                    "DescribeHealthStatus",
                    "HealthTimeout",
                    f"servers not all 'normal' after {p['wait_timeout']}s: "
                    + json.dumps(seen, sort_keys=True),
                    None,
                )
    result["throttle_retries"] = api.throttle_retries
    return result


def argument_spec() -> dict:
    return connection_spec() | {
        "state": {"type": "str", "choices": ["present", "weight"], "default": "present"},
        "backends": {
            "type": "list",
            "elements": "dict",
            "options": {
                "server_id": {"type": "str", "required": True},
                "weight": {"type": "int", "default": 100},
            },
        },
        "managed_description": {"type": "str", "default": "managed-by-ansible"},
        "server_id": {"type": "str"},
        "weight": {"type": "int"},
        "wait_health": {"type": "str", "choices": ["normal"]},
        "wait_timeout": {"type": "int", "default": 300},
        "wait_interval": {"type": "float", "default": 5},
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[
            ("state", "present", ["backends"]),
            ("state", "weight", ["server_id", "weight"]),
        ],
        supports_check_mode=True,
    )
    validate(module)
    api = SlbApi.from_module(module, "ansible-aliyun_slb_backends")
    try:
        result = run(module, api)
    except ApiFailure as failure:
        module.fail_json(
            msg=(
                f"{failure.action} failed: {failure.code}: {failure.message}"
                + (f" (RequestId {failure.request_id})" if failure.request_id else "")
            ),
            error_code=failure.code,
            error_message=failure.message,
            request_id=failure.request_id,
            changed=bool(api.writes),
            throttle_retries=api.throttle_retries,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
