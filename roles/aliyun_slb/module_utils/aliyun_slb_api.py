"""What the role's SLB modules share: the official SDK's client, the credentials and endpoint
options, and the API calls with retries on throttling and a plain error."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

# Never let the SDK's credential chain reach for the ECS metadata service.
os.environ.update(ALIBABA_CLOUD_ECS_METADATA_DISABLED="true")

try:
    from alibabacloud_slb20140515 import models as slb_models
    from alibabacloud_slb20140515.client import Client as SlbClient

    try:
        from alibabacloud_tea_openapi.utils_models import Config as OpenApiConfig
    except ImportError:  # alibabacloud_tea_openapi < 0.4
        from alibabacloud_tea_openapi.models import Config as OpenApiConfig
    SDK_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without the SDK
    slb_models = None
    SDK_IMPORT_ERROR = exc

MAX_BACKOFF = 30.0


class ApiFailure(Exception):
    """An API call that failed for good: action, code, message, request id."""

    def __init__(self, action: str, code: str | None, message: str, request_id: str | None) -> None:
        super().__init__(f"{action} failed: {code}: {message}")
        self.action = action
        self.code = code
        self.message = message
        self.request_id = request_id


def error_details(err: Exception) -> tuple[str | None, str, str | None]:
    """The API's code, plain message and request id from an SDK exception."""
    code = getattr(err, "code", None)
    data = getattr(err, "data", None)
    message = None
    request_id = getattr(err, "request_id", None)
    if isinstance(data, dict):
        message = data.get("Message") or data.get("message")
        request_id = data.get("RequestId") or request_id
    if not message:
        message = getattr(err, "message", None) or str(err)
    if code in ("None", ""):
        code = None
    return code, str(message), request_id


class SlbCalls:
    """One load balancer's API calls, retried with a bounded backoff when throttled; the
    actions that changed something are kept in ``writes``."""

    def __init__(
        self,
        client: object,
        load_balancer_id: str,
        region: str,
        max_retries: int = 5,
        retry_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.load_balancer_id = load_balancer_id
        self.region = region
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.sleep = sleep
        self.throttle_retries = 0
        self.writes: list[str] = []

    @classmethod
    def from_module(cls, module: AnsibleModule, user_agent: str) -> SlbCalls:
        p = module.params
        return cls(
            make_client(module, user_agent),
            p["load_balancer_id"],
            p["region"],
            p["max_retries"],
            p["retry_delay"],
        )

    def call(self, action: str, method: str, request: object, write: bool = False) -> dict:
        attempt = 0
        while True:
            try:
                response = getattr(self.client, method)(request)
                if write:
                    self.writes.append(action)
                return response.body.to_map()
            except Exception as err:  # the SDK raises several unrelated classes
                code, message, request_id = error_details(err)
                if code and code.startswith("Throttling") and attempt < self.max_retries:
                    self.sleep(min(self.retry_delay * (2**attempt), MAX_BACKOFF))
                    attempt += 1
                    self.throttle_retries += 1
                    continue
                raise ApiFailure(action, code, message, request_id) from err


def connection_spec() -> dict:
    """The options every module of the role takes: which SLB, where, with which keys."""
    return {
        "load_balancer_id": {"type": "str", "required": True},
        "region": {"type": "str", "required": True},
        "endpoint": {"type": "str", "default": "slb.aliyuncs.com"},
        "protocol": {"type": "str", "choices": ["https", "http"], "default": "https"},
        "access_key_id": {
            "type": "str",
            "no_log": True,
            "fallback": (env_fallback, ["ALIBABA_CLOUD_ACCESS_KEY_ID"]),
        },
        "access_key_secret": {
            "type": "str",
            "no_log": True,
            "fallback": (env_fallback, ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]),
        },
        "max_retries": {"type": "int", "default": 5},
        "retry_delay": {"type": "float", "default": 1},
        "api_timeout": {"type": "int", "default": 10},
    }


def make_client(module: AnsibleModule, user_agent: str) -> object:
    p = module.params
    if not p["access_key_id"] or not p["access_key_secret"]:
        module.fail_json(
            msg="Alibaba Cloud access keys are missing: set access_key_id and access_key_secret "
            "(or ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET). "
            "The SDK's default credential chain is deliberately not used."
        )
    if SDK_IMPORT_ERROR is not None:
        module.fail_json(
            msg=missing_required_lib("alibabacloud_slb20140515"), exception=str(SDK_IMPORT_ERROR)
        )
    timeout_ms = int(p["api_timeout"]) * 1000
    config = OpenApiConfig(
        access_key_id=p["access_key_id"],
        access_key_secret=p["access_key_secret"],
        region_id=p["region"],
        endpoint=p["endpoint"],
        protocol=p["protocol"],
        connect_timeout=timeout_ms,
        read_timeout=timeout_ms,
        user_agent=user_agent,
    )
    return SlbClient(config)
